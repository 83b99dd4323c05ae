"""wsgate's build: pure Python, or with its message path compiled by mypyc.

Everything about the package is in pyproject.toml; this file only adds the compiled modules
when ``WSGATE_COMPILE=1``. They are the ones each message runs through (routing, the event,
the function call, the answer, its report); the rest stays Python. A compiled build needs
mypy (which brings mypyc) and a C compiler where it is built, so it is built without
isolation, in an environment that has mypy:

    WSGATE_COMPILE=1 pip install --no-build-isolation .

What it changes is measured in docs/performance.md ("Compiled with mypyc").
"""

from __future__ import annotations

import os

from setuptools import setup

# The message path. Handshakes gain nothing from compiling their own modules (measured), so
# those stay Python.
COMPILED = [
    "src/wsgate/types.py",
    "src/wsgate/core/events.py",
    "src/wsgate/core/frames.py",
    "src/wsgate/core/ids.py",
    "src/wsgate/core/outcomes.py",
    "src/wsgate/core/responses.py",
    "src/wsgate/core/routing.py",
    "src/wsgate/core/session.py",
    "src/wsgate/integrations/base.py",
    "src/wsgate/integrations/function.py",
    "src/wsgate/integrations/lambda_context.py",
    "src/wsgate/server/invocation.py",
    "src/wsgate/server/messages.py",
    "src/wsgate/server/outbound.py",
    "src/wsgate/server/reporting.py",
    "src/wsgate/server/stamps.py",
]


def _extensions() -> list[object]:
    if os.environ.get("WSGATE_COMPILE") != "1":
        return []
    from mypyc.build import mypycify  # only a compiled build needs mypy

    return list(mypycify(COMPILED, opt_level="3"))


if __name__ == "__main__":  # as setuptools runs it; scripts/test-compiled reads COMPILED
    setup(ext_modules=_extensions())

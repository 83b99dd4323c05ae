"""Hypothesis profiles for the fuzz tests: ``ci`` (the default) and ``long``.

``ci`` keeps the whole fuzz suite to a few seconds and is derandomized, so a red run replays
exactly; finding new inputs is the long campaign's job (``scripts/fuzz``). Choose another
profile with ``WSGATE_FUZZ_PROFILE=long`` (``WSGATE_FUZZ_EXAMPLES`` sets its examples per test).
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE", "load"]

PROFILE: Final = os.environ.get("WSGATE_FUZZ_PROFILE", "ci")

# A 2-core CI machine runs other suites at the same time: wall-clock deadlines would flake, so
# time is bounded per input by the long campaign's -timeout and by pytest's per-test timeout.
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("WSGATE_FUZZ_EXAMPLES", "1000000")),
    deadline=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)


def load(name: str | None = None) -> None:
    """Make ``name`` the active profile; by default the one ``WSGATE_FUZZ_PROFILE`` names."""
    settings.load_profile(name or PROFILE)

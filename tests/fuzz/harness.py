"""The atheris harness: coverage-guided fuzzing of one target's Hypothesis properties.

Each target is a fuzz test module; libFuzzer's bytes feed its ``@given`` tests through
Hypothesis's ``fuzz_one_input``, so the long run checks exactly the properties the test suite
checks, on inputs chosen by coverage of wsgate's code. The first byte picks the test.

Usage: ``python -m tests.fuzz.harness TARGET [libFuzzer options]`` (``scripts/fuzz`` wraps it).
A crash prints the failing test's inputs and leaves ``crash-*`` holding the bytes; run the
harness again with that file as its only argument to replay it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Final

import atheris

from tests.fuzz import profiles

__all__ = ["TARGETS", "main", "properties"]

TARGETS: Final = (
    "routing",
    "templates",
    "mapping",
    "config",
    "management",
    "sigv4",
    "authorizer",
    "replies",
    "frames",
    "events",
)


def properties(module: ModuleType) -> list[Callable[[bytes], object]]:
    """The ``fuzz_one_input`` of every Hypothesis test in ``module``, in source order."""
    tests = [
        getattr(module, name)
        for name in dir(module)
        if name.startswith("test_") and hasattr(getattr(module, name), "hypothesis")
    ]
    tests.sort(key=lambda test: test.hypothesis.inner_test.__code__.co_firstlineno)
    return [test.hypothesis.fuzz_one_input for test in tests]


def main(argv: list[str]) -> None:
    """Fuzz the target named by ``argv[1]``; the rest of ``argv`` goes to libFuzzer."""
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.harness {{{','.join(TARGETS)}}} [libFuzzer args]")
    profiles.load("long")  # its example database keeps each failure for pytest to replay
    # Only wsgate's own code is instrumented: coverage of the libraries would drown its edges.
    with atheris.instrument_imports(include=["wsgate"]):
        module = importlib.import_module(f"tests.fuzz.test_{argv[1]}")
    tests = properties(module)

    def one_input(data: bytes) -> None:
        if data:
            tests[data[0] % len(tests)](data[1:])

    atheris.Setup([argv[0], *argv[2:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

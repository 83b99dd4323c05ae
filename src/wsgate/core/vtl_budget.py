"""The work budget of one rendering: :class:`RenderBudget`, its counters, bounded output.

Also :class:`RenderFailure`, the error every refusal inside a rendering raises (a work limit, a
method a template may not call, a bad input); the other ``vtl`` modules raise it too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_LOOP_ITERATIONS",
    "MAX_MACRO_DEPTH",
    "MAX_OUTPUT_BYTES",
    "MAX_RENDER_ITERATIONS",
    "MAX_RENDER_SECONDS",
    "RenderBudget",
    "RenderFailure",
]


# Not in errors.py's tree: raised inside airspeed, and turned into TemplateError by core.templates.
class RenderFailure(Exception):
    """A template function refused its input; the message is meant for the API owner."""


# AWS quota "Number of iterations in a #foreach ... #end loop in mapping templates: 1000"
# (API Gateway developer guide, quotas for REST APIs; WebSocket templates run the same engine).
MAX_LOOP_ITERATIONS: Final = 1000
# Ours: AWS bounds each loop, not their product. 100 full loops is more than a 128 KB message
# holds values to visit, and 100,000 bare iterations take well under the time bound.
MAX_RENDER_ITERATIONS: Final = 100_000
# AWS's payload quota for REST and HTTP APIs (10 MB), the most API Gateway carries anywhere;
# WebSocket messages stop at 128 KB, so no real template builds a string near it.
MAX_OUTPUT_BYTES: Final = 10 * 1024 * 1024
# Velocity's default velocimacro.max.depth (20); it also keeps recursion off Python's stack limit.
MAX_MACRO_DEPTH: Final = 20
# Ours: the AWS PetStore transform over a 1000-item body renders in ~30 ms here; 0.5 s leaves
# slow machines 15x headroom while bounding how long one message can hold the event loop.
MAX_RENDER_SECONDS: Final = 0.5

_LIMIT: Final = "template work limit: "


@dataclass(frozen=True, slots=True)
class RenderBudget:
    """How much work one rendering may do; past a bound it fails with a reason.

    ``clock`` returns monotonic seconds; without one there is no time bound, since the core
    reads no clock of its own (the integration passes ``time.monotonic``).
    """

    max_loop_iterations: int = MAX_LOOP_ITERATIONS
    max_iterations: int = MAX_RENDER_ITERATIONS
    max_output_bytes: int = MAX_OUTPUT_BYTES
    max_macro_depth: int = MAX_MACRO_DEPTH
    max_seconds: float = MAX_RENDER_SECONDS
    clock: Callable[[], float] | None = None


class _Work:
    """What one rendering has spent so far, checked against its budget."""

    __slots__ = ("budget", "clock", "deadline", "depth", "steps")

    def __init__(self, budget: RenderBudget) -> None:
        self.budget = budget
        self.clock = budget.clock
        self.deadline = 0.0 if self.clock is None else self.clock() + budget.max_seconds
        self.steps = 0
        self.depth = 0

    def step(self, what: str) -> None:
        self.steps += 1
        if self.steps > self.budget.max_iterations:
            raise RenderFailure(f"{_LIMIT}more than {self.budget.max_iterations} {what}")
        self.check_time()

    def check_time(self) -> None:
        if self.clock is not None and self.clock() > self.deadline:
            raise RenderFailure(f"{_LIMIT}more than {self.budget.max_seconds:g} s")

    def seconds_left(self) -> float | None:
        """What is left of the time bound (at least a millisecond); None without a clock."""
        if self.clock is None:
            return None
        return max(0.001, self.deadline - self.clock())

    def check_size(self, size: int, what: str) -> None:
        if size > self.budget.max_output_bytes:
            raise RenderFailure(f"{_LIMIT}{what} over {self.budget.max_output_bytes} bytes")

    def enter(self) -> None:
        """A macro or ``#define`` block starts."""
        self.step("loop iterations and macro calls")
        self.depth += 1
        if self.depth > self.budget.max_macro_depth:
            limit = self.budget.max_macro_depth
            raise RenderFailure(f"{_LIMIT}macros nested more than {limit} deep")


# airspeed calls our hooks with fixed signatures (an operator gets only its operands), so the
# rendering's counters travel beside the call stack; render() sets and always resets them.
_WORK: ContextVar[_Work] = ContextVar("wsgate_template_work")


class _Output:
    """Text being written (the output, or a string a template builds), bounded as it grows."""

    __slots__ = ("_parts", "_size", "_what", "_work", "stop")

    def __init__(self, work: _Work, what: str) -> None:
        self._work = work
        self._what = what
        self._parts: list[str] = []
        self._size = 0
        self.stop = False  # airspeed's #stop sets it

    def write(self, text: str) -> None:
        if self.stop:
            return
        self._size += _utf8_size(text)
        self._work.check_size(self._size, self._what)
        self._work.check_time()
        self._parts.append(text)

    def getvalue(self) -> str:
        return "".join(self._parts)


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))

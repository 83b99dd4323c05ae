"""Throttling and quotas (§9.2 and §6.5 of the AWS reference), with time as an argument.

- :class:`TokenBucket` is API Gateway's throttle: ``rate`` tokens a second refill a bucket of
  ``burst`` tokens; a request takes one; an empty bucket means 429. Time is monotonic seconds.
- :class:`KeyedLimiter` holds one bucket per key (connection, principal, route, API key) and
  keeps at most ``max_keys`` of them.
- :class:`Quota` counts requests per key in calendar periods (UTC day, ISO week, month) as usage
  plans do; time is epoch milliseconds, since periods follow the calendar, not a monotonic clock.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from datetime import date
from typing import Final, Generic, Literal, TypeVar

__all__ = [
    "KeyedLimiter",
    "Period",
    "Quota",
    "TokenBucket",
    "period_end",
    "period_start",
]

K = TypeVar("K", bound=Hashable)
Period = Literal["DAY", "WEEK", "MONTH"]

# Refills are sums of float products; a bucket within this many tokens of a whole one is taken to
# hold it, so that 10 rps sampled every 0.1 s never refuses for want of 1e-16 of a token.
_EPSILON: Final = 1e-9
_DAY_MS: Final = 86_400_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_PERIODS: Final = ("DAY", "WEEK", "MONTH")


def _check_rate(rate_per_second: float, burst: int) -> None:
    if not (math.isfinite(rate_per_second) and rate_per_second >= 0):
        raise ValueError(f"rate must be a finite number >= 0, got {rate_per_second}")
    if burst < 0:
        raise ValueError(f"burst must be >= 0, got {burst}")


class TokenBucket:
    """A token bucket that starts full.

    ``take(now)`` refills ``rate_per_second`` tokens for every second since the last call (never
    above ``burst``), then takes the tokens asked for if the bucket holds them. So ``burst``
    requests may arrive at once, and ``rate_per_second`` a second on average after that. A
    request for more than ``burst`` tokens never succeeds, hence ``burst`` 0 refuses everything
    (as AWS does with a burst limit of 0), and ``rate`` 0 allows ``burst`` requests in all. A
    clock that goes backwards refills nothing.
    """

    __slots__ = ("_tokens", "_updated", "burst", "rate")

    def __init__(self, rate_per_second: float, burst: int) -> None:
        _check_rate(rate_per_second, burst)
        self.rate = rate_per_second
        self.burst = burst
        self._tokens = float(burst)
        self._updated: float | None = None

    def available(self, now: float) -> float:
        """How many tokens the bucket holds at ``now``."""
        self._refill(now)
        return self._tokens

    def take(self, now: float, tokens: float = 1) -> bool:
        """Take ``tokens`` at ``now`` (monotonic seconds) if the bucket has them."""
        if tokens <= 0:
            raise ValueError(f"tokens must be > 0, got {tokens}")
        self._refill(now)
        if self._tokens + _EPSILON < tokens:
            return False
        self._tokens = max(0.0, self._tokens - tokens)
        return True

    def _refill(self, now: float) -> None:
        if self._updated is None:
            self._updated = now
            return
        elapsed = now - self._updated
        if elapsed <= 0:
            return
        self._updated = now
        tokens = self._tokens + elapsed * self.rate
        self._tokens = float(self.burst) if tokens + _EPSILON >= self.burst else tokens


class KeyedLimiter(Generic[K]):
    """One :class:`TokenBucket` per key, all with the same rate and burst, at most ``max_keys``.

    A key seen for the first time gets a full bucket. When ``max_keys`` buckets exist, the one
    used least recently is dropped: it has been idle longest, so it is the likeliest to have
    refilled, and dropping a full bucket loses nothing. :meth:`prune` drops every full bucket.
    """

    def __init__(self, rate_per_second: float, burst: int, max_keys: int = 10_000) -> None:
        _check_rate(rate_per_second, burst)
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self.rate = rate_per_second
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[K, TokenBucket] = {}  # least recently used first

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: K, now: float, tokens: float = 1) -> bool:
        """Take ``tokens`` from ``key``'s bucket at ``now`` (monotonic seconds)."""
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                del self._buckets[next(iter(self._buckets))]
            bucket = TokenBucket(self.rate, self.burst)
        self._buckets[key] = bucket
        return bucket.take(now, tokens)

    def prune(self, now: float) -> int:
        """Drop the buckets that are full at ``now``; return how many were dropped."""
        full = [key for key, bucket in self._buckets.items() if bucket.available(now) >= self.burst]
        for key in full:
            del self._buckets[key]
        return len(full)


def period_start(period: Period, now_ms: int) -> int:
    """Epoch ms at which the UTC period holding ``now_ms`` began.

    Days start at 00:00 UTC, weeks on Monday (ISO 8601), months on the 1st.
    """
    day = now_ms // _DAY_MS
    if period == "DAY":
        return day * _DAY_MS
    if period == "WEEK":
        return (day - (day + 3) % 7) * _DAY_MS  # 1970-01-01 was a Thursday
    today = date.fromordinal(_EPOCH_ORDINAL + day)
    return _epoch_ms(today.replace(day=1))


def period_end(period: Period, now_ms: int) -> int:
    """Epoch ms at which the next period begins (when a quota resets)."""
    start = period_start(period, now_ms)
    if period == "DAY":
        return start + _DAY_MS
    if period == "WEEK":
        return start + 7 * _DAY_MS
    first = date.fromordinal(_EPOCH_ORDINAL + start // _DAY_MS)
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    return _epoch_ms(date(year, month, 1))


def _epoch_ms(day: date) -> int:
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY_MS


class Quota(Generic[K]):
    """At most ``limit`` requests per key in each calendar ``period`` (UTC), as usage plans count.

    Counts are exact integers. Keys are not evicted, as that would hand back spent quota;
    :meth:`prune` forgets keys whose counts belong to an earlier period.
    """

    def __init__(self, limit: int, period: Period) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if period not in _PERIODS:
            raise ValueError(f"period must be one of {', '.join(_PERIODS)}, got {period!r}")
        self.limit = limit
        self.period: Period = period
        self._used: dict[K, tuple[int, int]] = {}  # key -> (period start ms, requests)

    def __len__(self) -> int:
        return len(self._used)

    def take(self, key: K, now_ms: int) -> bool:
        """Count one request of ``key`` at ``now_ms`` if the quota allows it."""
        start, used = self._current(key, now_ms)
        if used >= self.limit:
            return False
        self._used[key] = (start, used + 1)
        return True

    def remaining(self, key: K, now_ms: int) -> int:
        """How many requests ``key`` may still make in the period holding ``now_ms``."""
        return self.limit - self._current(key, now_ms)[1]

    def prune(self, now_ms: int) -> int:
        """Forget keys with no request in the current period; return how many."""
        start = period_start(self.period, now_ms)
        stale = [key for key, (began, _) in self._used.items() if began < start]
        for key in stale:
            del self._used[key]
        return len(stale)

    def _current(self, key: K, now_ms: int) -> tuple[int, int]:
        start = period_start(self.period, now_ms)
        began, used = self._used.get(key, (start, 0))
        # A new period starts from zero; a clock stepping back stays in the period it counted.
        return (start, 0) if start > began else (began, used)

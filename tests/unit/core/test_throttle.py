"""Token buckets, keyed limiters and usage-plan quotas (§9.2, §6.5 of the AWS reference)."""

from __future__ import annotations

import calendar
import math

import pytest

from wsgate.core.throttle import KeyedLimiter, Quota, TokenBucket, period_end, period_start


def _ms(*when):
    """Epoch ms of a UTC (year, month, day[, hour, minute, second])."""
    return calendar.timegm((*when, *(0,) * (6 - len(when)))) * 1000


def _takes(bucket, times, tokens=1):
    return [bucket.take(now, tokens) for now in times]


# --- token bucket -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "burst", "times", "granted"),
    [
        # Starts full: a burst at once, then refused.
        (1, 3, [0, 0, 0, 0], [True, True, True, False]),
        # Refills at the rate: one token a second.
        (1, 2, [0, 0, 0.5, 0.999, 1.0, 1.5, 2.0], [True, True, False, False, True, False, True]),
        # Never above the burst, however long the bucket idles.
        (10, 2, [0, 0, 100, 100, 100], [True, True, True, True, False]),
        # Rate 0: the burst, then nothing ever again.
        (0, 2, [0, 1, 1000, 1e9], [True, True, False, False]),
        # Burst 0: nothing, whatever the rate.
        (0, 0, [0, 1, 100], [False, False, False]),
        (100, 0, [0, 1, 100], [False, False, False]),
        # Fractional rates.
        (0.5, 1, [0, 1, 1.999, 2], [True, False, False, True]),
        # A clock stepping back refills nothing, and forward again counts from the latest time.
        (1, 1, [10, 5, 10.5, 11], [True, False, False, True]),
        # The first call starts the clock, whatever its value.
        (1, 1, [-50, -50, -49], [True, False, True]),
    ],
)
def test_token_bucket(rate, burst, times, granted):
    assert _takes(TokenBucket(rate, burst), times) == granted


@pytest.mark.parametrize(
    ("rate", "burst", "calls", "granted"),
    [
        ((5, 5), None, [(0, 3), (0, 3), (0, 2)], [True, False, True]),
        ((5, 5), None, [(0, 6)], [False]),  # more than the burst never fits
        ((5, 5), None, [(0, 5), (0.5, 2.5), (0.5, 0.1)], [True, True, False]),
    ],
)
def test_token_bucket_takes_several_tokens(rate, burst, calls, granted):
    bucket = TokenBucket(*rate)
    assert [bucket.take(now, tokens) for now, tokens in calls] == granted


def test_available():
    bucket = TokenBucket(2, 4)
    assert bucket.available(0) == 4
    assert bucket.take(0, 3)
    assert bucket.available(0) == 1
    assert bucket.available(0.25) == 1.5
    assert bucket.available(10) == 4


@pytest.mark.parametrize(("rate", "interval"), [(10, 0.1), (3, 1 / 3), (7, 1 / 7), (1000, 0.001)])
def test_no_drift_at_exactly_the_rate(rate, interval):
    # One request per interval, forever: all must pass, though k * interval is inexact.
    bucket = TokenBucket(rate, 1)
    assert all(bucket.take(k * interval) for k in range(5000))
    accumulated = TokenBucket(rate, 1)
    now = 0.0
    for _ in range(5000):
        assert accumulated.take(now)
        now += interval  # the sum drifts from k * interval; the bucket must not care


@pytest.mark.parametrize(("rate", "polls_per_second"), [(7, 100), (3, 10), (0.1, 1000), (13, 256)])
def test_long_run_rate_is_exact(rate, polls_per_second):
    # Polling for 100 s with a burst of 2, so that refills never hit the cap (with burst 1 the
    # token that arrives between two polls would be capped, and the excess lost): the full
    # bucket's 2 plus 100 * rate refilled tokens, to the last one.
    bucket = TokenBucket(rate, 2)
    polls = range(100 * polls_per_second + 1)
    assert sum(bucket.take(k / polls_per_second) for k in polls) == 2 + round(100 * rate)
    assert bucket.available(100) < 1


def test_the_burst_caps_what_idle_time_earns():
    # Burst 1: every token arriving while the bucket is already full is lost.
    bucket = TokenBucket(7, 1)
    assert sum(bucket.take(k / 100) for k in range(10_001)) == 667


def test_a_refilled_bucket_is_exactly_full():
    bucket = TokenBucket(10, 3)
    assert bucket.take(0, 3)
    assert bucket.available(0.1 + 0.2) == 3.0  # 0.30000000000000004 s * 10 = 3.0000000000000004


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [
        (-1, 1, "rate must be a finite number >= 0, got -1"),
        (math.nan, 1, "rate must be a finite number >= 0, got nan"),
        (math.inf, 1, "rate must be a finite number >= 0, got inf"),
        (1, -1, "burst must be >= 0, got -1"),
    ],
)
def test_bucket_arguments(rate, burst, message):
    with pytest.raises(ValueError, match=message):
        TokenBucket(rate, burst)
    with pytest.raises(ValueError, match=message):
        KeyedLimiter(rate, burst)


@pytest.mark.parametrize("tokens", [0, -1])
def test_take_needs_a_positive_count(tokens):
    with pytest.raises(ValueError, match=f"tokens must be > 0, got {tokens}"):
        TokenBucket(1, 1).take(0, tokens)


# --- keyed limiter ----------------------------------------------------------------------------


def test_keyed_limiter_keeps_a_bucket_per_key():
    limiter: KeyedLimiter[str] = KeyedLimiter(1, 2)
    assert [limiter.take("a", 0) for _ in range(3)] == [True, True, False]
    assert [limiter.take("b", 0) for _ in range(3)] == [True, True, False]
    assert limiter.take("a", 1)
    assert not limiter.take("a", 1)
    assert limiter.take(("route", "b"), 1, tokens=2)  # type: ignore[arg-type]
    assert len(limiter) == 3


def test_keyed_limiter_evicts_the_least_recently_used():
    limiter: KeyedLimiter[str] = KeyedLimiter(0, 1, max_keys=2)
    assert limiter.take("a", 0)
    assert limiter.take("b", 0)
    assert not limiter.take("a", 0)  # "a" is now the most recent
    assert limiter.take("c", 0)  # evicts "b"
    assert len(limiter) == 2
    assert not limiter.take("a", 0)  # kept, still empty
    assert limiter.take("b", 0)  # a fresh bucket; evicts "c"
    assert not limiter.take("a", 0)
    assert limiter.take("c", 0)


def test_keyed_limiter_prune_drops_full_buckets():
    limiter: KeyedLimiter[str] = KeyedLimiter(1, 2, max_keys=10)
    limiter.take("drained", 0, tokens=2)
    limiter.take("half", 0)
    limiter.take("idle", 0)
    limiter.take("idle", 0)
    assert limiter.prune(0) == 0
    assert limiter.prune(1) == 1  # "half" has refilled, the others hold 1
    assert len(limiter) == 2
    assert limiter.prune(2) == 2
    assert len(limiter) == 0


def test_keyed_limiter_needs_room():
    with pytest.raises(ValueError, match="max_keys must be >= 1, got 0"):
        KeyedLimiter(1, 1, max_keys=0)


# --- quota periods ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("DAY", _ms(2024, 2, 9, 18, 23, 27), _ms(2024, 2, 9), _ms(2024, 2, 10)),
        ("DAY", _ms(2024, 2, 9), _ms(2024, 2, 9), _ms(2024, 2, 10)),
        ("DAY", _ms(2024, 2, 9) - 1, _ms(2024, 2, 8), _ms(2024, 2, 9)),
        ("DAY", 0, 0, _ms(1970, 1, 2)),
        ("DAY", -1, _ms(1969, 12, 31), 0),
        # Weeks start on Monday (2024-02-05 was one).
        ("WEEK", _ms(2024, 2, 9, 12), _ms(2024, 2, 5), _ms(2024, 2, 12)),
        ("WEEK", _ms(2024, 2, 5), _ms(2024, 2, 5), _ms(2024, 2, 12)),
        ("WEEK", _ms(2024, 2, 5) - 1, _ms(2024, 1, 29), _ms(2024, 2, 5)),
        ("WEEK", _ms(2024, 2, 11, 23, 59, 59), _ms(2024, 2, 5), _ms(2024, 2, 12)),
        ("WEEK", _ms(2024, 12, 31), _ms(2024, 12, 30), _ms(2025, 1, 6)),
        ("WEEK", 0, _ms(1969, 12, 29), _ms(1970, 1, 5)),  # 1970-01-01 was a Thursday
        ("MONTH", _ms(2024, 2, 9, 18), _ms(2024, 2, 1), _ms(2024, 3, 1)),
        ("MONTH", _ms(2024, 2, 29, 23, 59, 59), _ms(2024, 2, 1), _ms(2024, 3, 1)),
        ("MONTH", _ms(2023, 2, 28), _ms(2023, 2, 1), _ms(2023, 3, 1)),
        ("MONTH", _ms(2024, 12, 31, 23, 59, 59), _ms(2024, 12, 1), _ms(2025, 1, 1)),
        ("MONTH", _ms(2025, 1, 1), _ms(2025, 1, 1), _ms(2025, 2, 1)),
        ("MONTH", _ms(2025, 1, 1) - 1, _ms(2024, 12, 1), _ms(2025, 1, 1)),
        ("MONTH", _ms(2038, 1, 19, 3, 14, 8), _ms(2038, 1, 1), _ms(2038, 2, 1)),
    ],
)
def test_period_bounds(period, now, start, end):
    assert period_start(period, now) == start
    assert period_end(period, now) == end
    assert start <= now < end


# --- quota ------------------------------------------------------------------------------------


def test_quota_counts_up_to_the_limit():
    quota: Quota[str] = Quota(3, "DAY")
    now = _ms(2024, 2, 9, 12)
    assert quota.remaining("key", now) == 3
    assert [quota.take("key", now) for _ in range(4)] == [True, True, True, False]
    assert quota.remaining("key", now) == 0
    assert quota.remaining("other", now) == 3
    assert quota.take("other", now)
    assert len(quota) == 2


@pytest.mark.parametrize(
    ("period", "last", "next_start"),
    [
        ("DAY", _ms(2024, 2, 9, 23, 59, 59) + 999, _ms(2024, 2, 10)),
        ("WEEK", _ms(2024, 2, 12) - 1, _ms(2024, 2, 12)),
        ("MONTH", _ms(2024, 3, 1) - 1, _ms(2024, 3, 1)),
        ("MONTH", _ms(2025, 1, 1) - 1, _ms(2025, 1, 1)),
    ],
)
def test_quota_rolls_over_at_the_period_boundary(period, last, next_start):
    quota: Quota[str] = Quota(2, period)
    assert quota.take("key", last - 1000)
    assert quota.take("key", last)
    assert not quota.take("key", last)
    assert quota.remaining("key", last) == 0
    assert quota.remaining("key", next_start) == 2
    assert quota.take("key", next_start)
    assert quota.remaining("key", next_start) == 1


def test_quota_keeps_counting_when_the_clock_steps_back():
    quota: Quota[str] = Quota(2, "DAY")
    assert quota.take("key", _ms(2024, 2, 10))
    assert quota.take("key", _ms(2024, 2, 9, 23))  # an earlier day: still counted on the 10th
    assert not quota.take("key", _ms(2024, 2, 10, 1))
    assert quota.remaining("key", _ms(2024, 2, 9)) == 0


def test_quota_of_zero_refuses_everything():
    quota: Quota[str] = Quota(0, "MONTH")
    assert not quota.take("key", 0)
    assert quota.remaining("key", 0) == 0
    assert len(quota) == 0


def test_quota_prune_forgets_earlier_periods():
    quota: Quota[str] = Quota(5, "DAY")
    quota.take("old", _ms(2024, 2, 8, 12))
    quota.take("new", _ms(2024, 2, 9, 1))
    assert quota.prune(_ms(2024, 2, 9, 12)) == 1
    assert len(quota) == 1
    assert quota.remaining("new", _ms(2024, 2, 9, 12)) == 4
    assert quota.prune(_ms(2024, 2, 10)) == 1
    assert len(quota) == 0


@pytest.mark.parametrize(
    ("limit", "period", "message"),
    [
        (-1, "DAY", "limit must be >= 0, got -1"),
        (1, "YEAR", "period must be one of DAY, WEEK, MONTH, got 'YEAR'"),
        (1, "day", "period must be one of DAY, WEEK, MONTH, got 'day'"),
    ],
)
def test_quota_arguments(limit, period, message):
    with pytest.raises(ValueError, match=message):
        Quota(limit, period)

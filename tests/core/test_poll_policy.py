"""`PollPolicy`: a plain, seedable backoff formula, and `of()` without a magic timeout."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from finetune_kit._core.poll import DEFAULT_TIMEOUT, PollPolicy


def test_the_same_seed_gives_the_same_delays() -> None:
    """`rng=random.Random(7)`: the exact delays of every run; another seed, other delays."""
    first = PollPolicy(rng=random.Random(7))
    again = PollPolicy(rng=random.Random(7))
    delays = [first.backoff(n) for n in range(1, 7)]
    assert delays == [again.backoff(n) for n in range(1, 7)]
    draws = random.Random(7)
    assert delays == [base + draws.random() for base in (5.0, 10.0, 20.0, 40.0, 60.0, 60.0)]
    assert delays == pytest.approx([5.3238, 10.1508, 20.6509, 40.0724, 60.5359, 60.3657], abs=1e-4)
    other = PollPolicy(rng=random.Random(8))
    assert [other.backoff(n) for n in range(1, 7)] != delays


def test_delays_stay_within_the_documented_bounds() -> None:
    """`min(maximum, initial * 2 ** (n - 1))` plus `[0, jitter]`, whatever the draw."""
    policy = PollPolicy(initial=2.0, maximum=50.0, jitter=3.0, rng=random.Random(0))
    for n in range(1, 200):
        base = min(50.0, 2.0 * 2 ** min(n - 1, 1000))
        assert base <= policy.backoff(n) <= base + 3.0


def test_no_jitter_gives_the_exact_formula_even_for_huge_attempt_numbers() -> None:
    """Exact delays without jitter; an attempt number past any float's range is `maximum`."""
    policy = PollPolicy(initial=1.5, maximum=90.0, jitter=0.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1.5, 3, 6, 12, 24, 48, 90]
    assert policy.backoff(10_000) == 90.0


def test_the_seed_does_not_change_what_a_policy_equals() -> None:
    """Two policies differing only in their random source are equal (and `of()` is the default)."""
    assert PollPolicy(rng=random.Random(1)) == PollPolicy() == PollPolicy.of()


def test_of_takes_the_default_timeout_when_none_is_given() -> None:
    """Left out: a day (`DEFAULT_TIMEOUT`); None: no limit; seconds or a timedelta as given."""
    assert PollPolicy.of().timeout == DEFAULT_TIMEOUT == 86400.0
    assert PollPolicy.of(timeout=None).timeout is None
    assert PollPolicy.of(timeout=timedelta(minutes=2)).timeout == 120.0
    assert PollPolicy.of(poll=30, timeout=600).interval == 30.0


def test_of_still_reads_minus_one_as_the_default_but_says_it_is_deprecated() -> None:
    """The old magic `timeout=-1.0` keeps working, with a `DeprecationWarning`."""
    with pytest.warns(DeprecationWarning, match="leave timeout out for the default"):
        policy = PollPolicy.of(timeout=-1.0)
    assert policy == PollPolicy()

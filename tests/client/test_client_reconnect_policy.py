"""The backoff policy, with a seeded random source."""

from __future__ import annotations

import random

import pytest

from socketeer.client.reconnect import Backoff


def test_no_randomisation_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial=1.0, maximum=5.0, randomization_factor=0.0)
    assert [backoff.duration() for _ in range(6)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert backoff.attempts == 6
    backoff.reset()
    assert backoff.attempts == 0 and backoff.duration() == 1.0


def test_jitter_follows_the_official_formula() -> None:
    draws = iter([0.25, 0.15, 0.99])
    backoff = Backoff(initial=1.0, maximum=100.0, randomization_factor=0.5, random=lambda: next(draws))
    # 1000 ms, r=0.25: floor(2.5)=2 is even -> minus floor(0.25*0.5*1000)=125
    assert backoff.duration() == 0.875
    # 2000 ms, r=0.15: floor(1.5)=1 is odd -> plus floor(0.15*0.5*2000)=150
    assert backoff.duration() == 2.15
    # 4000 ms, r=0.99: floor(9.9)=9 is odd -> plus 1980
    assert backoff.duration() == 5.98


def test_seeded_delays_stay_within_bounds_and_are_reproducible() -> None:
    def run(seed: int) -> list[float]:
        backoff = Backoff(
            initial=0.5, maximum=8.0, randomization_factor=0.5, random=random.Random(seed).random
        )
        return [backoff.duration() for _ in range(12)]

    delays = run(1234)
    assert delays == run(1234)
    assert delays != run(4321)
    for attempt, delay in enumerate(delays):
        base = 0.5 * 2**attempt
        assert min(base * 0.5, 8.0) - 0.001 <= delay <= min(base * 1.5, 8.0)
    assert delays[-1] == 8.0


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(initial=1.0, maximum=5.0, random=random.Random(0).random)
    backoff.attempts = 5000
    assert backoff.duration() == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": -1.0}, {"randomization_factor": 1.5}, {"factor": 0.5}],
)
def test_invalid_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)

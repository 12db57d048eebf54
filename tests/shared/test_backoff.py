from __future__ import annotations

import math

import pytest

from shared.backoff import Backoff


def test_backoff_delay_doubles_from_base_to_cap() -> None:
    backoff = Backoff(0.5, cap_s=4.0)

    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_delay_base_above_cap_is_the_cap() -> None:
    assert Backoff(0.2, cap_s=0.1).delay(1) == 0.1


def test_backoff_delay_without_cap_grows_by_factor() -> None:
    backoff = Backoff(0.25, factor=3.0)

    assert [backoff.delay(n) for n in (1, 2, 3)] == [0.25, 0.75, 2.25]


def test_backoff_delay_zero_or_negative_failures_is_base() -> None:
    backoff = Backoff(1.0, cap_s=60.0)

    assert backoff.delay(0) == backoff.delay(-3) == 1.0


def test_backoff_delay_long_outage_stays_at_cap_without_overflow() -> None:
    assert Backoff(1.0, cap_s=300.0).delay(100_000) == 300.0
    assert Backoff(1.0).delay(2_000) == math.inf


def test_backoff_jitter_takes_off_at_most_its_fraction() -> None:
    draws = iter([0.0, 0.5, 1.0])
    backoff = Backoff(2.0, cap_s=8.0, jitter=0.5, random=lambda: next(draws))

    assert [backoff.delay(3) for _ in range(3)] == [8.0, 6.0, 4.0]


def test_backoff_zero_base_never_waits() -> None:
    assert Backoff(0.0, cap_s=1.0).delay(5) == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_s": -1.0},
        {"base_s": 1.0, "cap_s": -1.0},
        {"base_s": 1.0, "factor": 0.5},
        {"base_s": 1.0, "jitter": 1.5},
    ],
)
def test_backoff_invalid_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)

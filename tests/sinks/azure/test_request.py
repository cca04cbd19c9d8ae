"""The pieces of the retry decision that need no server: Retry-After parsing, back-off."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from edgewatch.sinks.azure.request import Backoff, parse_retry_after


@pytest.mark.parametrize(
    ("headers", "expect"),
    [
        ({"Retry-After": "17"}, 17.0),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], expect: float | None) -> None:
    assert parse_retry_after(headers) == expect


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after({"Retry-After": formatdate(now + 30, usegmt=True)}, now=now) == 30
    assert parse_retry_after({"Retry-After": formatdate(now - 30, usegmt=True)}, now=now) == 0


def test_backoff_doubles_with_equal_jitter_up_to_the_cap_and_resets() -> None:
    low = Backoff(1.0, 10.0, rand=lambda: 0.0)
    high = Backoff(1.0, 10.0, rand=lambda: 1.0)
    assert [low.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert [high.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    low.reset()
    assert low.next() == 0.5


def test_backoff_survives_a_very_long_outage() -> None:
    b = Backoff(1.0, 60.0)
    for _ in range(10_000):
        assert b.next() <= 60.0

"""Realistic events per gadget, and what Log Analytics accepts for each column type."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any, ClassVar

import msgspec

from edgewatch.decode.decoder import LineDecoder
from edgewatch.events import GADGETS, Event, TcpEvent
from edgewatch.simulate import ALL_GADGETS, generate
from tests.conftest import GADGET_FILES, ig_lines

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
#: What the converters write: UTC, seven fractional digits.
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")


def conforms(value: Any, typ: str) -> bool:
    """Would a column of this Log Analytics type take ``value`` as sent? (null always fits)"""
    if value is None:
        return True
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "int":
        return type(value) is int and INT32[0] <= value <= INT32[1]
    if typ == "long":
        return type(value) is int and INT64[0] <= value <= INT64[1]
    if typ == "real":
        return isinstance(value, float)
    if typ == "dynamic":
        return isinstance(value, (list, dict))
    if typ == "datetime":
        if not isinstance(value, str) or not DATETIME.match(value):
            return False
        datetime.fromisoformat(value[:26] + "+00:00")
        return True
    raise AssertionError(f"unknown column type {typ}")


@cache
def simulated() -> tuple[Event, ...]:
    """A simulated cluster with every gadget and every attack scenario.

    IG leaves ``k8s.node`` empty on host processes; the agent's decoder fills in the node
    it runs on, and so does this.
    """
    events = generate(6000, seed=11, gadgets=ALL_GADGETS, scenarios=["all"], node_names=True)
    return tuple(e if e.node else msgspec.structs.replace(e, node="edge-node-01") for e in events)


@cache
def from_fixtures() -> tuple[Event, ...]:
    """IG's own example lines, decoded; ``node`` filled as the agent's decoder does."""
    out: list[Event] = []
    for gadget in GADGET_FILES:
        decoded = LineDecoder(node="edge-node-07").decode(ig_lines(gadget))
        assert not decoded.rejects
        out.extend(decoded.events)
    return tuple(out)


def by_family(events: tuple[Event, ...]) -> dict[str, list[Event]]:
    groups: dict[str, list[Event]] = {g.family: [] for g in GADGETS}
    for ev in events:
        groups[ev.gadget_family].append(ev)
    return groups


def every_event() -> tuple[Event, ...]:
    return simulated() + from_fixtures()


class AggregatedTcp(TcpEvent, tag="tcp-aggregated"):
    """What an aggregating stage could emit: a tcp event standing for several."""

    gadget_family: ClassVar[str] = "tcp"

    event_count: int = 1
    event_start_ns: int = 0
    event_end_ns: int = 0

"""Property tests: decoders never crash, and every path agrees on what an event means."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgewatch.decode.decoder import LineDecoder
from edgewatch.decode.generic import event_from_dict
from edgewatch.decode.plan import CONTEXT_COLUMNS
from edgewatch.events import BY_FAMILY, GADGETS
from edgewatch.events.base import Event, Layout
from edgewatch.events.render import to_ig_json
from tests.conftest import all_ig_lines

KNOWN_REASONS = {
    "invalid_json",
    "not_an_object",
    "unknown_gadget",
    "invalid_cri",
    "invalid_envelope",
    "incomplete_partial",
    "oversized_line",
}

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
word = st.text(
    st.characters(blacklist_categories=("Cs", "Zs", "Cc"), blacklist_characters=",\u00a0"),
    min_size=1,
    max_size=20,
)
integer = st.integers(-(2**63), 2**64 - 1)


def _value(name: str, typ: Any) -> st.SearchStrategy[Any]:
    if name == "time_ns":
        return st.integers(1, 2**63 - 1)
    if name in ("args", "addresses"):
        return st.lists(word, max_size=5)
    if typ is bool:
        return st.booleans()
    if typ is int:
        return integer
    return text


@st.composite
def events(draw: st.DrawFn) -> Event:
    spec = draw(st.sampled_from(GADGETS))
    # Fields IG never prints (edgewatch's own enrichment and aggregation) keep defaults.
    printed = spec.column_paths()
    values = {
        f.name: draw(_value(f.name, f.type))
        for f in msgspec.structs.fields(spec.event)
        if f.name in printed
    }
    # IG's contract: a container id names one container, whose Kubernetes and runtime
    # context is the same on all its events. Random contexts get their own ids.
    if values["container_id"]:
        context = tuple(values[c] for c in CONTEXT_COLUMNS if c != "container_id")
        values["container_id"] = f"{values['container_id']}-{hash(context) & 0xFFFFFFFF:x}"
    ev = spec.event(**values)
    if spec.finish is not None:
        spec.finish(ev)
    return ev


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=400), max_size=20))
def test_arbitrary_bytes_never_crash(lines: list[bytes]) -> None:
    dec = LineDecoder()
    result = dec.decode(lines)
    result.extend(dec.flush())
    assert {r.reason for r in result.rejects} <= KNOWN_REASONS
    assert len(result.events) == len(result.raws)


REAL_LINES = [line for _, line in all_ig_lines()]


@st.composite
def mutated_real_line(draw: st.DrawFn) -> bytes:
    """A real IG line with a few bytes replaced: reaches the deep paths random bytes miss."""
    line = bytearray(draw(st.sampled_from(REAL_LINES)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(line) - 1))
        line[at : at + 1] = draw(st.binary(min_size=0, max_size=3))
    return bytes(line)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_real_line(), min_size=1, max_size=8))
def test_corrupted_real_lines_are_events_or_rejects(lines: list[bytes]) -> None:
    dec = LineDecoder()
    result = dec.decode(lines)
    result.extend(dec.flush())
    assert {r.reason for r in result.rejects} <= KNOWN_REASONS
    assert len(result.events) == len(result.raws)
    assert len(result.events) + len(result.rejects) + result.skipped.total() == len(lines)


json_values = st.recursive(
    st.none() | st.booleans() | integer | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_never_crashes(value: Any) -> None:
    line = msgspec.json.encode(value)
    for prefix in (b"", b"2025-06-18T09:12:44.123456789Z stdout F "):
        result = LineDecoder().decode([prefix + line])
        assert {r.reason for r in result.rejects} <= KNOWN_REASONS


IG_OBJECTS = [(fam, json.loads(line)) for fam, line in all_ig_lines()]


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _leaves(v, (*path, k))] or [path]
    return [path]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(IG_OBJECTS) - 1), st.randoms(use_true_random=False), json_values)
def test_ig_objects_with_a_corrupted_value_still_decode_or_are_rejected(
    index: int, rnd: random.Random, value: Any
) -> None:
    family, obj = IG_OBJECTS[index]
    obj = json.loads(json.dumps(obj))
    path = rnd.choice(_leaves(obj))
    node = obj
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    result = LineDecoder().decode([json.dumps(obj).encode()])
    assert len(result.events) + len(result.rejects) == 1
    if result.events and path[-1] not in BY_FAMILY[family].markers:
        assert result.events[0].gadget_family == family


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=8))
def test_render_then_decode_round_trips(evs: list[Event]) -> None:
    lines = [to_ig_json(ev) for ev in evs]
    assert LineDecoder().decode(lines).events == evs
    # the generic (dict) decoder, the authority behind the fast path, agrees
    for ev, line in zip(evs, lines, strict=True):
        spec = BY_FAMILY[ev.gadget_family]
        assert event_from_dict(spec, Layout.CURRENT, json.loads(line)) == ev


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=5), st.data())
def test_cri_split_anywhere_round_trips(evs: list[Event], data: st.DataObject) -> None:
    lines = []
    for ev in evs:
        line = to_ig_json(ev)
        cuts = sorted(
            data.draw(st.lists(st.integers(1, max(1, len(line) - 1)), max_size=3, unique=True))
        )
        pieces = [line[a:b] for a, b in zip([0, *cuts], [*cuts, len(line)], strict=True)]
        for i, piece in enumerate(pieces):
            tag = b"F" if i == len(pieces) - 1 else b"P"
            lines.append(b"2025-06-18T09:12:44.123456789Z stdout " + tag + b" " + piece)
    assert LineDecoder().decode(lines).events == evs


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=5))
def test_flat_layout_agrees_on_the_columns_it_carries(evs: list[Event]) -> None:
    decoded = LineDecoder().decode([to_ig_json(ev, Layout.FLAT) for ev in evs]).events
    assert len(decoded) == len(evs)
    for ev, flat in zip(evs, decoded, strict=True):
        assert type(flat) is type(ev)
        for column, path in BY_FAMILY[ev.gadget_family].column_paths().items():
            if path.path(Layout.FLAT) is not None:
                assert getattr(flat, column) == getattr(ev, column), column

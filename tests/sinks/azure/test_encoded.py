"""Records encoded once: the layouts' JSON, and delivery of it without re-encoding.

The agent keeps each record's JSON in the disk buffer and sends those bytes as they are,
so the bytes must be exactly what the record dicts encode to, and everything the
transport does with records (chunking, bisection on a 400, owing records after a 429,
dead-lettering) must work on the bytes and hand back the same bytes.
"""

from __future__ import annotations

import gzip
from collections import Counter

import msgspec
import pytest

from edgewatch.events import CapabilitiesEvent
from edgewatch.events.base import Event
from edgewatch.sinks.azure import AzureDelivery
from edgewatch.sinks.azure.batch import (
    API_MAX_REQUEST_BYTES,
    Batcher,
    Limits,
)
from edgewatch.sinks.azure.batch import (
    gzip as gzip_body,
)
from edgewatch.sinks.azure.delivery import buffer_items
from edgewatch.sinks.azure.outcome import INVALID_RECORD, RECORD_TOO_LARGE
from edgewatch.tables import LAYOUTS
from tests.fake_azure import FakeAzure, Fault
from tests.sinks.azure.conftest import DCR, STREAM, records, seqs
from tests.tables.helpers import AggregatedTcp, every_event

encode = msgspec.json.Encoder().encode


def corner_events() -> list[Event]:
    """Events that take the converters' less common branches."""
    return [
        AggregatedTcp(
            time_ns=1_750_000_000_000_000_000,
            event_count=7,
            event_start_ns=1_750_000_000_000_000_000,
            event_end_ns=1_750_000_060_000_000_000,
        ),
        CapabilitiesEvent(time_ns=1_750_000_000_000_000_000, syscall_raw=2**64 - 1),
        CapabilitiesEvent(time_ns=999_999_999, syscall_raw=5),  # before a second boundary
    ]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_encoded_records_are_exactly_the_records_json(layout: str) -> None:
    events = [*every_event(), *corner_events()]
    lay = LAYOUTS[layout]
    expected = {s: [encode(r) for r in recs] for s, recs in lay.records(events).items()}
    assert lay.encoded(events) == expected
    assert sum(map(len, expected.values())) == len(events)
    assert lay.encoded([]) == {}


def test_buffer_items_carry_the_stream_then_the_json() -> None:
    events = list(every_event())
    items = buffer_items(LAYOUTS["custom"], events)
    assert len(items) == len(events)
    for item in items:
        stream, _, record = item.partition(b"\n")
        assert stream.decode().startswith("Custom-EdgeWatch")
        assert isinstance(msgspec.json.decode(record), dict)


def encoded_records(n: int, **kw: int) -> list[bytes]:
    return [encode(r) for r in records(n, **kw)]


def test_plan_encoded_joins_the_bytes_as_they_are() -> None:
    parts = encoded_records(9000, pad=40)
    plan = Batcher().plan_encoded(parts)
    assert not plan.rejected and len(plan.chunks) > 2
    sent: list[bytes] = []
    for chunk in plan.chunks:
        raw = gzip.decompress(chunk.body)  # the standard library reads ISA-L's output
        assert raw == b"[" + b",".join(chunk.records) + b"]"
        assert len(chunk.body) <= Limits().max_request_bytes
        assert chunk.raw_bytes == len(raw) <= API_MAX_REQUEST_BYTES
        sent.extend(chunk.records)
    assert sent == parts


def test_plan_encoded_sets_an_oversized_record_aside_as_its_bytes() -> None:
    parts = encoded_records(10)
    big = encode({"Seq": 4, "Note": "y" * API_MAX_REQUEST_BYTES})
    parts[4] = big
    plan = Batcher().plan_encoded(parts)
    assert [r.reason for r in plan.rejected] == [RECORD_TOO_LARGE]
    assert list(plan.rejected[0].records) == [big]
    assert [r for c in plan.chunks for r in c.records] == parts[:4] + parts[5:]


@pytest.mark.parametrize("level", [1, 2, 3, 4, 6, 9])
def test_every_gzip_level_makes_a_standard_gzip_member(level: int) -> None:
    raw = b"[" + b",".join(encoded_records(500)) + b"]"
    body = gzip_body(raw, level)
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body) == raw


def test_a_400_isolates_the_bad_record_and_returns_its_bytes(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    parts = encoded_records(3000)
    fake.reject_records(lambda r: r.get("Seq") == 1234)
    out = delivery.send_encoded(STREAM, parts)
    assert out.retry is None and out.delivered == 2999
    assert [(r.reason, list(r.records)) for r in out.rejected] == [(INVALID_RECORD, [parts[1234]])]
    got = Counter(seqs(fake.rows(DCR, STREAM)))
    assert sorted(got) == [i for i in range(3000) if i != 1234] and max(got.values()) == 1


def test_a_throttle_mid_batch_owes_exactly_the_unsent_bytes(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    parts = encoded_records(6000, pad=200)
    fake.inject(Fault.slow(0), Fault.throttle(0.01))  # the second request is throttled
    out = delivery.send_encoded(STREAM, parts)
    assert out.retry is not None and out.retry.reason == "throttled"
    owed = list(out.retry.records)
    assert out.delivered + len(owed) == len(parts)
    assert owed == parts[out.delivered :]
    again = delivery.send_encoded(STREAM, owed)
    assert again.retry is None and again.delivered == len(owed)
    got = Counter(seqs(fake.rows(DCR, STREAM)))
    assert sorted(got) == list(range(6000)) and max(got.values()) == 1
    assert fake.row_count(DCR, STREAM) == 6000

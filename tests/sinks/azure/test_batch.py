"""Records -> request bodies: limits hold, order holds, nothing is lost or doubled."""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.sinks.azure.batch import API_MAX_REQUEST_BYTES, Batcher, Limits, decode_body
from edgewatch.sinks.azure.outcome import RECORD_TOO_LARGE, UNENCODABLE
from tests.sinks.azure.conftest import records, seqs


def _body_ok(body: bytes, limits: Limits) -> None:
    raw = zlib.decompress(body, 16 + zlib.MAX_WBITS)
    assert len(body) <= limits.max_request_bytes
    assert len(raw) <= limits.max_uncompressed_bytes
    assert body[:2] == b"\x1f\x8b"  # gzip, so the SDK sends it as Content-Encoding: gzip
    assert isinstance(json.loads(raw), list)


def test_default_chunks_stay_under_the_api_limit_and_keep_order() -> None:
    rows = records(20_000, pad=40)
    plan = Batcher().plan(rows)
    assert not plan.rejected
    assert len(plan.chunks) > 3
    out: list[Any] = []
    for chunk in plan.chunks:
        _body_ok(chunk.body, Limits())
        assert chunk.raw_bytes <= API_MAX_REQUEST_BYTES
        out.extend(decode_body(chunk.body))
        assert list(chunk.records) == decode_body(chunk.body)
    assert out == rows


def test_chunks_are_packed_full() -> None:
    """Greedy packing: every chunk but the last would overflow with the next record."""
    limits = Limits(max_uncompressed_bytes=10_000)
    rows = records(2_000)
    plan = Batcher(limits).plan(rows)
    taken = 0
    for chunk in plan.chunks[:-1]:
        taken += len(chunk)
        following = len(json.dumps(rows[taken], separators=(",", ":")))
        assert chunk.raw_bytes + following + 1 > limits.max_uncompressed_bytes


def test_a_record_larger_than_a_request_is_rejected_alone() -> None:
    rows = records(10)
    rows[4]["Note"] = "y" * API_MAX_REQUEST_BYTES
    plan = Batcher().plan(rows)
    assert [r.reason for r in plan.rejected] == [RECORD_TOO_LARGE]
    assert seqs(plan.rejected[0].records) == [4]
    assert "bytes" in plan.rejected[0].detail
    assert seqs([r for c in plan.chunks for r in c.records]) == [0, 1, 2, 3, 5, 6, 7, 8, 9]


def test_the_largest_record_that_fits_is_sent() -> None:
    limits = Limits(max_uncompressed_bytes=4096)
    base = json.dumps({"Note": ""}, separators=(",", ":"))
    rec = {"Note": "z" * (4096 - 2 - len(base))}  # exactly the limit with its brackets
    plan = Batcher(limits).plan([rec])
    assert not plan.rejected
    assert plan.chunks[0].raw_bytes == 4096
    plan = Batcher(limits).plan([{"Note": rec["Note"] + "z"}])
    assert plan.rejected[0].reason == RECORD_TOO_LARGE


def test_incompressible_data_is_split_to_respect_the_compressed_limit() -> None:
    limits = Limits(max_request_bytes=20_000, max_uncompressed_bytes=200_000)
    rows = [{"Seq": i, "Blob": os.urandom(3000).hex()} for i in range(60)]
    plan = Batcher(limits).plan(rows)
    assert not plan.rejected
    for chunk in plan.chunks:
        _body_ok(chunk.body, limits)
    assert seqs([r for c in plan.chunks for r in c.records]) == list(range(60))


def test_unencodable_records_are_set_aside_and_the_rest_encoded() -> None:
    rows: list[Any] = records(5)
    rows[2] = {"Seq": 2, "Bad": object()}
    plan = Batcher().plan(rows)
    assert [r.reason for r in plan.rejected] == [UNENCODABLE]
    assert seqs(plan.rejected[0].records) == [2]
    assert seqs([r for c in plan.chunks for r in c.records]) == [0, 1, 3, 4]


def test_halves_reuse_the_encoding() -> None:
    plan = Batcher().plan(records(9))
    a, b = plan.chunks[0].halves(6)
    assert seqs(a.records) == [0, 1, 2, 3] and seqs(b.records) == [4, 5, 6, 7, 8]
    assert decode_body(a.body) == list(a.records)
    assert decode_body(b.body) == list(b.records)


def test_empty_input_plans_nothing() -> None:
    plan = Batcher().plan([])
    assert plan.chunks == [] and plan.rejected == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=6), max_size=80
    ),
    max_raw=st.integers(64, 3000),
)
def test_any_records_any_limit_every_record_exactly_once(
    rows: list[dict[str, Any]], max_raw: int
) -> None:
    limits = Limits(max_request_bytes=API_MAX_REQUEST_BYTES, max_uncompressed_bytes=max_raw)
    plan = Batcher(limits).plan(rows)
    sent = [r for c in plan.chunks for r in c.records]
    too_big = [r for rej in plan.rejected for r in rej.records]
    assert all(rej.reason == RECORD_TOO_LARGE for rej in plan.rejected)
    assert len(sent) + len(too_big) == len(rows)
    for chunk in plan.chunks:
        _body_ok(chunk.body, limits)
        assert decode_body(chunk.body) == json.loads(json.dumps(list(chunk.records)))
    for rec in too_big:
        assert (
            len(json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode()) + 2 > max_raw
        )
    # order is kept among the records that are sent
    ids = [id(r) for r in rows]
    positions = [ids.index(id(r)) for r in sent]
    assert positions == sorted(positions)

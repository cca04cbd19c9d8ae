"""The stand-in's own checks on a request body, as the API documents them.

The stand-in validates bodies in one C pass and builds rows only when asked, so these
pin down that the shortcuts still refuse what the service refuses and still store what
the workspace would show. Requests go through the SDK client, as the agent sends them.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from azure.monitor.ingestion import LogsIngestionClient

from edgewatch.sinks.azure import AzureLogsIngestionConfig, build_client
from tests.fake_azure import FakeAzure
from tests.fake_azure.ingestion import MAX_FIELD_BYTES
from tests.sinks.azure.conftest import DCR, DNS_STREAM, MI_CLIENT_ID, STREAM, records


@pytest.fixture
def client(make_cfg: Callable[..., AzureLogsIngestionConfig]) -> Iterator[LogsIngestionClient]:
    with build_client(make_cfg()) as c:
        yield c


def post(client: LogsIngestionClient, raw: bytes, stream: str = STREAM, dcr: str = DCR) -> None:
    body = zlib.compress(raw, 6, 16 + zlib.MAX_WBITS)
    client.upload(rule_id=dcr, stream_name=stream, logs=io.BytesIO(body))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"Seq": 1}', "InvalidRequestFormat"),  # an object, not an array
        (b'[{"Seq": 1}, 2]', "InvalidRequestFormat"),  # an array with a non-object
        (b'[{"Seq": 1},', "InvalidJson"),
        (b'[{"Seq": "\xff"}]', "InvalidJson"),  # not UTF-8
    ],
)
def test_malformed_bodies_are_refused_whole(
    fake: FakeAzure, client: LogsIngestionClient, raw: bytes, code: str
) -> None:
    with pytest.raises(HttpResponseError) as err:
        post(client, raw)
    assert err.value.status_code == 400
    assert fake.calls[-1].code == code
    assert fake.rows(DCR, STREAM) == [] and fake.row_count(DCR, STREAM) == 0


def test_rows_are_shown_as_stored_long_values_cut_at_64_kb(
    fake: FakeAzure, client: LogsIngestionClient
) -> None:
    rows = records(3)
    rows[1]["Note"] = "é" * MAX_FIELD_BYTES  # 128 KB of UTF-8
    post(client, json.dumps(rows).encode())
    got = fake.rows(DCR, STREAM)
    assert fake.row_count(DCR, STREAM) == 3 == fake.calls[-1].records
    assert got[0] == rows[0] and got[2] == rows[2]
    assert len(got[1]["Note"].encode()) == MAX_FIELD_BYTES
    assert got[1]["Note"] == "é" * (MAX_FIELD_BYTES // 2)


def test_columns_the_stream_does_not_declare_are_dropped(
    fake: FakeAzure, client: LogsIngestionClient
) -> None:
    narrow = "dcr-" + "cd" * 16
    fake.add_dcr(narrow, {"Custom-Narrow": ["Seq", "Computer"]})
    fake.grant(MI_CLIENT_ID, narrow)
    try:
        rows = records(2)
        post(client, json.dumps(rows).encode(), "Custom-Narrow", narrow)
        got = fake.rows(narrow, "Custom-Narrow")
        assert got == [{"Seq": r["Seq"], "Computer": r["Computer"]} for r in rows]
    finally:
        fake.revoke(MI_CLIENT_ID, narrow)
        with fake.ingestion.lock:
            fake.ingestion.dcrs.pop(narrow, None)


def test_rows_keep_arrival_order_per_stream(fake: FakeAzure, client: LogsIngestionClient) -> None:
    post(client, json.dumps(records(2)).encode())
    post(client, json.dumps(records(1, start=100)).encode(), DNS_STREAM)
    post(client, json.dumps(records(2, start=2)).encode())
    assert [r["Seq"] for r in fake.rows(DCR, STREAM)] == [0, 1, 2, 3]
    assert [r["Seq"] for r in fake.rows(DCR, DNS_STREAM)] == [100]

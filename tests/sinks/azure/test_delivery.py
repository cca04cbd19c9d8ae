"""Delivery through the real SDK client to the fake: exactly once, under the limit, by reason.

Every test goes LogsIngestionClient -> azure-core -> TLS -> fake, with the token from
ManagedIdentityCredential via the fake IMDS; the loop between sends is the ``drive``
helper, which does what the delivery loop will do: wait as told, resend what is owed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import pytest

from edgewatch.sinks.azure import AzureDelivery, AzureLogsIngestionConfig
from edgewatch.sinks.azure.batch import API_MAX_REQUEST_BYTES
from edgewatch.sinks.azure.outcome import INVALID_RECORD, RECORD_TOO_LARGE
from tests.fake_azure import FakeAzure, Fault
from tests.sinks.azure.conftest import DCR, DNS_STREAM, MI_CLIENT_ID, STREAM, drive, records, seqs

MakeCfg = Callable[..., AzureLogsIngestionConfig]


def no_sleep(_: float) -> None:
    """Faults are queued per request, not timed, so the loop need not really wait."""


def assert_exactly_once(fake: FakeAzure, n: int, stream: str = STREAM) -> None:
    got = Counter(seqs(fake.rows(DCR, stream)))
    assert sorted(got) == list(range(n)), "records missing"
    assert max(got.values()) == 1, "records duplicated"


def assert_under_limit(fake: FakeAzure) -> None:
    for call in fake.calls:
        assert call.wire_bytes <= 1_000_000 < API_MAX_REQUEST_BYTES
        assert call.raw_bytes <= API_MAX_REQUEST_BYTES
        assert call.content_encoding == "gzip"


def test_delivers_many_requests_worth_exactly_once_under_the_limit(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    rows = records(12_000, pad=60)
    seen = drive(delivery, STREAM, rows)
    assert seen.sends == 1 and seen.delivered == len(rows)
    assert_exactly_once(fake, len(rows))
    assert_under_limit(fake)
    assert len(fake.calls) >= 2
    assert all(c.status == 204 and c.appid == MI_CLIENT_ID for c in fake.calls)
    health = delivery.health()
    assert health.records_sent == len(rows)
    assert health.requests == len(fake.calls)
    assert health.bytes_sent == sum(c.wire_bytes for c in fake.calls)
    assert health.last_success is not None and health.last_error is None


def test_rows_land_per_stream(fake: FakeAzure, delivery: AzureDelivery) -> None:
    drive(delivery, STREAM, records(3))
    drive(delivery, DNS_STREAM, records(2, start=100))
    assert seqs(fake.rows(DCR, STREAM)) == [0, 1, 2]
    assert seqs(fake.rows(DCR, DNS_STREAM)) == [100, 101]


def test_429_retry_after_is_honoured_and_the_sdk_does_not_retry_on_its_own(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    fake.inject(*[Fault.throttle(retry_after=7)] * 3)
    seen = drive(delivery, STREAM, records(500), sleep=no_sleep)
    assert seen.waits == [7.0, 7.0, 7.0]
    assert [r.reason for r in seen.retries] == ["throttled"] * 3
    # one HTTP call per send: the SDK's own retry policy is out of the way
    assert [c.status for c in fake.calls] == [429, 429, 429, 204]
    assert_exactly_once(fake, 500)
    assert delivery.health().retries == {"throttled": 3}


def test_a_real_retry_after_wait(fake: FakeAzure, delivery: AzureDelivery) -> None:
    fake.inject(Fault.throttle(retry_after=1))
    seen = drive(delivery, STREAM, records(10))
    assert seen.waits == [1.0]
    assert_exactly_once(fake, 10)


def test_throttle_mid_batch_resends_only_what_is_owed(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    rows = records(9000, pad=200)  # several requests
    fake.inject(Fault.slow(0), Fault.throttle(retry_after=2))  # 2nd request throttled
    first = delivery.send(STREAM, rows)
    assert first.retry is not None and first.delivered > 0
    assert first.delivered + len(first.retry.records) == len(rows)
    assert seqs(first.retry.records) == list(range(first.delivered, len(rows)))
    seen = drive(delivery, STREAM, first.retry.records, sleep=no_sleep)
    assert seen.retries == []
    assert_exactly_once(fake, len(rows))


def test_service_limit_throttling_carries_retry_after(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    fake.set_limits(requests_per_minute=2)
    with AzureDelivery(make_cfg(batch={"max_uncompressed_bytes": 50_000})) as dlv:
        out = dlv.send(STREAM, records(2000))
    assert out.retry is not None and out.retry.reason == "throttled"
    assert out.requests == 3 and out.delivered > 0
    assert 0 < out.retry.after_seconds <= 60


def test_503_and_500_back_off_with_growing_jittered_delays(
    fake: FakeAzure, make_cfg: MakeCfg
) -> None:
    cfg = make_cfg(retry={"initial_backoff_seconds": 0.1, "max_backoff_seconds": 0.4})
    fake.inject(*[Fault.unavailable()] * 4, Fault.server_error())
    with AzureDelivery(cfg) as dlv:
        seen = drive(dlv, STREAM, records(100), sleep=no_sleep)
    assert [r.reason for r in seen.retries] == ["unavailable"] * 4 + ["server_error"]
    # equal jitter: each wait is in [ceiling/2, ceiling], ceiling doubling up to the cap
    for wait, ceiling in zip(seen.waits, (0.1, 0.2, 0.4, 0.4, 0.4), strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert "Monitoring Metrics Publisher" in seen.retries[0].message
    assert_exactly_once(fake, 100)


def test_503_with_retry_after_uses_it(fake: FakeAzure, delivery: AzureDelivery) -> None:
    fake.inject(Fault.unavailable(retry_after=3))
    seen = drive(delivery, STREAM, records(10), sleep=no_sleep)
    assert seen.waits == [3.0]


def test_slow_responses_within_the_timeout_deliver_once(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    fake.inject(Fault.slow(0.3), Fault.slow(0.3))
    rows = records(6000, pad=200)
    seen = drive(delivery, STREAM, rows)
    assert seen.retries == []
    assert_exactly_once(fake, len(rows))


def test_a_stalled_request_times_out_and_is_resent(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    fake.inject(Fault.stall(1.5))
    with AzureDelivery(make_cfg(timeouts={"read_seconds": 0.5})) as dlv:
        seen = drive(dlv, STREAM, records(50), sleep=no_sleep)
    assert [r.reason for r in seen.retries] == ["timeout"]
    assert_exactly_once(fake, 50)


def test_dropped_connections_are_retried(fake: FakeAzure, delivery: AzureDelivery) -> None:
    fake.inject(Fault.drop(), Fault.drop(), Fault.slow(0), Fault.drop())
    rows = records(9000, pad=200)
    seen = drive(delivery, STREAM, rows, sleep=no_sleep)
    assert [r.reason for r in seen.retries] == ["connection"] * 3
    assert_exactly_once(fake, len(rows))
    assert_under_limit(fake)


def test_chaos_every_record_exactly_once(fake: FakeAzure, delivery: AzureDelivery) -> None:
    fake.inject(
        Fault.throttle(retry_after=1),
        Fault.slow(0.05),
        Fault.unavailable(),
        Fault.drop(),
        Fault.slow(0),
        Fault.server_error(),
        Fault.throttle(retry_after=2),
        Fault.drop(),
    )
    rows = records(15_000, pad=150)
    seen = drive(delivery, STREAM, rows, sleep=no_sleep)
    assert len(seen.retries) == 6
    assert_exactly_once(fake, len(rows))
    assert_under_limit(fake)
    health = delivery.health()
    assert health.records_sent == len(rows)
    assert sum(health.retries.values()) == 6
    assert health.consecutive_failures == 0


def test_oversized_record_is_rejected_and_the_rest_delivered(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    rows = records(20)
    rows[7]["Note"] = "q" * (API_MAX_REQUEST_BYTES + 10)
    seen = drive(delivery, STREAM, rows)
    assert [r.reason for r in seen.rejected] == [RECORD_TOO_LARGE]
    assert seqs(seen.rejected_records) == [7]
    assert sorted(seqs(fake.rows(DCR, STREAM))) == [i for i in range(20) if i != 7]
    assert delivery.health().rejected == {RECORD_TOO_LARGE: 1}


def test_a_413_is_bisected_until_it_fits(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    """Should the service's limit ever be lower than ours, halving still gets through."""
    fake.ingestion.max_body_bytes = 4_000
    try:
        with AzureDelivery(make_cfg(batch={"gzip_level": 1})) as dlv:
            seen = drive(dlv, STREAM, records(1200, pad=30))
    finally:
        fake.ingestion.max_body_bytes = API_MAX_REQUEST_BYTES
    assert seen.rejected == [] and seen.retries == []
    assert_exactly_once(fake, 1200)
    assert {c.status for c in fake.calls} == {204, 413}


def test_a_400_isolates_exactly_the_bad_record(fake: FakeAzure, delivery: AzureDelivery) -> None:
    rows = records(5000)
    fake.reject_records(lambda r: r.get("Seq") == 3217)
    seen = drive(delivery, STREAM, rows)
    assert seen.retries == []
    assert seqs(seen.rejected_records) == [3217]
    assert seen.rejected[0].reason == INVALID_RECORD
    assert "400" in seen.rejected[0].detail and "InvalidRecord" in seen.rejected[0].detail
    got = Counter(seqs(fake.rows(DCR, STREAM)))
    assert sorted(got) == [i for i in range(5000) if i != 3217] and max(got.values()) == 1
    # bisection costs about two requests per halving, not one per record
    assert len(fake.calls) <= 2 + 2 * 13
    assert delivery.health().rejected == {INVALID_RECORD: 1}


def test_several_bad_records_in_several_chunks(fake: FakeAzure, delivery: AzureDelivery) -> None:
    bad = {5, 6, 2500, 4999}
    rows = records(5000)
    fake.reject_records(lambda r: r.get("Seq") in bad)
    seen = drive(delivery, STREAM, rows)
    assert set(seqs(seen.rejected_records)) == bad
    assert_exactly_once_except(fake, 5000, bad)


def assert_exactly_once_except(fake: FakeAzure, n: int, missing: set[int]) -> None:
    got = Counter(seqs(fake.rows(DCR, STREAM)))
    assert sorted(got) == [i for i in range(n) if i not in missing]
    assert max(got.values()) == 1


def test_bisection_budget_sets_a_systematically_bad_chunk_aside(
    fake: FakeAzure, make_cfg: MakeCfg
) -> None:
    fake.reject_records(lambda r: True)  # e.g. every record breaks the stream schema
    with AzureDelivery(make_cfg(retry={"max_bisect_requests": 6})) as dlv:
        seen = drive(dlv, STREAM, records(1000))
    assert len(fake.calls) == 1 + 6
    assert sorted(seqs(seen.rejected_records)) == list(range(1000))
    assert any("max_bisect_requests" in r.detail for r in seen.rejected)


def test_throttle_during_bisection_keeps_the_rest_owed(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    fake.reject_records(lambda r: r.get("Seq") == 10)
    fake.inject(Fault.slow(0), Fault.slow(0), Fault.throttle(retry_after=1))
    seen = drive(delivery, STREAM, records(64), sleep=no_sleep)
    assert [r.reason for r in seen.retries] == ["throttled"]
    assert seqs(seen.rejected_records) == [10]
    assert_exactly_once_except(fake, 64, {10})


def test_403_names_the_role_retries_slowly_and_drops_nothing(
    fake: FakeAzure, delivery: AzureDelivery, caplog: pytest.LogCaptureFixture
) -> None:
    fake.revoke(MI_CLIENT_ID, DCR)
    caplog.set_level(logging.ERROR, logger="edgewatch.sinks.azure")
    out = delivery.send(STREAM, records(30))
    assert out.retry is not None and out.retry.reason == "forbidden" and out.retry.status == 403
    assert len(out.retry.records) == 30 and out.delivered == 0 and not out.rejected
    assert "Monitoring Metrics Publisher" in out.retry.message and DCR in out.retry.message
    assert 0.045 <= out.retry.after_seconds <= 0.055  # slow_retry_seconds, +-10% jitter
    assert "Monitoring Metrics Publisher" in caplog.text
    health = delivery.health()
    assert health.last_error == out.retry.message and health.retries == {"forbidden": 1}
    fake.grant(MI_CLIENT_ID, DCR)  # the operator fixes the role assignment
    seen = drive(delivery, STREAM, out.retry.records)
    assert seen.retries == []
    assert_exactly_once(fake, 30)


def test_401_for_a_token_of_the_wrong_cloud_names_the_role(
    fake: FakeAzure, make_cfg: MakeCfg
) -> None:
    # cloud: usgov asks IMDS for an https://monitor.azure.us token, which this
    # (public-cloud) endpoint refuses
    with AzureDelivery(make_cfg(cloud="usgov")) as dlv:
        out = dlv.send(STREAM, records(5))
    assert out.retry is not None and out.retry.reason == "unauthorized"
    assert out.retry.status == 401
    assert "Monitoring Metrics Publisher" in out.retry.message
    assert "https://monitor.azure.us" in out.retry.message
    assert fake.grants[-1].resource == "https://monitor.azure.us"
    assert fake.rows(DCR, STREAM) == []


def test_unknown_stream_is_a_slow_retry_not_a_drop(
    fake: FakeAzure, delivery: AzureDelivery
) -> None:
    out = delivery.send("Custom-NoSuchStream", records(5))
    assert out.retry is not None and out.retry.reason == "not_found"
    assert "streamDeclarations" in out.retry.message
    assert len(out.retry.records) == 5


def test_unknown_dcr_is_a_slow_retry(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    with AzureDelivery(make_cfg(dcr_immutable_id="dcr-" + "0" * 32)) as dlv:
        out = dlv.send(STREAM, records(5))
    assert out.retry is not None and out.retry.reason == "not_found"


def test_unreachable_endpoint_is_a_connection_retry(make_cfg: MakeCfg) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with AzureDelivery(make_cfg(endpoint=f"https://127.0.0.1:{port}")) as dlv:
        out = dlv.send(STREAM, records(5))
    assert out.retry is not None and out.retry.reason == "connection"
    assert out.retry.after_seconds <= 0.05


def test_nothing_to_send_costs_nothing(fake: FakeAzure, delivery: AzureDelivery) -> None:
    out = delivery.send(STREAM, [])
    assert out.complete and out.requests == 0
    assert fake.calls == []


def test_wire_format_is_what_the_api_documents(fake: FakeAzure, delivery: AzureDelivery) -> None:
    drive(delivery, STREAM, records(3))
    (call,) = fake.calls
    assert call.content_type == "application/json"
    assert call.content_encoding == "gzip"
    assert call.client_request_id
    assert call.user_agent.startswith("edgewatch/")
    assert "azsdk-python-monitor-ingestion" in call.user_agent

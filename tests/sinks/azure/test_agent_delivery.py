"""The agent end to end: ``edgewatch run --once`` delivering to a local Logs Ingestion API.

Real processes, a real config file, the real client path (LogsIngestionClient with a
managed identity found through azure-identity's environment variables, TLS trusted
through ``ca_bundle``); the fake injects the faults.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from edgewatch import simulate
from edgewatch.tables import LAYOUTS
from tests.fake_azure import FakeAzure, random_dcr_id
from tests.fake_azure.ingestion import Fault

EDGEWATCH = [sys.executable, "-m", "edgewatch"]
CUSTOM = LAYOUTS["custom"]
STREAMS = sorted({CUSTOM.stream_for(f) for f in ("tcp", "dns", "sni", "exec", "seccomp")})
FACTORY_DCR = random_dcr_id()
OFFICE_DCR = random_dcr_id()


@pytest.fixture
def tenants(fake: FakeAzure) -> FakeAzure:
    fake.add_dcr(FACTORY_DCR, STREAMS)
    fake.add_dcr(OFFICE_DCR, STREAMS)
    from tests.sinks.azure.conftest import MI_CLIENT_ID

    fake.grant(MI_CLIENT_ID, FACTORY_DCR, OFFICE_DCR)
    return fake


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "events.ndjson"
    with open(path, "wb") as fh:
        simulate.write(simulate.generate(3000, seed=5, scenarios=["all"]), fh, "current")
    return path


def _config(tmp: Path, fake: FakeAzure, capture: Path, ca_bundle: Path, routes: str) -> Path:
    cfg = tmp / "agent.yaml"
    cfg.write_text(
        f"""
node_name: edge-1
state_dir: {tmp / "state"}
sources:
  - type: file
    path: {capture}
sinks: []
destinations:
  - name: factory
    type: azure_logs_ingestion
    endpoint: {fake.endpoint}
    dcr_immutable_id: {FACTORY_DCR}
    layout: custom
    credential: {{type: managed_identity}}
    ca_bundle: {ca_bundle}
    retry: {{initial_backoff_seconds: 0.01, max_backoff_seconds: 0.05, slow_retry_seconds: 0.05}}
  - name: office
    type: azure_logs_ingestion
    endpoint: {fake.endpoint}
    dcr_immutable_id: {OFFICE_DCR}
    layout: custom
    credential: {{type: managed_identity}}
    ca_bundle: {ca_bundle}
    retry: {{initial_backoff_seconds: 0.01, max_backoff_seconds: 0.05, slow_retry_seconds: 0.05}}
{routes}
"""
    )
    return cfg


def _run_once(cfg: Path) -> None:
    """``edgewatch run --once``: read the files, deliver everything, exit 0."""
    out = subprocess.run(
        [*EDGEWATCH, "run", "-c", str(cfg), "--once"],
        capture_output=True,
        text=True,
        timeout=180,
        env=_env(),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]


def _follow(cfg: Path, capture: Path) -> None:
    """Make the file source follow its file: the agent runs until SIGTERM."""
    old = f"    path: {capture}\n"
    cfg.write_text(cfg.read_text().replace(old, old + "    follow: true\n"))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _rows(fake: FakeAzure, dcr: str) -> list[dict[str, object]]:
    return [row for stream in STREAMS for row in fake.rows(dcr, stream)]


def _expected(capture: Path) -> list[dict[str, object]]:
    from edgewatch.decode.decoder import LineDecoder

    events = LineDecoder(node="edge-1").decode(capture.read_bytes().splitlines()).events
    return [
        {"EventId": r["EventId"], "Namespace": r.get("Namespace"), "Gadget": r.get("Gadget")}
        for recs in CUSTOM.records(events).values()
        for r in recs
    ]


ALL_TO_FACTORY = "routes:\n  - to: [factory]\n"


def test_every_event_arrives_once_through_throttling_and_outages(
    tenants: FakeAzure, capture: Path, ca_bundle: Path, tmp_path: Path
) -> None:
    tenants.inject(
        Fault.throttle(retry_after=0.2),
        Fault.throttle(retry_after=0.1),
        Fault.unavailable(),
        Fault.slow(0.5),
        Fault.server_error(),
        Fault.drop(),
    )
    cfg = _config(tmp_path, tenants, capture, ca_bundle, ALL_TO_FACTORY)
    _run_once(cfg)
    got = Counter(r["EventId"] for r in _rows(tenants, FACTORY_DCR))
    expected = Counter(e["EventId"] for e in _expected(capture))
    assert got == expected  # exactly once
    assert _rows(tenants, OFFICE_DCR) == []
    status = subprocess.run(
        [*EDGEWATCH, "status", "-c", str(cfg), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert '"queued_events": 0' in status.stdout


def test_two_tenants_receive_exactly_their_own_namespaces(
    tenants: FakeAzure, capture: Path, ca_bundle: Path, tmp_path: Path
) -> None:
    routes = (
        "routes:\n"
        "  - match: {namespace: [payments, 'iot-*']}\n    to: [factory]\n"
        "  - match: {namespace: [shop]}\n    to: [office]\n"
    )
    cfg = _config(tmp_path, tenants, capture, ca_bundle, routes)
    _run_once(cfg)
    factory = {r["Namespace"] for r in _rows(tenants, FACTORY_DCR)}
    office = {r["Namespace"] for r in _rows(tenants, OFFICE_DCR)}
    assert factory and all(ns == "payments" or ns.startswith("iot-") for ns in factory)
    assert office == {"shop"}
    expected = _expected(capture)
    want_factory = sum(1 for e in expected if e["Namespace"] in factory)
    assert len(_rows(tenants, FACTORY_DCR)) == want_factory


def test_kill_9_mid_delivery_loses_nothing(
    tenants: FakeAzure, capture: Path, ca_bundle: Path, tmp_path: Path
) -> None:
    # slow requests: the agent is killed while batches are in flight
    tenants.inject(*[Fault.slow(0.3) for _ in range(6)])
    cfg = _config(tmp_path, tenants, capture, ca_bundle, ALL_TO_FACTORY)
    proc = subprocess.Popen(
        [*EDGEWATCH, "run", "-c", str(cfg), "--once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    deadline = time.monotonic() + 60
    while not _rows(tenants, FACTORY_DCR) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(_rows(tenants, FACTORY_DCR))
    expected = Counter(e["EventId"] for e in _expected(capture))
    assert 0 < before < sum(expected.values())
    # a restart re-reads the file (its offsets were not committed) and the buffer
    _run_once(cfg)
    got = Counter(r["EventId"] for r in _rows(tenants, FACTORY_DCR))
    assert set(got) == set(expected)  # nothing lost
    # duplicates only across the crash, and detectable by EventId
    assert all(n >= 1 for n in got.values())


def test_records_the_service_refuses_go_to_the_dead_letter_file(
    tenants: FakeAzure, capture: Path, ca_bundle: Path, tmp_path: Path
) -> None:
    # a rare malformed record (the service refuses every exec row here); a flood of them
    # exhausts the transport's bisection budget and sets whole batches aside instead
    tenants.reject_records(lambda row: row.get("Gadget") == "trace_exec")
    cfg = _config(tmp_path, tenants, capture, ca_bundle, ALL_TO_FACTORY)
    _run_once(cfg)
    expected = _expected(capture)
    bad = sum(1 for e in expected if e["Gadget"] == "trace_exec")
    assert bad
    delivered = _rows(tenants, FACTORY_DCR)
    assert len(delivered) == len(expected) - bad
    assert all(r["Gadget"] != "trace_exec" for r in delivered)
    import json

    dead = [
        json.loads(line)
        for line in (tmp_path / "state" / "dead-letter.ndjson").read_text().splitlines()
    ]
    assert len(dead) == bad
    assert {d["reason"] for d in dead} == {"azure_invalid_record"}


def test_a_record_over_the_request_limit_goes_to_the_dead_letter_file(
    tenants: FakeAzure, capture: Path, ca_bundle: Path, tmp_path: Path
) -> None:
    """One process start whose command line makes its record larger than a whole request:
    it is set aside with its reason, never sent, and everything else is delivered."""
    import json

    lines = capture.read_bytes().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"args":'))
    lines = lines[: at + 200]
    event = json.loads(lines[at])
    event["args"] = "/bin/sh\u00a0-c\u00a0" + "x" * 600_000  # Args and Cmdline: > 1.2 MB
    lines[at] = json.dumps(event).encode()
    big = tmp_path / "big.ndjson"
    big.write_bytes(b"\n".join(lines) + b"\n")
    cfg = _config(tmp_path, tenants, big, ca_bundle, ALL_TO_FACTORY)
    _run_once(cfg)
    assert len(_rows(tenants, FACTORY_DCR)) == len(_expected(big)) - 1
    (dead,) = [
        json.loads(line)
        for line in (tmp_path / "state" / "dead-letter.ndjson").read_text().splitlines()
    ]
    assert dead["reason"] == "azure_record_too_large"
    assert dead["length"] > 1024 * 1024 and "x" * 1000 in dead["line"]
    assert all(c.raw_bytes <= 1024 * 1024 for c in tenants.calls)


def test_a_running_agent_reports_delivery_in_its_metrics(
    tenants: FakeAzure, capture: Path, ca_bundle: Path, tmp_path: Path
) -> None:
    import socket
    import urllib.request

    from tests.test_metrics import samples

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _config(tmp_path, tenants, capture, ca_bundle, ALL_TO_FACTORY)
    _follow(cfg, capture)
    cfg.write_text(cfg.read_text() + f"http: {{listen: 127.0.0.1:{port}}}\n")
    proc = subprocess.Popen(
        [*EDGEWATCH, "run", "-c", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    try:
        expected = len(_expected(capture))
        deadline = time.monotonic() + 60
        sent = 0.0
        while time.monotonic() < deadline and sent < expected:
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    got = samples(r.read().decode())
            except OSError:
                continue
            sent = got.get(
                ("edgewatch_destination_records_sent_total", (("destination", "factory"),)), 0
            )
        assert sent == expected
        assert got[("edgewatch_destination_queued_events", (("destination", "factory"),))] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()[-2000:]


def test_a_stalled_tenant_does_not_hold_up_the_other(
    tenants: FakeAzure, capture: Path, ca_bundle: Path, tmp_path: Path
) -> None:
    from tests.sinks.azure.conftest import MI_CLIENT_ID

    tenants.revoke(MI_CLIENT_ID, FACTORY_DCR)  # factory answers 403 until the role is back
    routes = (
        "routes:\n"
        "  - match: {namespace: [payments, 'iot-*']}\n    to: [factory]\n"
        "  - match: {namespace: [shop]}\n    to: [office]\n"
    )
    cfg = _config(tmp_path, tenants, capture, ca_bundle, routes)
    cfg.write_text(
        cfg.read_text().replace(
            f"    path: {capture}\n", f"    path: {capture}\n    follow: true\n"
        )
    )
    want_office = sum(1 for e in _expected(capture) if e["Namespace"] == "shop")
    proc = subprocess.Popen(
        [*EDGEWATCH, "run", "-c", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_rows(tenants, OFFICE_DCR)) < want_office:
            time.sleep(0.1)
        assert len(_rows(tenants, OFFICE_DCR)) == want_office
        assert _rows(tenants, FACTORY_DCR) == []
        # factory's events wait in its buffer; once the role is granted they arrive
        tenants.grant(MI_CLIENT_ID, FACTORY_DCR)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _rows(tenants, FACTORY_DCR):
            time.sleep(0.1)
        assert _rows(tenants, FACTORY_DCR)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

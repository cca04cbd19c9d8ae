"""What the DaemonSet's probes and the Service's scrapes reach, on a running agent.

``edgewatch run`` supervises the fake ``ig`` (one ``ig run`` per gadget, the TCP one
crashing after a few events, as a Go panic would) with the metrics address the
manifests point at. The figures the manifests promise must be there: events in, out and
dropped by reason and gadget, the queue, IG's child restarts, config reloads, and the
process's CPU and RSS.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

FAKE_IG = Path(__file__).resolve().parents[1] / "fake_ig"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_probes_and_metrics_of_a_running_agent(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "sources:\n"
        f"  - {{type: ig, mode: run, binary: {FAKE_IG / 'ig'}, version: 0.55.1,\n"
        "     gadgets: [trace_tcp, trace_dns], restart: {initial: 0.1, max: 0.2}}\n"
        "filters: {noise: {loopback: true}}\n"
        f"sinks: [{{type: file, path: {tmp_path / 'out.ndjson'}}}]\n"
        f"http: {{listen: '127.0.0.1:{port}'}}\n"
    )
    env = {
        **os.environ,
        "FAKE_IG_RATE": "200",
        "FAKE_IG_CRASH_AFTER": "10",
        "FAKE_IG_FAULT_GADGETS": "trace_tcp",
        "FAKE_IG_QUIET": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgewatch", "run", "-c", str(cfg), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                _code, text = get(base + "/metrics")
            except OSError:
                time.sleep(0.1)
                continue
            restarts = sample(text, "edgewatch_source_child_restarts_total", child="trace_tcp")
            if restarts and restarts >= 2 and sample(text, "edgewatch_events_in_total"):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no restarts reported:\n{text}")
        assert get(base + "/healthz") == (200, "ok\n")
        assert get(base + "/readyz") == (200, "ok\n")
        assert get(base + "/nope")[0] == 404
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr

    assert sample(text, "edgewatch_events_in_total", gadget="tcp")
    assert sample(text, "edgewatch_events_in_total", gadget="dns")
    assert sample(text, "edgewatch_events_out_total", sink="file", gadget="dns")
    assert sample(text, "edgewatch_events_dropped_total", gadget="tcp") is not None
    assert sample(text, "edgewatch_source_child_up", source="ig", child="trace_dns") == 1.0
    assert sample(text, "edgewatch_queue_batches") is not None
    assert sample(text, "edgewatch_queue_bytes") is not None
    assert sample(text, "edgewatch_config_reloads_total", result="applied") == 0.0
    assert sample(text, "edgewatch_config_reloads_total", result="refused") == 0.0
    # the process collector: CPU seconds and resident memory of the agent itself
    cpu = sample(text, "process_cpu_seconds_total")
    rss = sample(text, "process_resident_memory_bytes")
    assert cpu is not None and cpu > 0
    assert rss is not None and 10 * 2**20 < rss < 2**31
    assert re.search(r"^# TYPE edgewatch_source_child_restarts_total counter$", text, re.M)


def test_delivery_latency_and_buffer_figures_are_exported() -> None:
    from prometheus_client import generate_latest

    from edgewatch.metrics import registry_for
    from edgewatch.pipeline.stats import Stats

    figures = {
        "factory": {
            "queued_events": 5,
            "bytes_on_disk": 8192,
            "oldest_unsent_age_s": 1.5,
            "worker_alive": True,
            "request_seconds": 2.5,
            "requests_timed": 10,
        }
    }
    text = generate_latest(registry_for(Stats(), [lambda: figures])).decode()
    dest = {"destination": "factory"}
    assert sample(text, "edgewatch_destination_request_seconds_count", **dest) == 10
    assert sample(text, "edgewatch_destination_request_seconds_sum", **dest) == 2.5
    assert sample(text, "edgewatch_destination_buffer_bytes", **dest) == 8192
    assert sample(text, "edgewatch_destination_oldest_unsent_seconds", **dest) == 1.5

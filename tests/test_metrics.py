"""The agent's /metrics, /healthz and /readyz, read as Prometheus and a kubelet would."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from edgewatch.metrics import AgentHttp, registry_for
from edgewatch.pipeline.stats import Stats


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_reflect_the_live_counters_and_destinations() -> None:
    stats = Stats()
    stats.events_in.update({"tcp": 5, "dns": 7})
    stats.events_out[("azure", "tcp")] = 4
    stats.add_dropped("noise_loopback", Counter({"tcp": 1}))
    stats.rejected["invalid_json"] = 2
    figures = {
        "factory": {
            "queued_events": 12,
            "bytes_on_disk": 4096,
            "oldest_unsent_age_s": 3.5,
            "records_sent": 100,
            "last_success": 1_700_000_000.0,
            "worker_alive": False,
            "dropped_events": {"overflow": 9},
            "rejected_records": {"invalid_record": 1},
        }
    }
    alive = {"ok": True}

    def ready() -> tuple[bool, str]:
        return (True, "ok") if alive["ok"] else (False, "delivery to factory stopped")

    server = AgentHttp("127.0.0.1:0", registry_for(stats, [lambda: figures]), ready).start()
    try:
        base = f"http://{server.address}"
        code, text = _get(base + "/metrics")
        assert code == 200
        got = samples(text)
        assert got[("edgewatch_events_in_total", (("gadget", "dns"),))] == 7
        assert got[("edgewatch_events_out_total", (("gadget", "tcp"), ("sink", "azure")))] == 4
        assert (
            got[
                (
                    "edgewatch_events_dropped_total",
                    (("gadget", "tcp"), ("reason", "noise_loopback")),
                )
            ]
            == 1
        )
        assert got[("edgewatch_lines_rejected_total", (("reason", "invalid_json"),))] == 2
        dest = (("destination", "factory"),)
        assert got[("edgewatch_destination_queued_events", dest)] == 12
        assert got[("edgewatch_destination_buffer_bytes", dest)] == 4096
        assert got[("edgewatch_destination_worker_up", dest)] == 0
        assert (
            got[
                (
                    "edgewatch_destination_buffer_dropped_events_total",
                    (("destination", "factory"), ("reason", "overflow")),
                )
            ]
            == 9
        )
        assert any(name == "process_resident_memory_bytes" for name, _ in got)
        stats.events_in["dns"] += 1  # read at scrape time, not copied
        assert (
            samples(_get(base + "/metrics")[1])[("edgewatch_events_in_total", (("gadget", "dns"),))]
            == 8
        )
        assert _get(base + "/healthz") == (200, "ok\n")
        assert _get(base + "/readyz")[0] == 200
        alive["ok"] = False
        code, why = _get(base + "/readyz")
        assert code == 503 and "factory" in why
        assert _get(base + "/nope")[0] == 404
    finally:
        server.stop()

"""The agent's HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``.

Metrics are read from the live counters at scrape time (a custom collector), not
mirrored into separate metric objects on the hot path: the pipeline pays nothing per
event for being observable. The server binds to localhost unless the config says
otherwise; it serves read-only figures and no event data.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from edgewatch.pipeline.stats import Stats

log = logging.getLogger(__name__)

#: status() of each sink that reports per-destination figures (the Azure sink does)
StatusSource = Callable[[], dict[str, dict[str, Any]]]


class AgentCollector(Collector):
    def __init__(self, stats: Stats, destinations: Sequence[StatusSource] = ()) -> None:
        self.stats = stats
        self.destinations = list(destinations)

    def collect(self) -> Iterator[Any]:
        s = self.stats.snapshot()
        lines = CounterMetricFamily("edgewatch_lines_in", "Input lines read", labels=[])
        lines.add_metric([], s["lines_in"])
        yield lines
        events_in = CounterMetricFamily(
            "edgewatch_events_in", "Events decoded, by gadget", labels=["gadget"]
        )
        for gadget, n in sorted(s["events_in"].items()):
            events_in.add_metric([gadget], n)
        yield events_in
        events_out = CounterMetricFamily(
            "edgewatch_events_out", "Events written, by sink and gadget", labels=["sink", "gadget"]
        )
        for key, n in sorted(s["events_out"].items()):
            sink, _, gadget = key.partition("/")
            events_out.add_metric([sink, gadget], n)
        yield events_out
        dropped = CounterMetricFamily(
            "edgewatch_events_dropped",
            "Events dropped on purpose, by reason and gadget",
            labels=["reason", "gadget"],
        )
        for key, n in sorted(s["dropped"].items()):
            reason, _, gadget = key.partition("/")
            dropped.add_metric([reason, gadget], n)
        yield dropped
        rejected = CounterMetricFamily(
            "edgewatch_lines_rejected", "Input lines not decodable, by reason", labels=["reason"]
        )
        for reason, n in sorted(s["rejected"].items()):
            rejected.add_metric([reason], n)
        yield rejected
        bytes_in = CounterMetricFamily("edgewatch_bytes_in", "Input bytes read", labels=[])
        bytes_in.add_metric([], s["bytes_in"])
        yield bytes_in
        stage = CounterMetricFamily(
            "edgewatch_stage_figures",
            "What stages count besides drops (aggregate:events_in/tcp, enrich:dns_evicted …)",
            labels=["figure"],
        )
        for figure, n in sorted(s.get("stages", {}).items()):
            stage.add_metric([figure], n)
        yield stage
        yield from self._destinations()

    def _destinations(self) -> Iterator[Any]:
        figures: dict[str, dict[str, Any]] = {}
        for source in self.destinations:
            figures.update(source())
        labels = ["destination"]
        queued = GaugeMetricFamily(
            "edgewatch_destination_queued_events",
            "Events buffered, not yet delivered",
            labels=labels,
        )
        on_disk = GaugeMetricFamily(
            "edgewatch_destination_buffer_bytes", "Bytes the buffer holds on disk", labels=labels
        )
        oldest = GaugeMetricFamily(
            "edgewatch_destination_oldest_unsent_seconds",
            "Age of the oldest event not yet delivered",
            labels=labels,
        )
        sent = CounterMetricFamily(
            "edgewatch_destination_records_sent", "Records accepted by the service", labels=labels
        )
        last_ok = GaugeMetricFamily(
            "edgewatch_destination_last_success_timestamp_seconds",
            "When the service last accepted a request (0: never)",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "edgewatch_destination_worker_up", "1 while the delivery thread runs", labels=labels
        )
        buf_dropped = CounterMetricFamily(
            "edgewatch_destination_buffer_dropped_events",
            "Events the buffer dropped (overflow, damage), by reason",
            labels=["destination", "reason"],
        )
        latency = SummaryMetricFamily(
            "edgewatch_destination_request_seconds",
            "Time to deliver one chunk to the service (retries and back-off excluded)",
            labels=labels,
        )
        refused = CounterMetricFamily(
            "edgewatch_destination_rejected_records",
            "Records the service refused (sent to the dead-letter file), by reason",
            labels=["destination", "reason"],
        )
        for name, d in sorted(figures.items()):
            queued.add_metric([name], d.get("queued_events", 0))
            on_disk.add_metric([name], d.get("bytes_on_disk", 0))
            oldest.add_metric([name], d.get("oldest_unsent_age_s", 0.0))
            sent.add_metric([name], d.get("records_sent", 0))
            last_ok.add_metric([name], float(d.get("last_success") or 0))
            up.add_metric([name], 1.0 if d.get("worker_alive") else 0.0)
            for reason, n in sorted((d.get("dropped_events") or {}).items()):
                buf_dropped.add_metric([name, reason], n)
            for reason, n in sorted((d.get("rejected_records") or {}).items()):
                refused.add_metric([name, reason], n)
            latency.add_metric(
                [name], d.get("requests_timed", 0), float(d.get("request_seconds", 0.0))
            )
        yield from (queued, on_disk, oldest, sent, last_ok, up, buf_dropped, refused, latency)


class RuntimeCollector(Collector):
    """The running agent beyond its counters: the queue, IG's children, config reloads.

    Each part is a callable read at scrape time, so this module needs no runtime types.
    """

    def __init__(
        self,
        queue: Callable[[], tuple[int, int]] | None = None,
        sources: Sequence[Any] = (),
        reloads: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.queue = queue
        self.sources = [s for s in sources if callable(getattr(s, "status", None))]
        self.reloads = reloads

    def collect(self) -> Iterator[Any]:
        if self.queue is not None:
            batches, size = self.queue()
            depth = GaugeMetricFamily(
                "edgewatch_queue_batches", "Raw batches waiting for the pipeline thread"
            )
            depth.add_metric([], batches)
            queued = GaugeMetricFamily(
                "edgewatch_queue_bytes", "Raw input bytes waiting for the pipeline thread"
            )
            queued.add_metric([], size)
            yield from (depth, queued)
        if self.sources:
            restarts = CounterMetricFamily(
                "edgewatch_source_child_restarts",
                "Times a supervised child (ig run, ig daemon) was started again",
                labels=["source", "child"],
            )
            up = GaugeMetricFamily(
                "edgewatch_source_child_up", "1 while the child runs", labels=["source", "child"]
            )
            for source in self.sources:
                children = source.status().get("children") or {}
                for label, child in sorted(children.items()):
                    restarts.add_metric([source.name, label], child.get("restarts", 0))
                    up.add_metric([source.name, label], 1.0 if child.get("running") else 0.0)
            yield from (restarts, up)
        if self.reloads is not None:
            applied, refused = self.reloads()
            reloads = CounterMetricFamily(
                "edgewatch_config_reloads", "Config reloads, by result", labels=["result"]
            )
            reloads.add_metric(["applied"], applied)
            reloads.add_metric(["refused"], refused)
            yield reloads


def registry_for(
    stats: Stats, destinations: Sequence[StatusSource] = (), extra: Sequence[Collector] = ()
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(stats, destinations))
    for collector in extra:
        registry.register(collector)
    ProcessCollector(registry=registry)  # CPU seconds, RSS, open fds of this process
    return registry


class AgentHttp:
    """``/metrics``, ``/healthz`` (the process answers), ``/readyz`` (``ready()`` holds)."""

    def __init__(
        self,
        listen: str,
        registry: CollectorRegistry,
        ready: Callable[[], tuple[bool, str]] = lambda: (True, "ok"),
    ) -> None:
        host, _, port = listen.rpartition(":")
        collector_registry, is_ready = registry, ready

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(collector_registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n")
                elif path == "/readyz":
                    ok, why = is_ready()
                    self._send(200 if ok else 503, why.encode() + b"\n")
                else:
                    self._send(404, b"not found\n")

            def _send(self, code: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

        self.server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> AgentHttp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

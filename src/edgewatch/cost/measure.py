"""Measuring volume three ways: raw (the seed's stdout path), after filtering, after aggregation.

From a capture (a file of IG output, or the events in a store) the lines run through the
real stages — enrichment, the configured filters, aggregation — and are counted at each
point, as Log Analytics would bill them in ``ContainerLogV2`` (see ``billing.py``). The
capture's own event-time span turns totals into a daily rate.

From a running agent there is nothing to replay: its counters (``status.json`` in the
state directory, or ``/metrics``) are read twice, ``interval`` seconds apart, and the
difference is the rate. The agent counts input bytes always, and what its aggregation
stage takes in and hands on when aggregation is on; without it "after aggregation" is
unknown and "after filtering" is estimated from the share of events kept.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from edgewatch.cost.billing import GB, ContainerLogRow, containerlog_size
from edgewatch.pipeline.batch import EventBatch
from edgewatch.sources.base import RawBatch

DAY_S = 86_400.0
_TIME = attrgetter("time_ns")
_END = attrgetter("event_end_ns")


@dataclass
class Volume:
    """Counts and billed bytes at the three points, over ``span_s`` seconds."""

    source: str
    span_s: float
    events: int
    kept: int
    records: int | None
    raw_bytes: int
    filtered_bytes: int
    aggregated_bytes: int | None
    notes: list[str] = field(default_factory=list)

    def per_day(self, billed: int | None) -> float | None:
        """GB per day (10^9 bytes) at this capture's rate."""
        if billed is None or self.span_s <= 0:
            return None
        return billed * DAY_S / self.span_s / GB


class _SpanProbe:
    """First stage: the event-time span of everything that came in (before any drop)."""

    name = "span"
    columns: frozenset[str] | None = frozenset({"time_ns"})

    def __init__(self) -> None:
        self.low: int | None = None
        self.high: int | None = None

    def process(self, batch: EventBatch) -> EventBatch:
        times = list(map(_TIME, batch.events))
        if times:
            lo, hi = min(times), max(times)
            self.low = lo if self.low is None else min(self.low, lo)
            self.high = hi if self.high is None else max(self.high, hi)
        return batch

    @property
    def seconds(self) -> float:
        if self.low is None or self.high is None:
            return 0.0
        return (self.high - self.low) / 1e9


class CountingSink:
    """The stdout path without the stdout: counts the lines (and bytes) it would print."""

    columns: frozenset[str] | None = frozenset()

    def __init__(self, name: str = "count") -> None:
        self.name = name
        self.records = 0
        self.line_bytes = 0

    def write(self, batch: EventBatch) -> int:
        raws = batch.raws
        self.records += len(raws)
        size = sum(map(len, raws))
        self.line_bytes += size
        return size + len(raws)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def measure_lines(
    batches: Iterable[list[bytes]],
    config: Any,
    source: str,
    row: ContainerLogRow | None = None,
) -> Volume:
    """Replay IG output lines through enrichment, the config's filters and aggregation.

    ``config`` is an agent :class:`~edgewatch.config.Config`; its ``reduce`` settings are
    used with both stages switched on (the point is to see what they would save).
    """
    from edgewatch.pipeline.aggregate import AggregateStage
    from edgewatch.pipeline.enrich import EnrichStage
    from edgewatch.pipeline.filter import FilterStage
    from edgewatch.pipeline.runtime import Pipeline
    from edgewatch.pipeline.stats import Stats

    row = row or ContainerLogRow()
    stats = Stats()
    probe = _SpanProbe()
    reduce = config.reduce
    enrich = reduce.enrich.model_copy(update={"enabled": True})
    aggregate = reduce.aggregate.model_copy(update={"enabled": True})
    stages = [
        probe,
        EnrichStage(enrich, stats),
        FilterStage(config.filters, stats),
        AggregateStage(aggregate, stats),
    ]
    sink = CountingSink()
    pipeline = Pipeline(stages, [sink], stats=stats, node=config.node)
    for lines in batches:
        pipeline.handle(RawBatch(lines=lines, stream="cost"))
    pipeline.close()
    snap = stats.snapshot()
    lines_in = snap["lines_in"]
    raw_line_bytes = snap["bytes_in"] - lines_in
    events = sum(snap["events_in"].values())
    figures = snap["stages"]
    kept = _sum(figures, "aggregate:events_in/") + figures.get("aggregate:passthrough_events", 0)
    kept_bytes = _sum(figures, "aggregate:bytes_in/") + figures.get(
        "aggregate:passthrough_bytes", 0
    )
    return Volume(
        source=source,
        span_s=probe.seconds,
        events=events,
        kept=kept,
        records=sink.records,
        raw_bytes=containerlog_size(raw_line_bytes, lines_in, row),
        filtered_bytes=containerlog_size(kept_bytes - kept, kept, row),
        aggregated_bytes=containerlog_size(sink.line_bytes, sink.records, row),
    )


def file_batches(path: Path, batch_lines: int = 4096) -> Iterator[list[bytes]]:
    """A file of IG output (any format the agent reads) in batches of lines."""
    with open(path, "rb") as fh:
        batch: list[bytes] = []
        for line in fh:
            batch.append(line.rstrip(b"\n"))
            if len(batch) >= batch_lines:
                yield batch
                batch = []
        if batch:
            yield batch


def store_batches(path: Path, batch_lines: int = 4096) -> tuple[Iterator[list[bytes]], int]:
    """The store's events as IG's JSON lines (oldest first), and how many events the
    store's rows stand for (more than its rows if it holds aggregated summaries)."""
    from edgewatch.store.containerlog import log_message_sql
    from edgewatch.store.database import open_store
    from edgewatch.store.schema import all_schemas

    con = open_store(path, read_only=True)
    standing = 0
    parts = []
    for schema in all_schemas():
        name = schema.name
        row = con.execute(
            f'SELECT count(*), sum(coalesce("event_count", 1)) FROM "{name}"'
        ).fetchone()
        if row and row[0]:
            standing += int(row[1] or 0)
            parts.append((schema, int(row[0])))

    def gen() -> Iterator[list[bytes]]:
        try:
            for schema, _ in parts:
                cur = con.execute(
                    f'SELECT CAST({log_message_sql(schema)} AS VARCHAR) FROM "{schema.name}" '
                    'ORDER BY "time_ns"'
                )
                while True:
                    rows = cur.fetchmany(batch_lines)
                    if not rows:
                        break
                    yield [r[0].encode() for r in rows]
        finally:
            con.close()

    return gen(), standing


# -- a running agent ---------------------------------------------------------------------


def agent_figures(where: str) -> dict[str, Any]:
    """The agent's counters from its ``/metrics`` URL or a ``status.json`` file."""
    if where.startswith(("http://", "https://")):
        url = where if where.rstrip("/").endswith("/metrics") else where.rstrip("/") + "/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:  # http(s) only, checked above
            text = resp.read().decode()
        return _from_metrics(text)
    doc = json.loads(Path(where).read_text())
    stats = doc.get("stats", {})
    return {
        "lines_in": int(stats.get("lines_in", 0)),
        "bytes_in": int(stats.get("bytes_in", 0)),
        "events_in": sum(stats.get("events_in", {}).values()),
        "dropped": sum(stats.get("dropped", {}).values()),
        "stages": dict(stats.get("stages", {})),
        "at": float(doc.get("written_at", 0.0)),
    }


def _from_metrics(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, Any] = {
        "lines_in": 0,
        "bytes_in": 0,
        "events_in": 0,
        "dropped": 0,
        "stages": {},
        "at": 0.0,
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            value = int(sample.value)
            if family.name == "edgewatch_lines_in":
                out["lines_in"] += value
            elif family.name == "edgewatch_bytes_in":
                out["bytes_in"] += value
            elif family.name == "edgewatch_events_in":
                out["events_in"] += value
            elif family.name == "edgewatch_events_dropped":
                out["dropped"] += value
            elif family.name == "edgewatch_stage_figures":
                out["stages"][sample.labels["figure"]] = value
    return out


def measure_agent(
    first: dict[str, Any],
    second: dict[str, Any],
    seconds: float,
    source: str,
    row: ContainerLogRow | None = None,
) -> Volume:
    """The rate between two readings of an agent's counters, ``seconds`` apart."""
    row = row or ContainerLogRow()

    def delta(key: str) -> int:
        return int(second.get(key, 0)) - int(first.get(key, 0))

    a, b = first.get("stages", {}), second.get("stages", {})
    stage = {k: int(v) - int(a.get(k, 0)) for k, v in b.items()}
    lines = delta("lines_in")
    events = delta("events_in")
    raw = containerlog_size(delta("bytes_in") - lines, lines, row)
    notes: list[str] = []
    if any(k.startswith("aggregate:") for k in b):
        kept = _sum(stage, "aggregate:events_in/") + stage.get("aggregate:passthrough_events", 0)
        kept_bytes = _sum(stage, "aggregate:bytes_in/") + stage.get(
            "aggregate:passthrough_bytes", 0
        )
        filtered = containerlog_size(kept_bytes - kept, kept, row)
        records: int | None = _sum(stage, "aggregate:summaries_out/") + stage.get(
            "aggregate:passthrough_events", 0
        )
        out_bytes = _sum(stage, "aggregate:bytes_out/") + stage.get(
            "aggregate:passthrough_bytes", 0
        )
        assert records is not None
        aggregated: int | None = containerlog_size(out_bytes - records, records, row)
    else:
        kept = events - delta("dropped")
        filtered = int(raw * kept / events) if events else 0
        records = None
        aggregated = None
        notes.append(
            "the agent does not aggregate: 'after filtering' is estimated from the share of "
            "events kept, 'after aggregation' is unknown (replay a capture instead)"
        )
    if lines == 0:
        notes.append("no input in the interval: run longer, or while the agent is busy")
    return Volume(
        source=source,
        span_s=seconds,
        events=events,
        kept=kept,
        records=records,
        raw_bytes=raw,
        filtered_bytes=filtered,
        aggregated_bytes=aggregated,
        notes=notes,
    )


def _sum(figures: dict[str, int], prefix: str) -> int:
    return sum(v for k, v in figures.items() if k.startswith(prefix))

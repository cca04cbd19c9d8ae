"""Where alerts go: stdout, the local store, Sentinel — independent of the event sinks.

Alerts do not travel in the event batch (the event sinks, filters and aggregation know
gadget families, not alerts); the detect stage hands them to these outputs directly.
The store and Azure outputs reuse the event sinks' own machinery — the store writer's
thread and each destination's durable buffer — so alerts get the same guarantees as
events (crash-safe, at-least-once, bounded) without a second connection or queue.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

import msgspec
import pyarrow as pa

from edgewatch.detect.alert import Alert, to_json
from edgewatch.tables import alert as alert_table


class AlertOutput(Protocol):
    name: str

    def write(self, alerts: Sequence[Alert]) -> None: ...

    def close(self) -> None: ...


class MemoryAlerts:
    """Keeps alerts in a list (tests, benchmarks, ``edgewatch rules test``)."""

    name = "memory"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def write(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)

    def close(self) -> None:
        pass


class StdoutAlerts:
    """One JSON object per line: ``{"edgewatch_alert": {...}}``, easy to tell from IG lines."""

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._out = stream if stream is not None else sys.stdout.buffer

    def write(self, alerts: Sequence[Alert]) -> None:
        data = b"".join(b'{"edgewatch_alert":' + to_json(a) + b"}\n" for a in alerts)
        with contextlib.suppress(BrokenPipeError):
            self._out.write(data)
            self._out.flush()

    def close(self) -> None:
        pass


_SCHEMA = pa.schema(
    [
        (
            fld,
            pa.list_(pa.string())
            if kind == "dynamic"
            else (pa.string() if kind == "string" else pa.int64()),
        )
        for _, fld, kind in alert_table.COLUMNS
    ]
)


def alerts_table(alerts: Sequence[Alert]) -> pa.Table:
    cols = {name: [getattr(a, name) for a in alerts] for name in _SCHEMA.names}
    return pa.table(cols, schema=_SCHEMA)


class StoreAlerts:
    """The store's ``alerts`` table, written by the store sink's writer thread."""

    name = "store"

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        cur = writer.con.cursor()
        try:
            for statement in alert_table.store_create_sql():
                cur.execute(statement).fetchall()
        finally:
            cur.close()

    def write(self, alerts: Sequence[Alert]) -> None:
        self.writer.write_table(alert_table.STORE_TABLE, alerts_table(alerts))

    def close(self) -> None:
        pass


_encode = msgspec.json.Encoder().encode


class AzureAlerts:
    """``EdgeWatchAlert_CL`` records appended to each chosen destination's disk buffer."""

    name = "azure"

    def __init__(self, azure_sink: Any, destinations: Sequence[str] | None = None) -> None:
        self.sink = azure_sink
        names = list(azure_sink.workers) if destinations is None else list(destinations)
        unknown = [n for n in names if n not in azure_sink.workers]
        if unknown:
            raise ValueError(
                f"detect.alerts.azure names unknown destinations: {', '.join(unknown)}"
            )
        self.destinations = names
        self.sent: Counter[str] = Counter()

    def write(self, alerts: Sequence[Alert]) -> None:
        prefix = alert_table.STREAM.encode() + b"\n"
        items = [prefix + _encode(alert_table.record(a)) for a in alerts]
        for name in self.destinations:
            self.sink.workers[name].buffer.append(items)
            self.sent[name] += len(items)

    def close(self) -> None:
        pass

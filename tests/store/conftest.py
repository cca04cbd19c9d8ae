"""Stores filled through the real writer, in temp dirs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import duckdb

from edgewatch.events.base import Event
from edgewatch.store.database import open_store
from edgewatch.store.writer import StoreSettings, StoreWriter


def fill_store(path: Path, events: Iterable[Event], **settings: object) -> StoreWriter:
    """Write events the way the sink does (per gadget) and wait until they are stored."""
    writer = StoreWriter(StoreSettings(path=path, **settings))  # type: ignore[arg-type]
    by_family: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_family[event.gadget_family].append(event)
    for family, evs in by_family.items():
        writer.write(family, evs)
    writer.flush()
    return writer


def hunting_connection(path: Path) -> duckdb.DuckDBPyConnection:
    from edgewatch.hunt import engine

    con = open_store(path, read_only=True)
    engine.prepare(con)
    return con

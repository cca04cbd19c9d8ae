"""Sentinel watchlists on the node: ``_GetWatchlist('alias')`` reads ``<alias>.csv``.

A SOC keeps allow and deny lists (VIP users, pen-test addresses, rule thresholds) as
Sentinel watchlists, and published content reads them with ``_GetWatchlist('alias')``.
Here a watchlist is a CSV file in a directory the operator names (``edgewatch hunt
--watchlists DIR``, ``edgewatch serve --watchlists DIR``, ``dashboard.watchlists`` in
the agent's config); with none named, a query calling ``_GetWatchlist`` fails with a
message saying how to give one.

What Sentinel returns, from Microsoft's documentation ("Build queries or detection
rules with watchlists in Microsoft Sentinel", the Azure Monitor reference of the
``Watchlist`` table, the Watchlists REST API): the function reads the ``Watchlist``
table, keeps the latest version of each item of that alias, drops deleted items, and
unpacks each item's bag (``WatchlistItem``) into one column per CSV column. The search
key is the column named when the watchlist was made (``itemsSearchKey``); its value is
repeated in ``SearchKey``, the column the documentation tells queries to join on. The
exact column list below follows the function's body as Sentinel workspaces define it
(recalled, not quoted from a public page), with the documented ``WatchlistItem`` bag
kept. Columns, in order:

========================  ==========================  ==================================
column                    in Sentinel                 here
========================  ==========================  ==================================
``_DTItemId``             the item's id (a GUID)      a UUID made from the alias and the
                                                      row's values (and its repeat
                                                      count, for a repeated row): the
                                                      same on every load, untouched by
                                                      edits of other rows
``LastUpdatedTimeUTC``    when the item last changed  the file's modification time
                                                      (UTC): every row of a file has it
``SearchKey``             the search-key column's     the same
                          value
``WatchlistItem``         the item as a bag           the same: ``{column: value}``
                          (dynamic)
the CSV's own columns     strings                     strings, exactly as in the file
                                                      (``""`` for a missing cell)
========================  ==========================  ==================================

Sentinel's other ``Watchlist`` columns (``WatchlistAlias``, ``CreatedBy``,
``TimeGenerated`` …) are not part of what ``_GetWatchlist`` returns, and are not here.

The files, by convention:

* ``<alias>.csv``: UTF-8 (a byte-order mark is fine), the first row names the columns.
  The alias is matched regardless of case, an exact match first. Whether Sentinel's own
  lookup ignores case is not documented (the function's body, as recalled, compares
  with ``==``); an alias is an Azure resource name, which Azure compares regardless of
  case, so the case of a file name should not decide whether a query runs. Without an
  exact match, two files whose names differ only in case are refused. Blank lines are
  skipped; column names are trimmed of spaces.
* ``<alias>.yaml`` (or ``.yml``) beside it, optional: ``search_key: <column>``. Without
  it, the first column is the search key.

Security: the query engine keeps its file access off. The file is read here, by
Python, bounded (``max_bytes``, ``max_rows``), and handed to the hunting connection as
a temp table; the alias never becomes a path (the directory is listed and names are
compared), and only regular files directly in it are read (a symlink to one is
followed: Kubernetes mounts a ConfigMap that way). A table is loaded the first time a
query on the connection reads it and again when its file or sidecar changes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import yaml

from edgewatch.hunt.extensions.watchlist import FUNCTION, aliases, table_name

if TYPE_CHECKING:
    import duckdb

    from edgewatch.config import DashboardConfig

#: a watchlist file larger than this is refused (Sentinel's own upload limit from a
#: local file is 3.8 MB; larger ones go through Azure Storage)
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: rows a watchlist may have; each becomes a row of a temp table in memory
DEFAULT_MAX_ROWS = 200_000
MAX_SIDECAR_BYTES = 64 * 1024
CSV_SUFFIX = ".csv"
SIDECAR_SUFFIXES = (".yaml", ".yml")
SIDECAR_KEYS = ("search_key",)

ITEM_ID = "_DTItemId"
UPDATED = "LastUpdatedTimeUTC"
SEARCH_KEY = "SearchKey"
ITEM = "WatchlistItem"
#: the columns ``_GetWatchlist`` puts before the CSV's own
ADDED_COLUMNS = (ITEM_ID, UPDATED, SEARCH_KEY, ITEM)

_SETTINGS_VAR = "edgewatch_watchlists"
_STAGING = "ew_watchlist_staging"
#: fixed, so an item's id is the same on every node and every load
_ITEM_NAMESPACE = uuid.UUID("5f0c7a0e-3d5b-4c1e-9a57-2f6a4e1b8c90")
_LISTED = 20


class WatchlistError(Exception):
    """A watchlist a query reads cannot be provided; the message says why and how."""

    def __init__(self, message: str, alias: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.alias = alias
        #: no such watchlist (or no directory at all), as opposed to a bad file
        self.missing = missing


@dataclass(frozen=True)
class WatchlistSettings:
    directory: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "directory": str(self.directory)})

    @classmethod
    def from_json(cls, text: str) -> WatchlistSettings:
        data = json.loads(text)
        return cls(Path(data["directory"]), int(data["max_bytes"]), int(data["max_rows"]))


def settings_for(
    directory: Path | None, options: DashboardConfig | None = None
) -> WatchlistSettings | None:
    """The directory given on the command line, else the config's (None: neither).

    The limits are the config's when there is one: they bound what any query can load.
    """
    directory = directory or (options.watchlists if options else None)
    if directory is None:
        return None
    if options is None:
        return WatchlistSettings(directory)
    return WatchlistSettings(
        directory, int(options.watchlist_max_bytes), options.watchlist_max_rows
    )


def install(con: duckdb.DuckDBPyConnection, settings: WatchlistSettings | None) -> None:
    """Remember on the connection where its watchlists come from (``engine.prepare``)."""
    con.execute(
        f"SET VARIABLE {_SETTINGS_VAR} = ?", [settings.to_json() if settings else None]
    ).fetchall()


def settings_of(con: duckdb.DuckDBPyConnection) -> WatchlistSettings | None:
    value = con.execute(f"SELECT getvariable('{_SETTINGS_VAR}')").fetchall()[0][0]
    return WatchlistSettings.from_json(value) if value else None


def load(con: duckdb.DuckDBPyConnection, kql: str) -> None:
    """Load (or refresh) every watchlist the query reads onto the connection."""
    wanted = aliases(kql)
    if not wanted:
        return
    settings = settings_of(con)
    for alias in wanted:
        _ensure(con, settings, alias)


def _ensure(con: duckdb.DuckDBPyConnection, settings: WatchlistSettings | None, alias: str) -> None:
    if settings is None:
        raise WatchlistError(
            f"{FUNCTION}('{alias}'): no watchlist directory is set. Put {alias}.csv in a "
            "directory and give it with --watchlists DIR (edgewatch hunt, edgewatch "
            "serve) or dashboard.watchlists in the agent's config",
            alias,
            missing=True,
        )
    path = find(settings.directory, alias)
    sidecar = _sidecar(path)
    source = _fingerprint(path, sidecar, settings)
    name = table_name(alias)
    loaded = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE temporary AND table_name = ?", [name]
    ).fetchall()
    if loaded and loaded[0][0] == source:
        return
    table = read(path, sidecar, settings, alias)
    columns = ", ".join(
        f"CAST({_quote(c)} AS JSON) AS {_quote(c)}" if c == ITEM else _quote(c)
        for c in table.column_names
    )
    con.register(_STAGING, table)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {columns} FROM {_STAGING}"
        ).fetchall()
        # kept with the table (and rolled back with it): what it was loaded from
        con.execute(f"COMMENT ON TABLE temp.{name} IS {_literal(source)}").fetchall()
    finally:
        con.unregister(_STAGING)


def find(directory: Path, alias: str) -> Path:
    """The CSV file of ``alias``: exact name first, then regardless of case."""
    try:
        with os.scandir(directory) as listing:
            names = [e.name for e in listing if e.name.lower().endswith(CSV_SUFFIX) and e.is_file()]
    except OSError as exc:
        raise WatchlistError(
            f"{FUNCTION}('{alias}'): cannot list the watchlist directory {directory}: "
            f"{exc.strerror or exc}",
            alias,
            missing=True,
        ) from None
    files = sorted((name[: -len(CSV_SUFFIX)], name) for name in names)
    exact = [name for stem, name in files if stem == alias]
    matches = exact or [name for stem, name in files if stem.casefold() == alias.casefold()]
    if len(matches) == 1:
        return directory / matches[0]
    if matches:
        raise WatchlistError(
            f"{FUNCTION}('{alias}'): several files in {directory} match "
            f"({', '.join(matches)}); keep one",
            alias,
        )
    stems = [stem for stem, _ in files]
    known = ", ".join(stems[:_LISTED]) + (" …" if len(stems) > _LISTED else "")
    raise WatchlistError(
        f"{FUNCTION}('{alias}'): no watchlist {alias!r} in {directory} (expected "
        f"{alias}{CSV_SUFFIX}; watchlists there: {known or 'none'})",
        alias,
        missing=True,
    )


def _sidecar(path: Path) -> Path | None:
    found = [side for side in map(path.with_suffix, SIDECAR_SUFFIXES) if side.is_file()]
    if len(found) > 1:
        raise WatchlistError(
            f"{path.name}: both {found[0].name} and {found[1].name} describe it; keep one",
            path.stem,
        )
    return found[0] if found else None


def _fingerprint(path: Path, sidecar: Path | None, settings: WatchlistSettings) -> str:
    """What a loaded table came from: the files as they were, and the limits."""
    parts = [str(path), str(settings.max_bytes), str(settings.max_rows)]
    for file in (path, sidecar):
        if file is None:
            parts.append("-")
            continue
        try:
            st = file.stat()
        except OSError:
            parts.append("?")  # gone since it was listed: reading it says so
            continue
        parts.append(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def search_key_of(sidecar: Path | None, alias: str) -> str | None:
    """The column the sidecar names as the search key (None: the first column)."""
    if sidecar is None:
        return None
    text = _read_bounded(sidecar, MAX_SIDECAR_BYTES, alias).decode("utf-8", errors="replace")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WatchlistError(f"{sidecar.name}: not valid YAML: {exc}", alias) from None
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise WatchlistError(
            f"{sidecar.name}: expected a mapping such as 'search_key: IPAddress'", alias
        )
    unknown = sorted(str(k) for k in doc if k not in SIDECAR_KEYS)
    if unknown:
        raise WatchlistError(
            f"{sidecar.name}: unknown key(s) {', '.join(unknown)}; known: "
            f"{', '.join(SIDECAR_KEYS)}",
            alias,
        )
    key = doc.get("search_key")
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip():
        raise WatchlistError(f"{sidecar.name}: search_key must be a column name", alias)
    return key.strip()


def read(path: Path, sidecar: Path | None, settings: WatchlistSettings, alias: str) -> pa.Table:
    """The watchlist as ``_GetWatchlist`` returns it, every value a string."""
    search_key = search_key_of(sidecar, alias)
    data = _read_bounded(path, settings.max_bytes, alias)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WatchlistError(
            f"{path.name}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV", alias
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _header(row, path, alias)
                continue
            if len(row) > len(header):
                raise WatchlistError(
                    f"{path.name}, line {reader.line_num}: {len(row)} values for "
                    f"{len(header)} columns",
                    alias,
                )
            if len(rows) >= settings.max_rows:
                raise WatchlistError(
                    f"{path.name}: more than {settings.max_rows:,} rows, the limit for a "
                    "watchlist here",
                    alias,
                )
            rows.append(row + [""] * (len(header) - len(row)))
    except csv.Error as exc:
        raise WatchlistError(f"{path.name}, line {reader.line_num}: {exc}", alias) from None
    if header is None:
        raise WatchlistError(f"{path.name}: empty; the first row must name the columns", alias)
    if search_key is None:
        key_index = 0
    elif search_key in header:
        key_index = header.index(search_key)
    else:
        raise WatchlistError(
            f"{path.name}: search_key {search_key!r} is not one of its columns "
            f"({', '.join(header)})",
            alias,
        )
    return _table(header, rows, key_index, alias, os.stat(path).st_mtime_ns)


def _read_bounded(path: Path, limit: int, alias: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise WatchlistError(f"{path.name}: not a regular file", alias)
            if st.st_size > limit:
                raise _too_big(path, st.st_size, limit, alias)
            data = fh.read(limit + 1)
    except OSError as exc:
        raise WatchlistError(f"{path.name}: cannot read: {exc.strerror or exc}", alias) from None
    if len(data) > limit:  # grew while being read
        raise _too_big(path, len(data), limit, alias)
    return data


def _too_big(path: Path, size: int, limit: int, alias: str) -> WatchlistError:
    return WatchlistError(
        f"{path.name}: {size:,} bytes, over the limit of {limit:,} bytes for a watchlist here",
        alias,
    )


def _header(row: list[str], path: Path, alias: str) -> list[str]:
    names = [cell.strip() for cell in row]
    seen: dict[str, str] = {}
    reserved = {c.casefold(): c for c in ADDED_COLUMNS}
    for number, name in enumerate(names, start=1):
        if not name:
            raise WatchlistError(f"{path.name}: column {number} has no name", alias)
        folded = name.casefold()
        if folded in reserved:
            raise WatchlistError(
                f"{path.name}: column {name!r} is one {FUNCTION} adds itself; rename it", alias
            )
        if folded in seen:
            raise WatchlistError(
                f"{path.name}: columns {seen[folded]!r} and {name!r} have the same name "
                "(regardless of case, which the query engine cannot tell apart)",
                alias,
            )
        seen[folded] = name
    return names


def _table(
    header: list[str], rows: list[list[str]], key_index: int, alias: str, mtime_ns: int
) -> pa.Table:
    ids: list[str] = []
    items: list[str] = []
    repeats: dict[tuple[str, ...], int] = {}
    folded = alias.casefold()
    for row in rows:
        key = tuple(row)
        repeat = repeats.get(key, 0)
        repeats[key] = repeat + 1
        identity = json.dumps([folded, row, repeat], ensure_ascii=False)
        ids.append(str(uuid.uuid5(_ITEM_NAMESPACE, identity)))
        items.append(json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False))
    updated = pa.array([mtime_ns // 1000] * len(rows), type=pa.int64()).cast(pa.timestamp("us"))
    columns: dict[str, Any] = {
        ITEM_ID: pa.array(ids, type=pa.string()),
        UPDATED: updated,
        SEARCH_KEY: pa.array([r[key_index] for r in rows], type=pa.string()),
        ITEM: pa.array(items, type=pa.string()),
    }
    for index, name in enumerate(header):
        columns[name] = pa.array([r[index] for r in rows], type=pa.string())
    return pa.table(columns)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

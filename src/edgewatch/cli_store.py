"""``edgewatch ingest`` and ``edgewatch hunt``: fill the local store, query it with KQL."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgewatch.cli import (
    LogLevel,
    _build_or_exit,
    _load,
    _run_files,
    _setup_logging,
    app,
    err,
)
from edgewatch.config import Config, StoreSinkConfig
from edgewatch.events.registry import UnknownGadgetError, resolve
from edgewatch.units import parse_duration

DEFAULT_DB = Path("/var/lib/edgewatch/store.duckdb")


def _default_db() -> Path:
    return Path(os.environ.get("EDGEWATCH_DB") or DEFAULT_DB)


DbOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional
    typer.Option(
        "--db",
        help="The store (a DuckDB file). Default: $EDGEWATCH_DB, else the config's store "
        f"sink, else {DEFAULT_DB}.",
    ),
]


WatchlistsOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--watchlists",
        exists=True,
        file_okay=False,
        help="Directory of Sentinel watchlists for _GetWatchlist('alias'): <alias>.csv "
        "each, first row the column names; an optional <alias>.yaml beside it says "
        "'search_key: Column' (default: the first column). Default: the config's "
        "dashboard.watchlists.",
    ),
]


def _store_from(config: Config | None) -> StoreSinkConfig | None:
    if config is None:
        return None
    for sink in config.sinks:
        if isinstance(sink, StoreSinkConfig):
            return sink
    return None


@app.command()
def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(help="IG output files (NDJSON, envelope, CRI or Docker logs, .gz)."),
    ],
    db: DbOption = None,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--config",
            "-c",
            help="Apply this config's filters; its store sink gives the path and limits.",
        ),
    ] = None,
    gadget: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--gadget", "-g", help="The gadget that wrote the input (default: detect)."),
    ] = None,
    node: Annotated[
        str, typer.Option("--node", help="The node the events came from (Computer).")
    ] = "",
    max_bytes: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--max-bytes", help="Size cap of the store, e.g. 2GiB (default 1GiB)."),
    ] = None,
    max_age: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--max-age", help="Keep events this much younger than the newest (7d)."),
    ] = None,
    log_level: LogLevel = "warning",
) -> None:
    """Load IG output files into the local store, through the agent's decoders and filters.

    Every format `edgewatch normalize` reads is accepted; the same config filters apply.
    Prints a summary of what was stored per gadget and what was dropped and why.

    Examples:

        edgewatch ingest capture.ndjson --db hunt.duckdb

        edgewatch ingest /var/log/containers/ig-*.log -c agent.yaml --db hunt.duckdb
    """
    _setup_logging(log_level)
    for f in files:
        if not f.exists():
            raise typer.BadParameter(f"{f} does not exist", param_hint="FILES")
    spec = None
    if gadget:
        try:
            spec = resolve(gadget)
        except UnknownGadgetError as exc:
            raise typer.BadParameter(str(exc), param_hint="--gadget") from None
    cfg = _load(config) if config else Config(sources=[], sinks=[])
    if node:
        cfg = cfg.model_copy(update={"node": node})
    store_cfg = _store_from(cfg)
    path = db or (store_cfg.path if store_cfg else None) or _default_db()
    fields: dict[str, object] = {"type": "store", "path": path}
    if store_cfg is not None:
        fields = {**store_cfg.model_dump(), "path": path}
    if max_bytes is not None:
        fields["max_bytes"] = max_bytes
    if max_age is not None:
        fields["max_age"] = max_age
    try:
        store_cfg = StoreSinkConfig.model_validate(fields)
    except ValueError as exc:
        raise typer.BadParameter(str(exc).splitlines()[-1]) from None

    from edgewatch.agent import store_settings
    from edgewatch.config import DeadLetterConfig
    from edgewatch.sinks.store import StoreSink
    from edgewatch.store.database import StoreError

    cfg = cfg.model_copy(update={"dead_letter": DeadLetterConfig(enabled=False)})
    try:
        sink = StoreSink(store_settings(store_cfg, cfg.node), name="store")
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    pipeline, _ = _build_or_exit(cfg, sinks=[sink])
    started = time.monotonic()
    result = _run_files(files, spec, pipeline, cfg, "ingesting")
    pipeline.close()  # waits for the last inserts
    secs = time.monotonic() - started
    from edgewatch.report import print_flow

    stats = pipeline.stats
    print_flow(err, stats, "store")
    stored = sum(sink.writer.stats.rows.values())
    err.print(
        f"{stored:,} events stored in {path} in {secs:.1f}s ({stored / max(secs, 1e-9):,.0f}/s)"
    )
    if sink.writer.retention.deleted_by_age or sink.writer.retention.deleted_by_size:
        err.print(
            f"retention removed {sink.writer.retention.deleted_by_age:,} events by age and "
            f"{sink.writer.retention.deleted_by_size:,} by size"
        )
    if result.source_errors:
        for name, msg in result.source_errors.items():
            err.print(f"[red]{name}: {msg}[/red]")
        raise typer.Exit(1)


@app.command()
def hunt(
    query: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="KQL text, a .kql file, or the name of a bundled query (see --list)."),
    ] = None,
    db: DbOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, json (array of objects) or csv.")
    ] = "table",
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--since", help="Only events from this far back, e.g. 24h, 7d."),
    ] = None,
    list_queries: Annotated[
        bool, typer.Option("--list", help="List the bundled queries and exit.")
    ] = False,
    check: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--check",
            help="Run every query in a .kql/.csl file, Sentinel .yaml rule or hunting query, "
            "Markdown ```kusto block, or a folder of them, and report which run on this "
            "store and why the others cannot (table or --format json).",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Stop a query that runs longer (seconds).")
    ] = 60.0,
    show_sql: Annotated[
        bool, typer.Option("--show-sql", help="Print the SQL the query became, to stderr.")
    ] = False,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Find the store through this config's store sink."),
    ] = None,
    watchlists: WatchlistsOption = None,
    log_level: LogLevel = "warning",
) -> None:
    """Hunt in the local store with the KQL you would run in Sentinel.

    The store offers Azure's ContainerLogV2 table (LogMessage is IG's JSON, ContainerName
    ig-tcp, ig-dns, ig-sni, ig-exec, ig-seccomp …), so queries written for Log Analytics
    run unchanged, offline. Queries are read-only and cannot touch files or the network;
    Sentinel watchlists (_GetWatchlist('alias')) are CSV files read from --watchlists DIR
    before the query runs.

    Examples:

        edgewatch hunt --list

        edgewatch hunt public_outbound_tcp --db store.duckdb

        edgewatch hunt 'ContainerLogV2 | summarize count() by ContainerName' -f json

        edgewatch hunt my-hunt.kql --since 24h -f csv > out.csv

        edgewatch hunt --check ./Hunting-Queries/ -f json

        edgewatch hunt "_GetWatchlist('PenTestIPs') | take 5" --watchlists ./watchlists

        edgewatch hunt pentest-allowed.kql --watchlists /etc/edgewatch/watchlists
    """
    _setup_logging(log_level)
    from edgewatch.hunt import catalog

    if list_queries:
        _print_catalog(catalog)
        return
    if not query and check is None:
        raise typer.BadParameter("give a query, a .kql file or a bundled name (see --list)")
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("must be table, json or csv", param_hint="--format")
    window = None
    if since is not None:
        try:
            window = parse_duration(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
    from edgewatch.hunt.watchlists import settings_for

    cfg = _load(config) if config else None
    watchlist_settings = settings_for(watchlists, cfg.dashboard if cfg else None)
    if check is not None:
        from edgewatch.hunt.check_cli import run_check

        check_cfg = _store_from(cfg)
        check_db = db or (check_cfg.path if check_cfg else None) or _default_db()
        raise typer.Exit(run_check(check, check_db, fmt, window, timeout, watchlist_settings))
    from edgewatch.hunt import engine, output
    from edgewatch.store.database import StoreError, open_store

    store_cfg = _store_from(cfg)
    path = db or (store_cfg.path if store_cfg else None) or _default_db()
    try:
        con = open_store(path, read_only=True)
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        kql = catalog.resolve(query, tables=[*tables, "ContainerLogV2"])
    except (catalog.CatalogError, catalog.UnknownQueryError) as exc:
        con.close()
        raise typer.BadParameter(str(exc), param_hint="QUERY") from None
    try:
        engine.prepare(con, since=window, watchlists=watchlist_settings)
        if show_sql:
            err.print(engine.translate(kql).sql, markup=False, highlight=False)
        result = engine.execute(con, kql, timeout_s=timeout)
    except engine.HuntError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    finally:
        con.close()
    if fmt == "table":
        from rich.console import Console

        # piped: as wide as the rows are; a terminal: its own width
        console = Console() if sys.stdout.isatty() else Console(width=100_000)
        output.print_table(result, console)
    else:
        sys.stdout.write(output.render(result, fmt))


def _print_catalog(catalog: object) -> None:
    """One line per bundled query: name, what it finds, the gadgets it needs, ATT&CK."""
    queries = catalog.bundled()  # type: ignore[attr-defined]
    width = max(len(q.name) for q in queries)
    for q in queries:
        mitre = ", ".join(t.id for t in q.mitre) or "-"
        gadgets = ", ".join(q.gadgets)
        typer.echo(f"{q.name:<{width}}  {q.title}  [{gadgets}; {mitre}]")

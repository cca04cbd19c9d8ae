"""``edgewatch cost``: what the node's IG data costs in Log Analytics, raw and reduced."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from edgewatch.cli import _load, app, err
from edgewatch.config import Config, parse_config


def _volume(
    config: Config,
    capture: Path | None,
    db: Path | None,
    agent: str | None,
    interval: float,
) -> Any:
    from edgewatch.cost import measure

    if sum(x is not None for x in (capture, db, agent)) != 1:
        err.print("[red]give exactly one of: a capture FILE, --db STORE, or --agent[/red]")
        raise typer.Exit(2)
    if capture is not None:
        if not capture.exists():
            err.print(f"[red]no such file: {capture}[/red]")
            raise typer.Exit(2)
        return measure.measure_lines(measure.file_batches(capture), config, str(capture))
    if db is not None:
        from edgewatch.store.database import StoreError

        try:
            batches, standing = measure.store_batches(db)
            volume = measure.measure_lines(batches, config, str(db))
        except StoreError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        if standing > volume.events:
            volume.notes.append(
                f"the store holds summaries standing for {standing:,} events; the raw "
                "figure counts its rows, not those events"
            )
        return volume
    assert agent is not None
    where = agent
    if not where.startswith(("http://", "https://")):
        path = Path(where)
        if path.suffix in (".yaml", ".yml"):
            path = _load(path).state_dir / "status.json"
        if not path.exists():
            err.print(f"[red]no agent status at {path}: is the agent running?[/red]")
            raise typer.Exit(2)
        where = str(path)
    try:
        first = measure.agent_figures(where)
        started = time.monotonic()
        time.sleep(interval)
        second = measure.agent_figures(where)
    except (OSError, ValueError) as exc:
        err.print(f"[red]cannot read the agent's figures from {agent}: {exc}[/red]")
        raise typer.Exit(2) from None
    seconds = time.monotonic() - started
    if first.get("at") and second.get("at") and second["at"] > first["at"]:
        seconds = second["at"] - first["at"]  # status.json: the agent's own timestamps
    return measure.measure_agent(first, second, seconds, agent)


def _report(volume: Any, config: Config) -> dict[str, Any]:
    from edgewatch.cost.prices import monthly

    prices = config.reduce.prices
    stages: dict[str, Any] = {}
    for name, billed, records in (
        ("raw", volume.raw_bytes, volume.events),
        ("filtered", volume.filtered_bytes, volume.kept),
        ("aggregated", volume.aggregated_bytes, volume.records),
    ):
        gb_day = volume.per_day(billed)
        stages[name] = {
            "records": records,
            "billed_bytes": billed,
            "gb_per_day": gb_day,
            "monthly": None if gb_day is None else monthly(prices, gb_day),
        }
    raw = volume.raw_bytes
    agg = volume.aggregated_bytes
    return {
        "source": volume.source,
        "span_seconds": volume.span_s,
        "stages": stages,
        "reduction": None if not agg else raw / agg,
        "prices": prices.model_dump(),
        "notes": volume.notes,
        "billing": "ContainerLogV2 rows (the stdout path), billed as Log Analytics "
        "measures: stored column values, GB = 10^9 bytes",
    }


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


@app.command()
def cost(
    capture: Annotated[
        Optional[Path],  # noqa: UP045 (typer needs Optional)
        typer.Argument(help="A file of IG output (any format edgewatch reads).", metavar="FILE"),
    ] = None,
    db: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--db", help="A store file: replay the events it holds."),
    ] = None,
    agent: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--agent",
            help="A running agent: its http://host:port (/metrics), its status.json, or "
            "its config file (status.json in its state_dir).",
        ),
    ] = None,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--config",
            "-c",
            help="Agent config: its filters, reduce settings and price table are used.",
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=1, help="Seconds between two agent readings.")
    ] = 30.0,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Estimate the daily volume and monthly price of the node's IG data in Log Analytics.

    Three figures: raw (every IG line on stdout, collected into ContainerLogV2 as the
    seed deploys it), after edgewatch's filters, and after aggregation as well. Each is
    measured as Log Analytics bills it and priced at the Analytics, Basic and Auxiliary
    plans and with the Sentinel add-on, from the price table in the config
    (``reduce.prices``; defaults are dated list prices, check yours).

    A capture or store is replayed through enrichment, the config's filters and
    aggregation (switched on for the estimate); its event-time span gives the daily rate.
    A running agent is read twice, --interval seconds apart.

    Examples:

        edgewatch simulate -n 200000 -o capture.ndjson
        edgewatch cost capture.ndjson -c agent.yaml

        edgewatch cost --db /var/lib/edgewatch/events.duckdb --format json

        edgewatch cost --agent http://127.0.0.1:9100 --interval 60
    """
    if fmt not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    cfg = _load(config) if config is not None else parse_config("dead_letter: {enabled: false}")
    volume = _volume(cfg, capture, db, agent, interval)
    report = _report(volume, cfg)
    if fmt == "json":
        typer.echo(json.dumps(report, indent=1))
        return
    prices = cfg.reduce.prices
    console = Console()
    span = report["span_seconds"]
    console.print(f"source: {report['source']} ({span:,.0f} s of events)")
    table = Table(
        title=f"Billed volume and monthly price ({prices.currency})", title_justify="left"
    )
    for column in ("stage", "records", "GB/day", "Analytics", "Basic", "Auxiliary", "+Sentinel"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, label in (("raw", "raw"), ("filtered", "filtered"), ("aggregated", "aggregated")):
        s = report["stages"][name]
        m = s["monthly"] or {}
        gb = s["gb_per_day"]
        table.add_row(
            label,
            "n/a" if s["records"] is None else f"{s['records']:,}",
            "n/a" if gb is None else f"{gb:,.3f}",
            _money(m.get("analytics")),
            _money(m.get("basic")),
            _money(m.get("auxiliary")),
            _money(m.get("analytics+sentinel")),
        )
    console.print(table)
    console.print(
        "raw: every IG line on stdout into ContainerLogV2 (the seed's path); filtered: after "
        "the config's filters; aggregated: after enrichment and aggregation as well"
    )
    if report["reduction"]:
        console.print(f"raw / after aggregation: {report['reduction']:.1f}x fewer billed bytes")
    console.print(
        f"prices per GB ({prices.as_of}): Analytics {prices.analytics_per_gb}, Basic "
        f"{prices.basic_per_gb}, Auxiliary {prices.auxiliary_per_gb}, Sentinel add-on "
        f"{prices.sentinel_per_gb} {prices.currency}; first {prices.free_gb_per_month:g} GB "
        "a month free on Analytics; retention not included"
    )
    for note in report["notes"]:
        console.print(f"[yellow]note: {note}[/yellow]")

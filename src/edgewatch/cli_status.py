"""``edgewatch status``: what a running (or stopped) agent last reported."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgewatch.cli import _load, app, err


@app.command()
def status(
    config: Annotated[Path, typer.Option("--config", "-c", help="The agent config (YAML).")],
    as_json: Annotated[bool, typer.Option("--json", help="The raw figures, as JSON.")] = False,
) -> None:
    """Show each destination's queue, disk use, oldest unsent event, last success and error.

    Reads the status file the agent rewrites every 5 seconds in its state directory, so
    it also answers for an agent that is stuck, saying how old the figures are.

    Example:

        edgewatch status -c /etc/edgewatch/agent.yaml
    """
    cfg = _load(config)
    path = cfg.state_dir / "status.json"
    if not path.exists():
        err.print(f"[red]no status at {path}: is the agent running with this config?[/red]")
        raise typer.Exit(2)
    doc = json.loads(path.read_text())
    if as_json:
        typer.echo(json.dumps(doc, indent=1))
        return
    age = time.time() - float(doc.get("written_at", 0))
    console = Console()
    console.print(f"agent pid {doc.get('pid')}, figures from {age:.0f}s ago")
    table = Table(title="Destinations", title_justify="left")
    for column in (
        "destination",
        "queued",
        "on disk",
        "oldest unsent",
        "sent",
        "last success",
        "last error",
    ):
        table.add_column(column)
    for name, d in sorted(doc.get("destinations", {}).items()):
        last = d.get("last_success")
        table.add_row(
            name,
            f"{d.get('queued_events', 0):,}",
            f"{d.get('bytes_on_disk', 0) / 2**20:.1f} MiB",
            f"{d.get('oldest_unsent_age_s', 0):.0f}s",
            f"{d.get('records_sent', 0):,}",
            "never" if not last else f"{time.time() - float(last):.0f}s ago",
            str(d.get("last_error") or ""),
        )
    console.print(table)

"""``edgewatch serve``: the local dashboard on the node's store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from edgewatch.cli import LogLevel, _load, _setup_logging, app, err
from edgewatch.cli_store import DbOption, WatchlistsOption, _default_db, _store_from

if TYPE_CHECKING:
    from edgewatch.hunt.watchlists import WatchlistSettings
    from edgewatch.web.server import Dashboard

#: as in ``edgewatch.web.security`` (not imported here: starlette loads only to serve)
TOKEN_ENV = "EDGEWATCH_WEB_TOKEN"


def _token(token_file: Path | None) -> str | None:
    """The API token, from a file or the environment; never from the command line."""
    from edgewatch.web.security import TokenError, read_token

    try:
        return read_token(token_file, os.environ)
    except TokenError as exc:
        raise typer.BadParameter(str(exc), "--token-file" if token_file else None) from None


def announce_login(dash: Dashboard) -> None:
    """The one-time login link, when a token is needed, and a word on plain HTTP.

    Printed, never logged: the link's key lets one browser in (once).
    """
    from edgewatch.web.security import is_loopback

    login = dash.login_url()
    if not login:
        return
    err.print(
        "A token is required. Open this login link once in your browser "
        f"(it works once):\n  {login}",
        markup=False,
        highlight=False,
    )
    if not is_loopback(dash.listener.host) and dash.listener.tls_cert is None:
        err.print(
            "[yellow]served without TLS: put it behind TLS (--tls-cert/--tls-key) "
            "on an untrusted network[/yellow]"
        )


def serve_store(
    db: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    status: Path | None = None,
    token: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    timeout: float = 60.0,
    memory_limit: str = "2GB",
    watchlists: WatchlistSettings | None = None,
) -> None:
    """Serve ``db`` until interrupted; prints where, and the login link when one is needed."""
    from edgewatch.web.app import ServeSettings
    from edgewatch.web.security import Guard, is_loopback, new_token
    from edgewatch.web.server import Dashboard, Listener
    from edgewatch.web.store import AccessSettings

    if not db.exists():
        err.print(
            f"[red]no store at {db}[/red]: fill one with 'edgewatch ingest FILE --db {db}' "
            "or run an agent with a store sink"
        )
        raise typer.Exit(2)
    if token is None and not is_loopback(host):
        token = new_token()  # browsers log in with the one-time link below
    guard = Guard.for_bind(host, port, token, secure_cookie=tls_cert is not None)
    settings = ServeSettings(
        access=AccessSettings(
            path=db, memory_limit=memory_limit, kql_timeout_s=timeout, watchlists=watchlists
        ),
        guard=guard,
        status_path=status,
    )
    listener = Listener(
        host, port, str(tls_cert) if tls_cert else None, str(tls_key) if tls_key else None
    )
    try:
        dash = Dashboard(settings, listener)
    except OSError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    err.print(f"[bold]edgewatch dashboard[/bold] on {dash.url}/  (store {db}; Ctrl+C stops)")
    announce_login(dash)
    dash.run()


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Anything but loopback requires a token "
            f"(--token-file or ${TOKEN_ENV}; a login link is printed at start).",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535)] = 8765,
    status: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional
        typer.Option(
            "--status",
            help="The agent's status.json (drops by reason, destination health). "
            "Default: the config's state_dir/status.json.",
        ),
    ] = None,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Find the store and status file through this config."),
    ] = None,
    token_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--token-file", help=f"File holding the API token (or ${TOKEN_ENV})."),
    ] = None,
    tls_cert: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--tls-cert", help="Serve HTTPS with this certificate (PEM)."),
    ] = None,
    tls_key: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--tls-key", help="The certificate's private key (PEM)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Time limit of a KQL query (seconds).")
    ] = 60.0,
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="DuckDB memory limit for the dashboard.")
    ] = "2GB",
    watchlists: WatchlistsOption = None,
    log_level: LogLevel = "warning",
) -> None:
    """A dashboard on the local store: traffic, DNS, TLS, processes, seccomp, alerts, KQL.

    Read-only: the store is opened read-only, only while pages are being looked at, so
    an agent can take it back when the dashboard is idle (DuckDB allows one writer or
    many readers, not both). While an agent writes the store, pages answer 503 (store
    busy): for live data, turn on the agent's own dashboard instead ('dashboard:
    {enabled: true}' in its config; same pages, served by 'edgewatch run'). Listens on
    127.0.0.1 unless told otherwise.

    Examples:

        edgewatch serve --db store.duckdb

        edgewatch serve -c /etc/edgewatch/agent.yaml

        edgewatch serve --db store.duckdb --watchlists /etc/edgewatch/watchlists

        EDGEWATCH_WEB_TOKEN=$(cat /run/secrets/web) edgewatch serve --host 0.0.0.0
    """
    _setup_logging(log_level)
    from edgewatch.hunt.watchlists import settings_for

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither")
    cfg = _load(config) if config else None
    store_cfg = _store_from(cfg)
    path = db or (store_cfg.path if store_cfg else None) or _default_db()
    if status is None and cfg is not None:
        status = cfg.state_dir / "status.json"
    serve_store(
        Path(path),
        host=host,
        port=port,
        status=status,
        token=_token(token_file),
        tls_cert=tls_cert,
        tls_key=tls_key,
        timeout=timeout,
        memory_limit=memory_limit,
        watchlists=settings_for(watchlists, cfg.dashboard if cfg else None),
    )

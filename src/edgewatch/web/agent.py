"""The dashboard inside the agent: its store's pages, live, while the agent writes it.

DuckDB lets one process write a file or many read it, never both, so ``edgewatch serve``
cannot open a store a running agent holds. Inside the agent no second open is needed:
the dashboard reads through the writer's own database instance (cursors of its
connection) and shows what the writer has inserted, at most its flush interval late.
What keeps it from changing the store is in ``store.py`` and ``readonly.py``.

Same pages, API and access rules as ``edgewatch serve``; the token comes from a file
only, since the agent's children (``ig``) inherit its environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgewatch.config import Config
from edgewatch.hunt.watchlists import settings_for
from edgewatch.web.app import ServeSettings
from edgewatch.web.security import Guard, read_token
from edgewatch.web.server import Dashboard, Listener
from edgewatch.web.store import AccessSettings


class DashboardError(Exception):
    """The dashboard cannot start; the message says why."""


def start_dashboard(cfg: Config, sinks: Sequence[object]) -> Dashboard | None:
    """Serve the dashboard on the store sink among ``sinks`` (None: not configured).

    Call it once the pipeline is built (the store is open); stop the dashboard before
    the pipeline closes, since closing the store closes the dashboard's cursors.
    """
    from edgewatch.sinks.store import StoreSink

    store_cfg = cfg.dashboard_store()
    if store_cfg is None:
        return None
    sink = next((s for s in sinks if isinstance(s, StoreSink) and s.name == store_cfg.name), None)
    if sink is None:  # the config validated; a pipeline built otherwise lacks the sink
        raise DashboardError(f"no store sink named {store_cfg.name!r} is running")
    options = cfg.dashboard
    try:
        token = read_token(options.token_file)  # a file only: no environment lookup
        guard = Guard.for_bind(
            options.host,
            options.port,
            token,
            secure_cookie=options.tls_cert is not None,
            token_hint="dashboard.token_file",
        )
    except ValueError as exc:
        raise DashboardError(str(exc)) from None
    settings = ServeSettings(
        access=AccessSettings(
            path=Path(store_cfg.path),
            kql_timeout_s=options.kql_timeout.total_seconds(),
            shared=sink.writer.con,
            watchlists=settings_for(None, options),
        ),
        guard=guard,
        status_path=cfg.state_dir / "status.json",
    )
    listener = Listener(
        options.host,
        options.port,
        str(options.tls_cert) if options.tls_cert else None,
        str(options.tls_key) if options.tls_key else None,
    )
    try:
        dash = Dashboard(settings, listener)
        dash.start()
    except OSError as exc:
        raise DashboardError(str(exc)) from None
    return dash

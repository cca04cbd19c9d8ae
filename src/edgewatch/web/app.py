"""The dashboard's FastAPI application: JSON API, pages, static files, security."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from edgewatch.hunt import engine
from edgewatch.store.database import StoreBusyError, StoreError, get_meta
from edgewatch.web import kql as kqlrun
from edgewatch.web import models as m
from edgewatch.web.pages import mount_pages
from edgewatch.web.queries import alerts as alerts_q
from edgewatch.web.queries import dns as dns_q
from edgewatch.web.queries import network as network_q
from edgewatch.web.queries import overview as overview_q
from edgewatch.web.queries import processes as processes_q
from edgewatch.web.queries import seccomp as seccomp_q
from edgewatch.web.queries import tls as tls_q
from edgewatch.web.queries.base import Ctx, newest_oldest
from edgewatch.web.security import Guard
from edgewatch.web.status import read_status
from edgewatch.web.store import AccessSettings, QueryTimeoutError, StoreAccess
from edgewatch.web.window import (
    DEFAULT_WINDOW,
    NAME_PATTERN,
    WindowError,
    iso,
    scope_for,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
OPENAPI_URL = "/api/openapi.json"
#: how long the newest/oldest event times are reused between requests
_BOUNDS_TTL_S = 2.0
#: how long the filters' namespace/pod lists are reused
_OPTIONS_TTL_S = 30.0


@dataclass
class ServeSettings:
    access: AccessSettings
    guard: Guard = field(default_factory=Guard)
    #: the agent's status.json (drops, destination health); None: not shown
    status_path: Path | None = None


class ApiError(Exception):
    def __init__(self, status: int, error: str, line: int | None = None, col: int | None = None):
        super().__init__(error)
        self.status = status
        self.body = m.ErrorBody(error=error, line=line, column=col)


Since = Annotated[
    str,
    Query(
        max_length=32,
        description="time window ending at the newest event: 15m, 1h, 24h, 7d … or 'all'",
    ),
]
Namespace = Annotated[
    str, Query(max_length=253, pattern=NAME_PATTERN, description="only this namespace")
]
Pod = Annotated[str, Query(max_length=253, pattern=NAME_PATTERN, description="only this pod")]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": m.ErrorBody, "description": "bad input (a bad window, a KQL error)"},
    401: {"model": m.ErrorBody, "description": "a token is needed"},
    503: {"model": m.ErrorBody, "description": "the store is busy, missing or too slow"},
}


class _Bounds:
    """Newest/oldest event times, cached briefly: every page needs them first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[Any, Any] = (None, None)
        self._at = -1e9

    def get(self, access: StoreAccess, cur: Any) -> tuple[Any, Any]:
        with self._lock:
            if time.monotonic() - self._at < _BOUNDS_TTL_S:
                return self._value
        value = newest_oldest(access, cur)
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value


def create_app(settings: ServeSettings) -> FastAPI:
    access = StoreAccess(settings.access)
    bounds = _Bounds()
    app = FastAPI(
        title="edgewatch dashboard API",
        version="1",
        description="Read-only views of the node's event store, and KQL hunting on it.",
        openapi_url=OPENAPI_URL,
        docs_url=None,  # Swagger UI loads from a CDN: not on an air-gapped site
        redoc_url=None,
    )
    app.state.access = access
    app.state.settings = settings
    app.middleware("http")(settings.guard.middleware)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body.model_dump(), status_code=exc.status)

    @contextmanager
    def store_errors() -> Iterator[None]:
        try:
            yield
        except WindowError as exc:
            raise ApiError(400, str(exc)) from None
        except StoreBusyError as exc:
            raise ApiError(503, str(exc)) from None
        except QueryTimeoutError as exc:
            raise ApiError(503, str(exc)) from None
        except StoreError as exc:
            raise ApiError(503, str(exc)) from None

    def page(
        since: str, namespace: str, pod: str, build: Callable[[Ctx], T], names: bool = True
    ) -> T:
        with store_errors(), access.cursor() as cur:
            newest, oldest = bounds.get(access, cur)
            kw = {"namespace": namespace, "pod": pod} if names else {}
            scope = scope_for(since, newest, oldest, **kw)
            return build(Ctx(access, cur, scope))

    @app.get("/api/store", response_model=m.StoreInfo, responses=ERRORS, tags=["store"])
    def store_info() -> m.StoreInfo:
        """The store: its node, event counts per gadget, and the time it covers."""
        with store_errors(), access.cursor() as cur:
            newest, oldest = bounds.get(access, cur)
            counts = access.query(
                "SELECT table_name, estimated_size FROM duckdb_tables() "
                "WHERE table_name LIKE 'events\\_%' ESCAPE '\\' ORDER BY table_name",
                cur=cur,
            )
            return m.StoreInfo(
                path=str(access.path),
                node=get_meta(cur, "node"),
                tables=[
                    m.GadgetCount(gadget=t.removeprefix("events_"), events=n) for t, n in counts
                ],
                newest=iso(newest),
                oldest=iso(oldest),
                alerts_table=alerts_q.alerts_table(access.tables()),
            )

    @app.get("/api/overview", response_model=m.Overview, responses=ERRORS, tags=["pages"])
    def overview(
        since: Since = DEFAULT_WINDOW, namespace: Namespace = "", pod: Pod = ""
    ) -> m.Overview:
        """Events per gadget over time and by namespace, failed connects, agent drops."""
        agent = read_status(settings.status_path)
        return page(since, namespace, pod, lambda ctx: overview_q.overview(ctx, agent))

    @app.get("/api/network", response_model=m.Network, responses=ERRORS, tags=["pages"])
    def network(
        since: Since = DEFAULT_WINDOW,
        namespace: Namespace = "",
        pod: Pod = "",
        limit: Annotated[int, Query(ge=1, le=500)] = network_q.EDGE_LIMIT,
    ) -> m.Network:
        """Pod → destination edges (outbound connects) with DNS names, public marked."""
        return page(since, namespace, pod, lambda ctx: network_q.network(ctx, limit))

    option_cache: dict[str, tuple[float, m.Options]] = {}

    @app.get("/api/options", response_model=m.Options, responses=ERRORS, tags=["pages"])
    def options(since: Since = DEFAULT_WINDOW) -> m.Options:
        """Namespaces and pods seen in the window: the choices of the filters.

        Every page asks for them; pods come and go slowly, so they are reused for
        ``_OPTIONS_TTL_S`` (a scan of every table is the dearest query of a page).
        """
        key = since.strip().lower()
        hit = option_cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < _OPTIONS_TTL_S:
            return hit[1]
        result = page(since, "", "", network_q.options, names=False)
        if len(option_cache) > 32:
            option_cache.clear()
        option_cache[key] = (time.monotonic(), result)
        return result

    @app.get("/api/dns", response_model=m.Dns, responses=ERRORS, tags=["pages"])
    def dns(
        since: Since = DEFAULT_WINDOW,
        namespace: Namespace = "",
        pod: Pod = "",
        search_path: Annotated[
            bool, Query(description="count failed search-path expansions (*.cluster.local.)")
        ] = False,
    ) -> m.Dns:
        """Top names, failed lookups and tunnel-like names."""
        return page(since, namespace, pod, lambda ctx: dns_q.dns(ctx, search_path))

    @app.get("/api/tls", response_model=m.Tls, responses=ERRORS, tags=["pages"])
    def tls(since: Since = DEFAULT_WINDOW, namespace: Namespace = "", pod: Pod = "") -> m.Tls:
        """TLS server names per pod, with when each was first seen."""
        return page(since, namespace, pod, tls_q.tls)

    @app.get("/api/processes", response_model=m.Processes, responses=ERRORS, tags=["pages"])
    def processes(
        since: Since = DEFAULT_WINDOW, namespace: Namespace = "", pod: Pod = ""
    ) -> m.Processes:
        """Program starts per container, shells listed apart."""
        return page(since, namespace, pod, processes_q.processes)

    @app.get("/api/seccomp", response_model=m.Seccomp, responses=ERRORS, tags=["pages"])
    def seccomp(
        since: Since = DEFAULT_WINDOW, namespace: Namespace = "", pod: Pod = ""
    ) -> m.Seccomp:
        """Seccomp verdicts by syscall and by container."""
        return page(since, namespace, pod, seccomp_q.seccomp)

    @app.get("/api/alerts", response_model=m.Alerts, responses=ERRORS, tags=["pages"])
    def alerts(since: Since = DEFAULT_WINDOW, namespace: Namespace = "", pod: Pod = "") -> m.Alerts:
        """The newest alerts detections wrote into the store, evidence included."""
        return page(since, namespace, pod, alerts_q.alerts)

    @app.get("/api/queries", response_model=list[m.HuntQueryInfo], tags=["kql"])
    def queries() -> list[m.HuntQueryInfo]:
        """The bundled hunting queries (the same as `edgewatch hunt --list`)."""
        return kqlrun.bundled()

    @app.post("/api/kql", response_model=m.KqlResult, responses=ERRORS, tags=["kql"])
    def kql(request: Annotated[m.KqlRequest, Body()]) -> m.KqlResult:
        """Run KQL on the store: read-only, time- and memory-limited, as `edgewatch hunt`."""
        limit = settings.access.kql_timeout_s
        timeout = min(request.timeout_s or limit, limit)
        with store_errors(), access.hunting(wait_s=timeout) as con:
            try:
                return kqlrun.run(con, request.query, timeout, request.max_rows, access.check)
            except engine.HuntError as exc:
                line, col = kqlrun.position(str(exc))
                raise ApiError(400, str(exc), line, col) from None
            except (StoreError, QueryTimeoutError):
                raise
            except Exception as exc:  # the query's fault until shown otherwise: say so
                log.warning("KQL query failed: %s: %s", type(exc).__name__, exc)
                raise ApiError(400, f"cannot run this query: {exc}") from None

    mount_pages(app)
    return app

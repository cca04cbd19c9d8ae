"""The JSON shapes of the API: each page's data, documented in the OpenAPI spec."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Cell = str | int | float | bool | None


class Window(BaseModel):
    """The time window a response covers (ends at the newest event in the store)."""

    since: str = Field(description="the window asked for: a duration such as 24h, or 'all'")
    start: str | None = Field(description="ISO 8601 UTC")
    end: str | None = Field(description="ISO 8601 UTC: the newest event in the store")
    start_ns: int
    end_ns: int
    namespace: str = ""
    pod: str = ""


class Table(BaseModel):
    """Rows with named columns, as the pages' tables show them."""

    columns: list[str]
    rows: list[list[Cell]]
    #: more rows matched than were returned
    truncated: bool = False


class Series(BaseModel):
    """One line of a time chart: bucket start times (ISO) and a count per bucket."""

    name: str
    x: list[str]
    y: list[int]


class GadgetCount(BaseModel):
    gadget: str
    events: int


class StoreInfo(BaseModel):
    path: str
    node: str
    tables: list[GadgetCount]
    newest: str | None
    oldest: str | None
    alerts_table: str | None


class AgentStatus(BaseModel):
    """What the agent last wrote to its status file (absent: no file given or found)."""

    present: bool
    path: str | None = None
    age_s: float | None = None
    drops: Table
    destinations: Table
    note: str = ""


class Overview(BaseModel):
    window: Window
    totals: list[GadgetCount]
    over_time: list[Series]
    bucket_s: float
    by_namespace: Table
    failed_connects: Table
    agent: AgentStatus


class Edge(BaseModel):
    namespace: str
    pod: str
    destination: str
    port: int
    name: str | None = Field(description="the DNS name that answered with this address")
    address_class: str = Field(description="public, private, loopback …")
    connections: int
    failed: int


class Network(BaseModel):
    window: Window
    edges: list[Edge]
    truncated: bool
    public_destinations: int


class Options(BaseModel):
    """Namespaces and pods seen in the window, for the filters."""

    window: Window
    namespaces: list[str]
    pods: list[list[str]]


class Dns(BaseModel):
    window: Window
    top_names: Table
    failed: Table
    suspicious: Table
    queries: int
    failures: int


class Tls(BaseModel):
    window: Window
    sni: Table
    new_in_window: int


class Processes(BaseModel):
    window: Window
    containers: Table
    shells: Table
    shell_execs: int


class Seccomp(BaseModel):
    window: Window
    by_syscall: Table
    detail: Table


class Alerts(BaseModel):
    window: Window
    present: bool
    table: str | None
    alerts: Table
    note: str = ""


class HuntQueryInfo(BaseModel):
    name: str
    title: str
    finds: str
    mitre: list[str]
    gadgets: list[str]
    text: str


class KqlRequest(BaseModel):
    query: str = Field(min_length=1, max_length=100_000, description="KQL text")
    timeout_s: float | None = Field(
        default=None, gt=0, le=600, description="at most the server's own limit"
    )
    max_rows: int = Field(default=5000, ge=1, le=50_000)


class KqlResult(BaseModel):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    seconds: float


class ErrorBody(BaseModel):
    """Why a request failed; for KQL, where in the query (1-based line and column)."""

    error: str
    line: int | None = None
    column: int | None = None

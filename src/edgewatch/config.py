"""The agent's one YAML config file: schema, loading, and errors that point at the line.

An edge node is usually configured through a ConfigMap that somebody edited by hand, so
a mistake must be reported precisely — the key path *and* the line — and all mistakes at
once, before anything runs. ``edgewatch validate-config FILE`` runs exactly this.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgewatch.deploy.k8s.config import KubernetesConfig
from edgewatch.detect.config import DetectConfig
from edgewatch.events.registry import DEFAULT_GADGETS, lookup
from edgewatch.pipeline.reduce_config import ReduceConfig
from edgewatch.sinks.azure.config import AzureLogsIngestionConfig
from edgewatch.units import parse_duration

#: ``24h``, ``7d``, ``90s`` …, or a number of seconds
Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]

# -- schema ---------------------------------------------------------------------------


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently disable a filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_gadgets(names: list[str]) -> list[str]:
    unknown = [n for n in names if lookup(n) is None]
    if unknown:
        raise ValueError(
            f"unknown gadget(s) {', '.join(map(repr, unknown))}; known: trace_tcp, trace_dns, "
            "trace_sni, trace_exec, audit_seccomp, trace_open, trace_bind, trace_signal, "
            "trace_capabilities, trace_oomkill (or their short names tcp, dns, ...)"
        )
    return names


def _check_globs(patterns: list[str]) -> list[str]:
    for p in patterns:
        if not p:
            raise ValueError("empty pattern; remove it or use '*'")
        if p.count("[") != p.count("]"):
            raise ValueError(f"pattern {p!r} has an unbalanced '['")
    return patterns


class SelectorConfig(_Strict):
    """Glob patterns (``*``, ``?``, ``[abc]``) on the event's Kubernetes context.

    In ``include`` every non-empty list must match (a list matches when any of its
    patterns does). In ``exclude`` any match drops the event.
    """

    namespaces: list[str] = []
    pods: list[str] = []
    containers: list[str] = []
    images: list[str] = []
    #: label key -> value pattern; in ``include`` all must match, in ``exclude`` any.
    labels: dict[str, str] = {}
    gadgets: list[str] = []

    _globs = field_validator("namespaces", "pods", "containers", "images")(_check_globs)
    _gadgets = field_validator("gadgets")(_check_gadgets)

    def is_empty(self) -> bool:
        return not (
            self.namespaces
            or self.pods
            or self.containers
            or self.images
            or self.labels
            or self.gadgets
        )


class NoiseConfig(_Strict):
    """The noise the seed asks to drop before anything leaves the node."""

    #: connections to and DNS lookups answered by 127.0.0.0/8 or ::1
    loopback: bool = False
    #: lookups of in-cluster names (``*.cluster.local.``)
    cluster_local_dns: bool = False
    #: process names (``comm``, glob patterns) whose events are dropped, e.g. ``coredns``
    processes: list[str] = []
    #: keep only connections to public (internet) or only to private destinations
    destinations: Literal["any", "public", "private"] = "any"

    _globs = field_validator("processes")(_check_globs)


class FiltersConfig(_Strict):
    include: SelectorConfig = SelectorConfig()
    exclude: SelectorConfig = SelectorConfig()
    #: events of processes outside any pod (host processes, ``ig --host``)
    host_events: bool = True
    noise: NoiseConfig = NoiseConfig()
    #: push exact namespace/pod/container/label selectors into IG's in-kernel filter
    pushdown: bool = True


class RestartConfig(_Strict):
    initial: float = Field(1.0, gt=0, le=3600)
    max: float = Field(60.0, gt=0, le=86400)


class IgSourceConfig(_Strict):
    """Run IG's gadgets: one ``ig daemon`` (IG >= 0.51) or one ``ig run`` per gadget."""

    type: Literal["ig"]
    name: str = "ig"
    mode: Literal["daemon", "run"] = "daemon"
    binary: str = "ig"
    gadgetctl: str = "gadgetctl"
    #: IG version; detected with ``ig version`` when unset
    version: str | None = None
    gadgets: list[str] = list(DEFAULT_GADGETS)
    #: extra arguments per gadget, e.g. ``{trace_tcp: ["--connect-only"]}``
    gadget_params: dict[str, list[str]] = {}
    #: also trace processes outside containers
    host: bool = False
    image_prefix: str = "ghcr.io/inspektor-gadget/gadget/"
    #: gadget image tag; default: the IG version itself (gadgets built for another IG
    #: version may not load), ``latest`` when the version is unknown
    image_tag: str | None = None
    restart: RestartConfig = RestartConfig()
    stop_timeout: float = Field(3.0, gt=0, le=30)

    _gadgets = field_validator("gadgets")(_check_gadgets)

    @field_validator("gadget_params")
    @classmethod
    def _params_gadgets(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        _check_gadgets(list(v))
        return v


#: The container names of the seed's multi-gadget IG DaemonSet.
SEED_CONTAINER_GADGETS: Mapping[str, str] = {
    "ig-tcp": "trace_tcp",
    "ig-dns": "trace_dns",
    "ig-sni": "trace_sni",
    "ig-exec": "trace_exec",
    "ig-seccomp": "audit_seccomp",
}


class CriSourceConfig(_Strict):
    """Tail kubelet's container logs of an existing IG DaemonSet, like ``tail -F``."""

    type: Literal["cri"]
    name: str = "cri"
    paths: list[str] = ["/var/log/containers/*_gadget_ig-*.log"]
    #: where read offsets survive restarts; default ``<state_dir>/<name>-offsets.json``
    checkpoint: Path | None = None
    container_gadgets: dict[str, str] = dict(SEED_CONTAINER_GADGETS)
    poll_interval: float = Field(0.25, gt=0, le=60)
    start_at: Literal["beginning", "end"] = "beginning"

    @field_validator("container_gadgets")
    @classmethod
    def _mapped_gadgets(cls, v: dict[str, str]) -> dict[str, str]:
        _check_gadgets(list(v.values()))
        return v


class FileSourceConfig(_Strict):
    """NDJSON (or CRI log) files; ``-`` is standard input."""

    type: Literal["file"]
    name: str = "file"
    paths: list[str] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_path(cls, data: Any) -> Any:
        """``path: X`` is the natural spelling for one file."""
        if isinstance(data, dict) and "path" in data and "paths" not in data:
            data = {**data, "paths": [data["path"]]}
            del data["path"]
        return data

    #: the gadget that wrote these lines; inferred per line when unset
    gadget: str | None = None
    follow: bool = False

    @field_validator("gadget")
    @classmethod
    def _gadget(cls, v: str | None) -> str | None:
        if v is not None:
            _check_gadgets([v])
        return v


SourceConfig = Annotated[
    IgSourceConfig | CriSourceConfig | FileSourceConfig, Field(discriminator="type")
]


class StdoutSinkConfig(_Strict):
    type: Literal["stdout"]
    name: str = "stdout"
    #: ``ig``: IG's JSON unchanged (the ContainerLogV2 path); ``normalized``: typed columns
    format: Literal["ig", "normalized"] = "ig"


class FileSinkConfig(_Strict):
    type: Literal["file"]
    name: str = "file"
    path: Path
    format: Literal["ig", "normalized"] = "normalized"
    max_bytes: ByteSize = ByteSize(100 * 1024 * 1024)
    max_files: int = Field(5, ge=1, le=1000)


class ContainerLogConfig(_Strict):
    """What the local ``ContainerLogV2`` view says about the collecting container.

    In Log Analytics these columns describe IG's DaemonSet container, not the workload;
    the defaults are the seed's container names, so its queries run unchanged.
    """

    #: gadget -> ContainerName (default ``ig-<gadget>``: ig-tcp, ig-dns, ig-sni …)
    container_names: dict[str, str] = {}
    pod_name: str = ""
    pod_namespace: str = ""

    @field_validator("container_names")
    @classmethod
    def _known_gadgets(cls, value: dict[str, str]) -> dict[str, str]:
        _check_gadgets(list(value))
        return {lookup(k).family: v for k, v in value.items()}  # type: ignore[union-attr]


class StoreSinkConfig(_Strict):
    """The local DuckDB store that ``edgewatch hunt`` queries with KQL."""

    type: Literal["store"]
    name: str = "store"
    path: Path
    #: the store deletes its oldest events to stay under this
    max_bytes: ByteSize = ByteSize(1024**3)
    #: events older than this (counted back from the newest) are deleted; null keeps all
    max_age: Duration | None = dt.timedelta(days=7)
    #: what DuckDB may hold in memory for this store (its inserts, retention, and the
    #: agent dashboard's queries, which share the instance); beyond it, it spills to
    #: disk or fails the query. DuckDB's own default is 80% of the machine's memory,
    #: too much for an agent beside the workloads it watches.
    memory_limit: ByteSize = ByteSize(512 * 1024**2)
    container_log: ContainerLogConfig = ContainerLogConfig()

    @field_validator("max_bytes", "memory_limit")
    @classmethod
    def _at_least(cls, value: ByteSize, info: ValidationInfo) -> ByteSize:
        """Room for the empty tables on disk; for a row group's insert in memory."""
        least = {"max_bytes": 16, "memory_limit": 64}[str(info.field_name)]
        if value < least * 1024 * 1024:
            raise ValueError(f"a store needs a {info.field_name} of at least {least}MiB")
        return value


SinkConfig = Annotated[
    StdoutSinkConfig | FileSinkConfig | StoreSinkConfig, Field(discriminator="type")
]


class RouteMatchConfig(_Strict):
    """Globs; an event matches when every given key matches (an empty match: everything)."""

    namespace: list[str] = []
    pod: list[str] = []
    #: ``key=value`` globs against the pod's labels
    label: list[str] = []
    gadget: list[str] = []

    @field_validator("namespace", "pod", "label")
    @classmethod
    def _globs(cls, v: list[str]) -> list[str]:
        return _check_globs(v)

    @field_validator("gadget")
    @classmethod
    def _gadgets(cls, v: list[str]) -> list[str]:
        return _check_gadgets(v)


class RouteConfig(_Strict):
    match: RouteMatchConfig = RouteMatchConfig()
    #: destination names; the first route an event matches decides where it goes
    to: list[str] = Field(min_length=1)


class BufferConfig(_Strict):
    """The disk buffer in front of every remote destination (one directory each)."""

    #: default ``<state_dir>/buffer``
    path: Path | None = None
    #: the cap for each destination's buffer
    max_bytes: ByteSize = ByteSize(2 * 1024**3)
    #: full buffer: delete the oldest (counted) or stop reading sources
    overflow: Literal["drop_oldest", "block"] = "drop_oldest"
    #: ``batch``: nothing acknowledged is lost on power loss; ``interval``: up to ~1 s
    fsync: Literal["batch", "interval", "never"] = "batch"


class HttpConfig(_Strict):
    """The agent's ``/metrics``, ``/healthz`` and ``/readyz`` endpoints."""

    #: ``host:port``; null turns the endpoints off. Localhost unless you open it (a
    #: DaemonSet for Prometheus: ``0.0.0.0:9464``).
    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is None:
            return v
        _host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{v!r} is not host:port (e.g. 127.0.0.1:9464)")
        return v


class DashboardConfig(_Strict):
    """The web dashboard served by the agent itself: its store, live.

    ``edgewatch serve`` cannot read a store while an agent writes it (DuckDB allows one
    writing process or many reading ones, never both); served from inside the agent,
    the dashboard reads through the writer's own database. Same pages, API and security
    as ``edgewatch serve``.
    """

    enabled: bool = False
    #: ``host:port``; loopback unless you open it, which needs ``token_file``. Port 0
    #: takes any free port (logged at start).
    listen: str = "127.0.0.1:8765"
    #: a file holding the API token (16+ characters); a file, not a value, so the token
    #: stays out of the config and the environment the agent's children inherit
    token_file: Path | None = None
    #: serve HTTPS with this certificate and its key (PEM files)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: the time limit of a KQL query
    kql_timeout: Duration = dt.timedelta(seconds=60)
    #: the store sink shown, by name (default: the first store sink)
    store: str | None = None
    #: Sentinel watchlists for ``_GetWatchlist('alias')``: a directory of ``<alias>.csv``
    #: files (``<alias>.yaml`` beside one may say ``search_key: Column``); also what
    #: ``edgewatch hunt -c`` and ``edgewatch serve -c`` use. None: no watchlists
    watchlists: Path | None = None
    #: a watchlist file larger, or with more rows, is refused
    watchlist_max_bytes: ByteSize = ByteSize(16 * 1024 * 1024)
    watchlist_max_rows: int = Field(200_000, ge=1, le=10_000_000)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"{v!r} is not host:port (e.g. 127.0.0.1:8765)")
        return v

    @field_validator("kql_timeout")
    @classmethod
    def _positive(cls, v: dt.timedelta) -> dt.timedelta:
        if v.total_seconds() < 0.1:
            raise ValueError("a KQL time limit must be at least 0.1s")
        return v

    @model_validator(mode="after")
    def _safe(self) -> DashboardConfig:
        """The rules of ``edgewatch serve``: beyond loopback, a token is a must."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if self.enabled and self.token_file is None:
            from edgewatch.web.security import is_loopback  # the web stack, only when used

            if not is_loopback(self.host):
                raise ValueError(
                    f"listening on {self.host} exposes the store beyond this machine: set "
                    "token_file (a file holding a token of 16+ characters) or listen on "
                    "127.0.0.1"
                )
        return self


class DeadLetterConfig(_Strict):
    #: default ``<state_dir>/dead-letter.ndjson``; ``null`` keeps only the counters
    path: Path | None = None
    enabled: bool = True
    max_bytes: ByteSize = ByteSize(16 * 1024 * 1024)
    max_files: int = Field(2, ge=1, le=100)


class PipelineConfig(_Strict):
    #: lines per batch handed from sources to the pipeline
    batch_lines: int = Field(1024, ge=1, le=65536)
    #: batches queued between sources and the pipeline
    queue_batches: int = Field(64, ge=1, le=10000)
    #: raw bytes queued between sources and the pipeline: the agent's memory bound
    queue_bytes: ByteSize = ByteSize(16 * 1024 * 1024)


def default_node_name() -> str:
    return os.environ.get("NODE_NAME") or socket.gethostname()


class Config(_Strict):
    #: the node's name, written into events where IG leaves ``k8s.node`` empty
    node: str = Field(default_factory=default_node_name)
    state_dir: Path = Path("/var/lib/edgewatch")
    sources: list[SourceConfig] = []
    filters: FiltersConfig = FiltersConfig()
    sinks: list[SinkConfig] = [StdoutSinkConfig(type="stdout")]
    dead_letter: DeadLetterConfig = DeadLetterConfig()
    pipeline: PipelineConfig = PipelineConfig()
    #: Log Analytics / Sentinel workspaces (Logs Ingestion API), each behind its buffer
    destinations: list[AzureLogsIngestionConfig] = []
    #: ordered; none at all sends every event to every destination
    routes: list[RouteConfig] = []
    buffer: BufferConfig = BufferConfig()
    http: HttpConfig = HttpConfig()
    #: enrichment (DNS names, address classes, owners) and aggregation (windows)
    reduce: ReduceConfig = ReduceConfig()
    #: how ``edgewatch deploy k8s`` schedules the agent (the agent itself ignores it)
    kubernetes: KubernetesConfig = KubernetesConfig()
    #: detection rules, threat intelligence, Sigma, and where alerts go
    detect: DetectConfig = DetectConfig()
    #: the web dashboard on the agent's store, served by the agent (live data)
    dashboard: DashboardConfig = DashboardConfig()

    @model_validator(mode="before")
    @classmethod
    def _node_name(cls, data: Any) -> Any:
        """``node_name`` is the same key as ``node`` (the name the Azure docs use)."""
        if isinstance(data, dict) and "node_name" in data:
            if "node" in data:
                raise ValueError("give 'node' or 'node_name', not both")
            data = {**data, "node": data["node_name"]}
            del data["node_name"]
        return data

    @model_validator(mode="after")
    def _routes_name_destinations(self) -> Config:
        known = {d.name for d in self.destinations}
        if len(known) != len(self.destinations):
            raise ValueError("two destinations share a name; give each a unique 'name'")
        for i, route in enumerate(self.routes):
            unknown = [t for t in route.to if t not in known]
            if unknown:
                raise ValueError(
                    f"routes[{i}] sends to unknown destination(s) {', '.join(map(repr, unknown))}"
                    f"; known: {', '.join(sorted(known)) or 'none'}"
                )
        return self

    def buffer_path(self) -> Path:
        return self.buffer.path or self.state_dir / "buffer"

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, items in (("source", self.sources), ("sink", self.sinks)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(
                        f"two {kind}s are named {item.name!r}; give each a unique 'name'"
                    )
                seen.add(item.name)
        return self

    @model_validator(mode="after")
    def _dashboard_has_a_store(self) -> Config:
        if not self.dashboard.enabled:
            return self
        stores = [s.name for s in self.sinks if isinstance(s, StoreSinkConfig)]
        if not stores:
            raise ValueError(
                "dashboard.enabled needs a sink of type store: the dashboard shows the store "
                "the agent writes (add one under sinks, or set dashboard.enabled: false)"
            )
        wanted = self.dashboard.store
        if wanted is not None and wanted not in stores:
            raise ValueError(
                f"dashboard.store {wanted!r} is not a store sink; store sinks: "
                f"{', '.join(map(repr, stores))}"
            )
        return self

    def dashboard_store(self) -> StoreSinkConfig | None:
        """The store sink the dashboard shows (None: the dashboard is off)."""
        if not self.dashboard.enabled:
            return None
        stores = [s for s in self.sinks if isinstance(s, StoreSinkConfig)]
        wanted = self.dashboard.store
        return next((s for s in stores if wanted in (None, s.name)), None)

    def dead_letter_path(self) -> Path | None:
        if not self.dead_letter.enabled:
            return None
        return self.dead_letter.path or self.state_dir / "dead-letter.ndjson"


# -- loading --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    line: int | None
    message: str
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file or "config"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(Exception):
    """The config has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _LineIndex:
    """Maps key paths to the line they are written on, from PyYAML's node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line(self, loc: tuple[Any, ...]) -> int | None:
        node = self.root
        if node is None:
            return None
        best = node.start_mark.line + 1
        for part in loc:
            child = self._child(node, part)
            if child is None:
                continue  # e.g. pydantic's union tag in the location
            node = child
            best = node.start_mark.line + 1
        return best

    @staticmethod
    def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    return value
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            return node.value[part]
        return None


def _walk_duplicates(node: yaml.Node, path: str) -> Iterator[ConfigProblem]:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            line = key.start_mark.line + 1
            sub = f"{path}.{name}" if path else name
            if name in seen:
                yield ConfigProblem(
                    sub, line, f"duplicate key (first defined on line {seen[name]})"
                )
            else:
                seen[name] = line
            yield from _walk_duplicates(value, sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk_duplicates(item, f"{path}[{i}]")


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("ig", "cri", "file", "stdout") and out.endswith("]"):
            continue  # the discriminator pydantic inserts; the user never wrote it
        else:
            out += f".{part}" if out else str(part)
    return out


def _expand_env(value: Any, path: tuple[Any, ...], missing: list[tuple[Any, ...]]) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in os.environ:
                return os.environ[var]
            if default is not None:
                return default
            missing.append((*path, var))
            return ""

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, (*path, k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, i), missing) for i, v in enumerate(value)]
    return value


def parse_config(text: str, filename: str = "config") -> Config:
    """Parse and validate config text; raise ConfigError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [ConfigProblem("", line, f"not valid YAML: {problem}", filename)]
        ) from exc
    index = _LineIndex(root)
    problems = [
        ConfigProblem(p.path, p.line, p.message, filename)
        for p in (_walk_duplicates(root, "") if root is not None else ())
    ]
    data = yaml.safe_load(text) if root is not None else None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(
            ConfigProblem("", 1, "the config must be a mapping of keys to values", filename)
        )
        raise ConfigError(problems)
    missing: list[tuple[Any, ...]] = []
    data = _expand_env(data, (), missing)
    for loc in missing:
        problems.append(
            ConfigProblem(
                _format_loc(loc[:-1]),
                index.line(loc[:-1]),
                f"environment variable {loc[-1]} is not set (use ${{{loc[-1]}:-default}})",
                filename,
            )
        )
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see 'edgewatch validate-config --help')"
            problems.append(ConfigProblem(_format_loc(loc), index.line(loc), msg, filename))
        raise ConfigError(problems) from exc
    if problems:
        raise ConfigError(problems)
    return config


def load_config(path: Path | str) -> Config:
    """Load a config file; raise ConfigError (never a bare traceback) on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("", None, f"cannot read: {exc.strerror}", str(p))]
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem("", None, "not UTF-8 text", str(p))]) from exc
    return parse_config(text, str(p))

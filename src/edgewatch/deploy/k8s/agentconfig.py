"""The agent config that goes into the ConfigMap: validated, fit for the pod, secret-free.

A ConfigMap is readable by anyone who may read the namespace, so a credential must never
be in it: secrets are written as ``${VAR}`` references, and the DaemonSet fills each
variable from a key of a Secret the user creates. The references are kept as written
(never expanded here), so the value of a variable set in the shell that runs the
generator cannot leak into the manifests either.

The pod runs with a read-only root filesystem, so every path the agent writes must be
under its state directory (a host directory, kept across restarts) or ``/tmp``; that,
the metrics address the probes need, and the sources the chosen mode can run are checked
here, before anything is applied, with messages that say what to change.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

import yaml

from edgewatch.config import (
    SEED_CONTAINER_GADGETS,
    Config,
    ConfigError,
    ConfigProblem,
    CriSourceConfig,
    FileSinkConfig,
    FileSourceConfig,
    IgSourceConfig,
    StoreSinkConfig,
    parse_config,
)
from edgewatch.events.registry import DEFAULT_GADGETS, resolve

#: Where the ConfigMap is mounted (a directory mount: kubelet updates it in place,
#: which a ``subPath`` mount would not, and hot reload depends on that).
CONFIG_DIR = "/etc/edgewatch"
CONFIG_FILE = "agent.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
#: Where the credentials Secret is mounted, for ``client_secret_file`` and certificates
#: (beside the config, not in it: nothing can be mounted inside a ConfigMap volume).
SECRETS_DIR = "/etc/edgewatch-secrets"
#: Writable besides the state directory (an emptyDir).
TMP_DIR = "/tmp"
DEFAULT_PORT = 9464

#: Variables the DaemonSet sets itself (downward API); every other ``${VAR}`` comes
#: from the credentials Secret.
POD_ENV = ("NODE_NAME", "POD_NAME", "POD_NAMESPACE", "HOST_ROOT")
#: Keys whose value is a credential: only a ``${VAR}`` reference may stand there.
SECRET_KEYS = frozenset({"client_secret", "certificate_password"})

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
_ONLY_REF = re.compile(r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*$")


class Mode(StrEnum):
    """What the DaemonSet runs."""

    #: the agent runs IG itself (one privileged container)
    agent = "agent"
    #: the agent tails the container logs of the seed's ``ig`` DaemonSet (unprivileged)
    sidecar = "sidecar"
    #: only the seed's plain multi-gadget ``ig`` DaemonSet (stdout path, no agent)
    seed = "seed"


@dataclass
class AgentConfig:
    """The ConfigMap's text and what the manifests need to know about it."""

    text: str
    config: Config
    port: int
    #: variables the pod must get from the Secret (no default in the config)
    secret_env: list[str] = field(default_factory=list)
    #: variables with a ``:-default``; taken from the Secret when it has them
    optional_env: list[str] = field(default_factory=list)
    #: remarks for the person applying the manifests (printed to stderr)
    notes: list[str] = field(default_factory=list)


def default_config(mode: Mode, namespace: str, seed_namespace: str) -> dict[str, Any]:
    """The config a mode runs when the user gives none: the seed's gadgets, its filters."""
    if mode is Mode.sidecar:
        source: dict[str, Any] = {
            "type": "cri",
            "paths": [f"/var/log/containers/*_{seed_namespace}_ig-*.log"],
            "container_gadgets": dict(SEED_CONTAINER_GADGETS),
        }
        # the seed's containers already print IG's JSON for Container Insights; the
        # sidecar keeps a filtered, typed copy on the node to hunt in
        sinks: list[dict[str, Any]] = [
            {"type": "store", "path": "/var/lib/edgewatch/store.duckdb", "max_bytes": "1GiB"}
        ]
    else:
        gadgets = [resolve(g).gadget for g in DEFAULT_GADGETS]
        source = {"type": "ig", "mode": "daemon", "gadgets": gadgets}
        sinks = [{"type": "stdout", "format": "ig"}]
    return {
        # no ``node``: the agent defaults to $NODE_NAME, which the DaemonSet sets
        "state_dir": "/var/lib/edgewatch",
        "sources": [source],
        # the agent's own traffic (to Azure, DNS) would otherwise feed itself
        "filters": {
            "exclude": {"namespaces": sorted({namespace, "kube-system"})},
            "noise": {"loopback": True, "cluster_local_dns": True},
        },
        "sinks": sinks,
        "http": {"listen": f"0.0.0.0:{DEFAULT_PORT}"},
    }


def _walk(value: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, key, value) of every scalar in a YAML tree."""
    out: list[tuple[str, Any, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(v, dict | list):
                out.extend(_walk(v, sub))
            else:
                out.append((sub, k, v))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_walk(v, f"{path}[{i}]"))
    return out


def _problem(filename: str, path: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(path, None, message, filename)])


def _check_no_secret_values(data: dict[str, Any], filename: str, secret: str) -> None:
    problems = [
        ConfigProblem(
            path,
            None,
            f"holds a credential; a ConfigMap is no place for it: write ${{VAR}} here and "
            f"put the value under key VAR of the Secret {secret!r}",
            filename,
        )
        for path, key, value in _walk(data)
        if key in SECRET_KEYS
        and value is not None
        and not (isinstance(value, str) and _ONLY_REF.match(value))
    ]
    if problems:
        raise ConfigError(problems)


def _env_refs(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    required: set[str] = set()
    optional: set[str] = set()
    for _path, _key, value in _walk(data):
        if isinstance(value, str):
            for m in _REF.finditer(value):
                (optional if m.group(2) else required).add(m.group(1))
    optional -= required
    return (
        sorted(v for v in required if v not in POD_ENV),
        sorted(v for v in optional if v not in POD_ENV),
    )


def validate_text(text: str, filename: str) -> Config:
    """parse_config with every ``${VAR}`` resolvable: the pod supplies them, not this shell.

    A reference without a default gets one (a placeholder), which leaves the lines where
    they were, so the problems still point at the user's file.
    """

    def placeholder(m: re.Match[str]) -> str:
        if m.group(2):
            return m.group(0)
        return "${%s:-from-secret-%s}" % (m.group(1), m.group(1).lower())  # noqa: UP031

    return parse_config(_REF.sub(placeholder, text), filename)


def _listen(data: dict[str, Any], filename: str, notes: list[str]) -> int:
    http = data.get("http")
    if not isinstance(http, dict):
        http = data["http"] = {}
    listen = http.get("listen")
    if listen is None:
        http["listen"] = f"0.0.0.0:{DEFAULT_PORT}"
        notes.append(
            f"http.listen was not set; the ConfigMap sets 0.0.0.0:{DEFAULT_PORT} so the "
            "probes and Prometheus can reach /healthz, /readyz and /metrics"
        )
        return DEFAULT_PORT
    host, _, port = str(listen).rpartition(":")
    if not port.isdigit():  # validation reports it with the line; keep the default here
        return DEFAULT_PORT
    host = host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        raise _problem(
            filename,
            "http.listen",
            f"{listen!r} is reachable only inside the pod, but kubelet's probes come from "
            f"the node: use 0.0.0.0:{port}",
        )
    return int(port)


def _under(path: PurePosixPath, roots: list[PurePosixPath]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _check_paths(cfg: Config, filename: str) -> None:
    """Everything the agent writes must be on a writable mount of the pod."""
    state = PurePosixPath(cfg.state_dir)
    if not state.is_absolute():
        raise _problem(filename, "state_dir", f"{state} must be an absolute path in the pod")
    roots = [state, PurePosixPath(TMP_DIR)]
    written: list[tuple[str, object]] = [
        ("dead_letter.path", cfg.dead_letter.path),
        ("buffer.path", cfg.buffer.path),
    ]
    for i, sink in enumerate(cfg.sinks):
        if isinstance(sink, FileSinkConfig | StoreSinkConfig):
            written.append((f"sinks[{i}].path", sink.path))
    for i, source in enumerate(cfg.sources):
        if isinstance(source, CriSourceConfig):
            written.append((f"sources[{i}].checkpoint", source.checkpoint))
    problems = [
        ConfigProblem(
            key,
            None,
            f"{p} is on the image's read-only filesystem; put it under state_dir ({state}), "
            "which is a host directory that survives restarts",
            filename,
        )
        for key, p in written
        if p is not None and not _under(PurePosixPath(str(p)), roots)
    ]
    if problems:
        raise ConfigError(problems)


def _check_dashboard(cfg: Config, namespace: str, filename: str, notes: list[str]) -> None:
    """The agent's own dashboard stays on the pod's loopback, reached by port-forward.

    The manifests mount no token file or TLS key, and a Service in front of every
    node's store is more exposure than looking at one node needs."""
    dash = cfg.dashboard
    if not dash.enabled:
        return
    host = dash.host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or dash.token_file is not None or dash.tls_cert is not None:
        raise _problem(
            filename,
            "dashboard",
            "in the pod, serve the dashboard on loopback (listen: 127.0.0.1:PORT, no "
            "token_file or TLS files: the manifests mount none) and reach one node's store "
            "with kubectl port-forward",
        )
    port = dash.port or 8765
    notes.append(
        f"the dashboard of a node's store: kubectl -n {namespace} port-forward "
        f"pod/<the agent pod on that node> {port}, then http://127.0.0.1:{port}/"
    )


def _check_mode(cfg: Config, mode: Mode, filename: str) -> None:
    kinds = {type(s) for s in cfg.sources}
    if FileSourceConfig in kinds:
        raise _problem(
            filename,
            "sources",
            "a file source reads files of the node the pod does not mount; use an ig source "
            "(--mode agent) or a cri source (--mode sidecar)",
        )
    if mode is Mode.agent and IgSourceConfig not in kinds:
        raise _problem(
            filename,
            "sources",
            "--mode agent runs IG in the agent, but the config has no 'type: ig' source "
            "(to tail the seed's ig DaemonSet instead, use --mode sidecar)",
        )
    if mode is Mode.sidecar:
        if IgSourceConfig in kinds:
            raise _problem(
                filename,
                "sources",
                "--mode sidecar is unprivileged and cannot run IG: remove the 'type: ig' "
                "source, or use --mode agent",
            )
        if CriSourceConfig not in kinds:
            raise _problem(
                filename,
                "sources",
                "--mode sidecar tails container logs: the config needs a 'type: cri' source",
            )
        for i, s in enumerate(cfg.sources):
            if isinstance(s, CriSourceConfig):
                outside = [p for p in s.paths if not p.startswith("/var/log/")]
                if outside:
                    raise _problem(
                        filename,
                        f"sources[{i}].paths",
                        f"{', '.join(outside)}: the sidecar mounts only the node's /var/log",
                    )


def prepare(
    text: str | None,
    filename: str,
    mode: Mode,
    namespace: str,
    seed_namespace: str = "gadget",
    secret_name: str = "edgewatch-credentials",
) -> AgentConfig:
    """The ConfigMap content for ``mode``; raise ConfigError naming every problem."""
    if text is None:
        data = default_config(mode, namespace, seed_namespace)
        filename = f"default {mode} config"
        original = None
    else:
        validate_text(text, filename)  # YAML and schema problems, with their lines
        loaded = yaml.safe_load(text)
        data = loaded if isinstance(loaded, dict) else {}
        original = text
    _check_no_secret_values(data, filename, secret_name)
    notes: list[str] = []
    before = yaml.safe_dump(data, sort_keys=False)
    port = _listen(data, filename, notes)
    adjusted = yaml.safe_dump(data, sort_keys=False) != before
    if original is not None and not adjusted:
        out = original  # the user's file as written, comments and all
    else:
        out = f"# edgewatch agent config ({filename})\n" + yaml.safe_dump(
            data, sort_keys=False, default_flow_style=False
        )
    cfg = validate_text(out, filename)
    _check_mode(cfg, mode, filename)
    _check_paths(cfg, filename)
    _check_dashboard(cfg, namespace, filename, notes)
    required, optional = _env_refs(data)
    if required or optional:
        notes.append(
            f"create the Secret before the pods start (never put it in a manifest): kubectl "
            f"-n {namespace} create secret generic {secret_name} "
            + " ".join(f"--from-literal={v}=..." for v in required + optional)
        )
    return AgentConfig(
        text=out,
        config=cfg,
        port=port,
        secret_env=required,
        optional_env=optional,
        notes=notes,
    )

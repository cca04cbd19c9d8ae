"""The exact command lines edgewatch gives ``ig`` and ``gadgetctl``, as pure functions.

Everything that depends on the IG version is decided here, from data, so it can be
tested per release without starting a process. Flag names and their history come from
IG's source: ``pkg/operators/common/container-selector.go`` (the ``--k8s-*`` selectors),
``pkg/container-collection/match.go`` (how lists and ``!`` match), ``cmd/ig/daemon.go``
(``--host``/``-H`` is the daemon's listening address), ``pkg/runtime/grpc/grpc-runtime.go``
(``--remote-address``, ``--detach``, ``--name``, ``--tags``) and
``pkg/operators/logs/logs.go`` (the ``operator.logs.*`` config keys).

Values are always passed as ``--flag=value``: IG parses some flags early with unknown
flags allowed, and the joined form cannot be misread there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgewatch.events.base import GadgetSpec
from edgewatch.sources.ig.selectors import Selectors
from edgewatch.sources.ig.version import K8S_SELECTORS, SELECTOR_LISTS, TLS_INSECURE, IgVersion

#: Where IG publishes its official gadget images (``docs/reference/run.mdx``).
DEFAULT_IMAGE_PREFIX = "ghcr.io/inspektor-gadget/gadget/"
#: Instances edgewatch creates are named ``edgewatch-<family>`` and tagged so, which lets
#: a restart find and replace its own instances without touching anyone else's.
INSTANCE_PREFIX = "edgewatch-"
INSTANCE_TAG = "edgewatch"

_LOGS_CONFIG = """\
# Written by edgewatch for the 'ig daemon' it supervises. The logs operator (IG >= 0.51.0)
# prints every event of every gadget instance on stdout, one JSON envelope per line:
# {"type":"gadget-data","seq":..,"gadget":..,"datasource":..,"timestamp":..,"data":{..}}
operator:
  logs:
    enabled: true
    channel: stdout
    format: json
    mode: all
"""


@dataclass(frozen=True)
class Pushdown:
    """What of a :class:`Selectors` IG filters in the kernel, and what it cannot.

    ``flags`` go on the command line; ``pushed`` and ``not_pushed`` are human-readable
    lines for the log, so an operator can see why IG still sends events edgewatch drops.
    """

    flags: tuple[str, ...] = ()
    pushed: tuple[str, ...] = ()
    not_pushed: tuple[str, ...] = ()


def _expressible(value: str) -> bool:
    # IG splits flag values on "," and reads a leading "!" as exclusion (>= 0.48.0).
    # Kubernetes names never contain either, but a config typo must not become a
    # different filter in the kernel.
    return bool(value) and "," not in value and not value.startswith("!") and "=" not in value


class _Plan:
    """Collects flags and the log lines that explain them, one dimension at a time.

    Pushing a subset of the constraints is always safe: IG then sends a superset of
    what edgewatch keeps, and edgewatch filters again. So each constraint the version
    can express exactly is pushed, and the rest is reported.
    """

    def __init__(self, version: IgVersion) -> None:
        self.version = version
        self.flags: list[str] = []
        self.pushed: list[str] = []
        self.not_pushed: list[str] = []

    def _push(self, flag: str) -> None:
        self.flags.append(flag)
        self.pushed.append(flag)

    def names(self, flag: str, what: str, include: Sequence[str], exclude: Sequence[str]) -> None:
        """One name dimension (namespaces, pods, containers)."""
        if not include and not exclude:
            return
        bad = [v for v in (*include, *exclude) if not _expressible(v)]
        if bad:
            self.not_pushed.append(f"{what}: {bad!r} cannot be expressed as an IG selector")
            return
        if self.version >= SELECTOR_LISTS:
            self._push(f"{flag}={','.join([*include, *(f'!{v}' for v in exclude)])}")
            return
        if len(include) == 1:
            self._push(f"{flag}={include[0]}")
        elif include:
            self.not_pushed.append(
                f"{what} {','.join(include)}: several values need IG >= {SELECTOR_LISTS}"
            )
        if exclude:
            self.not_pushed.append(
                f"{what} exclusion {','.join(exclude)}: needs IG >= {SELECTOR_LISTS}"
            )

    def labels(self, labels: Sequence[tuple[str, str]]) -> None:
        # IG keeps the selector in a map (one value per key) and needs key=value pairs;
        # every pair must match, as in edgewatch. A second value for a key, or a pair
        # IG would split differently, is left to edgewatch.
        kept: dict[str, str] = {}
        for key, value in labels:
            if not _expressible(key) or "," in value or "=" in value or value.startswith("!"):
                self.not_pushed.append(f"label {key}={value}: cannot be expressed for IG")
            elif key in kept and kept[key] != value:
                self.not_pushed.append(f"label {key}={value}: IG keeps one value per label key")
            else:
                kept[key] = value
        if kept:
            self._push("--k8s-selector=" + ",".join(f"{k}={v}" for k, v in kept.items()))


def pushdown(selectors: Selectors, version: IgVersion) -> Pushdown:
    """Translate exact selectors into IG's in-kernel ``--k8s-*`` flags for ``version``."""
    if selectors.is_empty():
        return Pushdown()
    if version < K8S_SELECTORS:
        return Pushdown(
            not_pushed=(
                f"all selectors: IG {version} has no in-kernel K8s selectors "
                f"(needs >= {K8S_SELECTORS})",
            )
        )
    s = selectors
    plan = _Plan(version)
    plan.names("--k8s-namespace", "namespaces", s.namespaces, s.exclude_namespaces)
    plan.names("--k8s-podname", "pods", s.pods, s.exclude_pods)
    plan.names("--k8s-containername", "containers", s.containers, s.exclude_containers)
    plan.labels(s.labels)
    return Pushdown(tuple(plan.flags), tuple(plan.pushed), tuple(plan.not_pushed))


def image_ref(spec: GadgetSpec, prefix: str = DEFAULT_IMAGE_PREFIX, tag: str | None = None) -> str:
    """``ghcr.io/inspektor-gadget/gadget/trace_tcp:v0.55.1``.

    An empty prefix gives IG's short form (``trace_tcp:v0.55.1``), which IG expands to
    the official registry itself; no tag means IG's default, ``latest``.
    """
    image = f"{prefix}{spec.gadget}"
    return f"{image}:{tag}" if tag else image


def instance_name(spec: GadgetSpec) -> str:
    """The headless instance name; IG accepts ``^[a-z0-9-_]{1,32}$`` (api/helpers.go)."""
    return f"{INSTANCE_PREFIX}{spec.family}"


def _tail(flags: Iterable[str], host: bool, params: Sequence[str]) -> list[str]:
    return [*flags, *(["--host"] if host else []), *params]


def run_argv(
    binary: str,
    image: str,
    *,
    flags: Sequence[str] = (),
    host: bool = False,
    params: Sequence[str] = (),
) -> list[str]:
    """``ig run <image> -o json ...``: one gadget, events on stdout, logs on stderr."""
    return [binary, "run", image, "-o", "json", *_tail(flags, host, params)]


def daemon_argv(binary: str, config_path: str, socket_path: str, version: IgVersion) -> list[str]:
    """``ig daemon``: gRPC on a unix socket, events via the logs operator on stdout.

    ``--host`` here is the daemon's listening address, not ``ig run --host``. The config
    file is a root flag (``cmd/common/config.go``) that ig reads before any subcommand.
    ``--tls-insecure`` (>= 0.53.0) only lifts the demand for TLS certificates; the socket
    lives in a private directory, so access is still limited by file permissions.
    """
    argv = [binary, "daemon", f"--config={config_path}", f"--host=unix://{socket_path}"]
    if version >= TLS_INSECURE:
        argv.append("--tls-insecure")
    return argv


def gadgetctl_run_argv(
    gadgetctl: str,
    image: str,
    address: str,
    name: str,
    *,
    flags: Sequence[str] = (),
    host: bool = False,
    params: Sequence[str] = (),
) -> list[str]:
    """``gadgetctl run <image> --detach``: create one named headless gadget instance."""
    return [
        gadgetctl,
        "run",
        image,
        "--detach",
        f"--name={name}",
        f"--tags={INSTANCE_TAG}",
        f"--remote-address={address}",
        *_tail(flags, host, params),
    ]


def gadgetctl_delete_argv(gadgetctl: str, address: str, names: Sequence[str]) -> list[str]:
    """``gadgetctl delete <name>...``: names it cannot find are reported, not an error."""
    return [gadgetctl, "delete", *names, f"--remote-address={address}"]


def logs_config_yaml() -> str:
    """The IG config file that turns the logs operator on (``docs/spec/operators/logs.md``)."""
    return _LOGS_CONFIG

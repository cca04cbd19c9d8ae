"""A stand-in for Inspektor Gadget's ``ig`` and ``gadgetctl``, for tests.

It keeps IG's documented contract, not its internals: ``ig version`` prints ``v<semver>``;
``ig run <image> -o json`` prints one IG JSON event per line on stdout (real events
from ``tests/fixtures/ig/<gadget>.jsonl`` with fresh timestamps) and logrus messages on
stderr; a bad flag or an unknown gadget exits 1 with ``Error: ...``; the first SIGTERM
or SIGINT ends a run cleanly (exit 0), a second one exits 1. ``ig daemon`` listens on
a unix socket, keeps headless instances (persisted and resumed like IG's file store)
and, when the config file enables the logs operator (IG >= 0.51.0), prints their
events as logs-operator envelopes. Without signal handling of its own (like the real
daemon) it dies on SIGTERM. ``gadgetctl run --detach``, ``delete``, ``list`` and
``version`` talk to it. The wire protocol between the two is a private JSON line, not
IG's gRPC; everything stays on unix sockets and in temporary directories.

Environment (all optional):
  FAKE_IG_VERSION        semver to claim (default 0.55.1); flags are gated on it
  FAKE_IG_VERSION_OUTPUT exact text ``version`` prints instead
  FAKE_IG_ARGV_FILE      append each invocation's argv as a JSON array line
  FAKE_IG_RATE           events per second per gadget (default 100)
  FAKE_IG_CRASH_AFTER    after N events, die like a Go panic (exit 2)
  FAKE_IG_EXIT_AFTER     after N events, exit 0 (as with ``--timeout``)
  FAKE_IG_HANG           1: ignore SIGTERM and SIGINT
  FAKE_IG_FAULT_GADGETS  comma list of gadgets the three faults above apply to
  FAKE_IG_FIXTURES       directory of <gadget>.jsonl (default tests/fixtures/ig)
  FAKE_IG_STATE_DIR      daemon instance store (IG: /var/lib/ig/gadgets; default:
                         fake-ig-gadgets next to the socket)
  FAKE_IG_QUIET          1: no startup warnings on stderr
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_FIXTURES = HERE.parent / "fixtures" / "ig"
DEFAULT_ADDRESS = "unix:///var/run/ig/ig.socket"

DATASOURCES = {
    "trace_tcp": "tracetcp",
    "trace_dns": "dns",
    "trace_sni": "sni",
    "trace_exec": "exec",
    "audit_seccomp": "seccomp",
    "trace_open": "open",
    "trace_bind": "bind",
    "trace_signal": "signal",
    "trace_capabilities": "capabilities",
    "trace_oomkill": "oomkill",
}

# Flags, as (value-taking, boolean) sets of long names. Short aliases map to long ones.
GLOBAL_VALUE = {"--config", "--pprof-addr"}
GLOBAL_BOOL = {"--verbose", "--auto-mount-filesystems", "--auto-wsl-workaround"}
RUN_VALUE = {
    "--output",
    "--filter",
    "--filter-expr",
    "--fields",
    "--timeout",
    "--pull",
    "--public-keys",
    "--allowed-gadgets",
    "--insecure-registries",
    "--authfile",
    "--annotate",
    "--runtimes",
    "--containerd-socketpath",
    "--crio-socketpath",
    "--docker-socketpath",
    "--podman-socketpath",
    "--containerd-namespace",
    "--runtime-protocol",
    "--kubeconfig",
    "--containername",
    "--runtime-containername",
    "--max-entries",
    "--file",
}
RUN_BOOL = {"--host", "--verify-image", "--disallow-pulling", "--enrich-with-k8s-apiserver"}
K8S_SELECTORS = {"--k8s-namespace", "--k8s-podname", "--k8s-containername", "--k8s-selector"}
GADGET_BOOL = {
    "trace_tcp": {"--accept-only", "--connect-only", "--failure-only"},
    "trace_dns": {"--paths"},
    "trace_exec": {"--paths", "--ignore-failed"},
    "trace_open": {"--paths", "--failed"},
    "trace_bind": {"--ignore-errors"},
    "trace_signal": {"--failed"},
    "trace_capabilities": {"--audit-only", "--unique", "--collect-kstack"},
}
GADGET_VALUE = {"trace_signal": {"--signal"}}
GADGETCTL_VALUE = {
    "--remote-address",
    "--name",
    "--id",
    "--tags",
    "--node",
    "--connection-timeout",
    "--event-buffer-length",
}
GADGETCTL_BOOL = {"--detach"}
DAEMON_VALUE = {
    "--host",
    "--group",
    "--events-buffer-length",
    "--tls-key-file",
    "--tls-cert-file",
    "--tls-client-ca-file",
}
DAEMON_BOOL = {"--tls-insecure"}
SHORT = {
    "-o": "--output",
    "-F": "--filter",
    "-E": "--filter-expr",
    "-t": "--timeout",
    "-r": "--runtimes",
    "-c": "--containername",
    "-v": "--verbose",
    "-f": "--file",
    "-i": "--ignore-errors",
}
DAEMON_SHORT = {"-H": "--host", "-G": "--group", "-v": "--verbose"}

NAME_RE = re.compile(r"^[a-z0-9-_]{1,32}$")
ID_RE = re.compile(r"^[a-f0-9]{32}$")


class CliError(Exception):
    """A command error: printed as ``Error: ...`` with exit code 1, like cobra."""


# -- environment ----------------------------------------------------------------------


def version() -> tuple[int, int, int]:
    text = os.environ.get("FAKE_IG_VERSION", "0.55.1").lstrip("v")
    major, minor, patch = (int(x) for x in text.split("-")[0].split("."))
    return major, minor, patch


def version_text() -> str:
    return "v" + ".".join(str(x) for x in version())


def env_int(name: str) -> int:
    value = os.environ.get(name, "")
    return int(value) if value else 0


def faulty(gadget: str) -> bool:
    only = os.environ.get("FAKE_IG_FAULT_GADGETS", "")
    return not only or gadget in only.split(",")


def fixtures_dir() -> Path:
    return Path(os.environ.get("FAKE_IG_FIXTURES", str(DEFAULT_FIXTURES)))


def record_argv(prog: str, args: list[str]) -> None:
    path = os.environ.get("FAKE_IG_ARGV_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps([prog, *args]) + "\n")


# -- logrus-like stderr ---------------------------------------------------------------

#: logrus's formatter; IG's instance manager switches it to JSON for the whole process.
_LOG_STYLE = {"json": False}
_LOG_LOCK = threading.Lock()
_START = time.monotonic()
_TTY_LEVEL = {"info": "INFO", "warning": "WARN", "error": "ERRO", "debug": "DEBU"}


def logrus(level: str, msg: str, **fields: str) -> None:
    """Print like logrus: ``WARN[0000] msg`` on a terminal, ``time=.. level=..`` else."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if _LOG_STYLE["json"]:
        line = json.dumps(
            {**fields, "level": level, "msg": msg, "time": now},
            sort_keys=True,
            separators=(",", ":"),
        )
    elif sys.stderr.isatty():
        elapsed = int(time.monotonic() - _START)
        line = f"{_TTY_LEVEL[level]}[{elapsed:04d}] {msg}"
    else:
        line = f'time="{now}" level={level} msg={json.dumps(msg)}'
    with _LOG_LOCK:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def startup_warnings() -> None:
    if os.environ.get("FAKE_IG_QUIET") != "1":
        logrus(
            "warning",
            "Runtime enricher (docker): couldn't get current containers: Cannot connect to "
            "the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        )


def fail(message: str) -> int:
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()
    return 1


# -- flags ----------------------------------------------------------------------------

#: Every flag that takes a value, so a value is never mistaken for a command or image.
ALL_VALUE = (
    GLOBAL_VALUE
    | RUN_VALUE
    | K8S_SELECTORS
    | GADGETCTL_VALUE
    | DAEMON_VALUE
    | set().union(*GADGET_VALUE.values())
)
ALL_SHORT_VALUE = {"-o", "-F", "-E", "-t", "-r", "-c", "-f", "-H", "-G"}


def split_first(args: list[str]) -> tuple[str, list[str]]:
    """The first positional argument and the other arguments, in order."""
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = "=" not in arg and (arg in ALL_VALUE or arg in ALL_SHORT_VALUE)
            continue
        return arg, args[:i] + args[i + 1 :]
    return "", list(args)


def parse_flags(
    args: list[str],
    value_flags: set[str],
    bool_flags: set[str],
    short: dict[str, str],
) -> tuple[list[str], dict[str, str]]:
    """Split ``args`` into positionals and ``{--flag: value}`` the way pflag does."""
    positionals: list[str] = []
    flags: dict[str, str] = {}
    it = iter(args)
    for arg in it:
        if arg == "--":
            positionals.extend(it)
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if not name.startswith("--"):
            if name[:2] not in short:
                raise CliError(f"unknown shorthand flag: {name[1:2]!r} in {arg}")
            if len(name) > 2 and not eq:  # -ojson
                name, eq, value = name[:2], "=", name[2:]
            name = short[name]
        if name in bool_flags:
            if eq and value not in ("true", "false"):
                raise CliError(f'invalid argument "{value}" for "{name}" flag')
            flags[name] = value if eq else "true"
        elif name in value_flags:
            if not eq:
                try:
                    value = next(it)
                except StopIteration:
                    raise CliError(f"flag needs an argument: {name}") from None
            flags[name] = value
        else:
            raise CliError(f"unknown flag: {name}")
    return positionals, flags


def gadget_flag_sets(gadget: str) -> tuple[set[str], set[str]]:
    """The flags ``run`` accepts for ``gadget`` on the claimed IG version."""
    values = GLOBAL_VALUE | RUN_VALUE | GADGET_VALUE.get(gadget, set())
    bools = GLOBAL_BOOL | RUN_BOOL | GADGET_BOOL.get(gadget, set())
    if version() >= (0, 45, 0):
        values |= K8S_SELECTORS
    return values, bools


def gadget_of(image: str) -> str:
    name = image.rsplit("/", 1)[-1].split("@", 1)[0]
    return name.split(":", 1)[0]


def full_ref(image: str) -> str:
    ref = image if "/" in image else f"ghcr.io/inspektor-gadget/gadget/{image}"
    return ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"


def check_gadget(image: str) -> str:
    gadget = gadget_of(image)
    if gadget not in DATASOURCES or not (fixtures_dir() / f"{gadget}.jsonl").exists():
        raise CliError(
            "fetching gadget information: initializing and preparing operators: "
            'instantiating operator "oci": ensuring image: pulling image '
            f'"{full_ref(image)}": {full_ref(image)}: not found'
        )
    return gadget


# -- events ---------------------------------------------------------------------------

_TS_RE = re.compile(rb'"timestamp":"[^"]*"')
_TS_RAW_RE = re.compile(rb'"timestamp_raw":\d+')


def rfc3339nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{frac:09d}".rstrip("0").rstrip(".") + "Z"


def events(gadget: str) -> Iterator[bytes]:
    """The gadget's example events, forever, each stamped with the current time."""
    path = fixtures_dir() / f"{gadget}.jsonl"
    lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()]
    for line in itertools.cycle(lines):
        ns = time.time_ns()
        stamped = _TS_RE.sub(f'"timestamp":"{rfc3339nano(ns)}"'.encode(), line, count=1)
        yield _TS_RAW_RE.sub(f'"timestamp_raw":{ns}'.encode(), stamped, count=1)


def interval() -> float:
    rate = float(os.environ.get("FAKE_IG_RATE", "100") or 100)
    return 1.0 / rate if rate > 0 else 0.0


def die_of_sigpipe() -> None:
    """Go dies of SIGPIPE when stdout or stderr is a closed pipe (not for sockets)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)


def go_panic() -> None:
    sys.stderr.write(
        "panic: runtime error: invalid memory address or nil pointer dereference\n"
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1a2b3c]\n\n"
        "goroutine 1 [running]:\n"
    )
    sys.stderr.flush()
    os._exit(2)


# -- ig run ---------------------------------------------------------------------------


def ig_run(args: list[str]) -> int:
    image, _ = split_first(args)
    if not image:
        raise CliError("requires at least 1 arg(s), only received 0")
    gadget = check_gadget(image)
    values, bools = gadget_flag_sets(gadget)
    positionals, flags = parse_flags(args, values, bools, SHORT)
    if len(positionals) != 1:
        raise CliError(f"accepts 1 arg(s), received {len(positionals)}")
    if flags.get("--output", "columns") not in ("json", "jsonpretty"):
        raise CliError("the fake ig prints only -o json")
    timeout = float(flags.get("--timeout", "0") or 0)

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stopping.is_set():
            os._exit(1)  # second signal: IG exits forcefully
        stopping.set()

    hang = os.environ.get("FAKE_IG_HANG") == "1" and faulty(gadget)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN if hang else on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Go dies on a closed stdout too

    startup_warnings()
    crash_after = env_int("FAKE_IG_CRASH_AFTER") if faulty(gadget) else 0
    exit_after = env_int("FAKE_IG_EXIT_AFTER") if faulty(gadget) else 0
    pause = interval()
    end = time.monotonic() + timeout if timeout > 0 else None
    out = sys.stdout.buffer
    for count, line in enumerate(events(gadget), start=1):
        if stopping.is_set() or (end is not None and time.monotonic() >= end):
            break
        out.write(line + b"\n")
        out.flush()
        if crash_after and count >= crash_after:
            go_panic()
        if exit_after and count >= exit_after:
            break
        if pause:
            stopping.wait(pause)
    return 0


# -- ig daemon ------------------------------------------------------------------------


def read_config(path: str) -> dict[str, Any]:
    """The small YAML subset IG config files use here: nested ``key: scalar`` maps."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        value = value.strip().strip("\"'")
        if value == "":
            child: dict[str, Any] = {}
            parent[key] = child
            stack.append((indent, child))
        else:
            parent[key] = {"true": True, "false": False}.get(value, value)
    return root


class Daemon:
    def __init__(self, socket_path: Path, state_dir: Path, logs: dict[str, Any]) -> None:
        self.socket_path = socket_path
        self.state_dir = state_dir
        self.logs = logs
        self.instances: dict[str, dict[str, Any]] = {}
        self.stops: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.out_lock = threading.Lock()
        self.emitted = 0

    # instances

    def logs_writer(self) -> Any:
        if version() < (0, 51, 0) or self.logs.get("enabled") is not True:
            return None
        channel = self.logs.get("channel", "stderr")
        if channel == "stdout":
            return sys.stdout.buffer
        if channel == "stderr":
            return sys.stderr.buffer
        return None  # file channel: not needed by the tests

    def start_instance(self, inst: dict[str, Any]) -> None:
        stop = threading.Event()
        self.stops[inst["id"]] = stop
        _LOG_STYLE["json"] = True
        logrus(
            "info",
            "running gadget",
            type="gadget-log",
            instanceID=inst["id"],
            instanceName=inst["name"],
            gadget=inst["image"],
        )
        threading.Thread(target=self.emit_loop, args=(inst, stop), daemon=True).start()

    def emit_loop(self, inst: dict[str, Any], stop: threading.Event) -> None:
        writer = self.logs_writer()
        gadget = gadget_of(inst["image"])
        crash_after = env_int("FAKE_IG_CRASH_AFTER") if faulty(gadget) else 0
        pause = interval()
        # The logs operator writes this prefix by hand, in this key order (logs.go).
        common = (
            f'"gadget":{json.dumps(inst["image"])},'
            f'"datasource":{json.dumps(DATASOURCES[gadget])},'
            f'"instanceID":{json.dumps(inst["id"])}'
        )
        for seq, line in enumerate(events(gadget)):
            if stop.is_set():
                return
            if writer is not None:
                stamp = rfc3339nano(time.time_ns())
                envelope = (
                    f'{{"type":"gadget-data","seq":{seq},{common},"timestamp":"{stamp}","data":'
                )
                with self.out_lock:
                    try:
                        writer.write(envelope.encode() + line + b"}\n")
                        writer.flush()
                    except BrokenPipeError:
                        die_of_sigpipe()
                    self.emitted += 1
                    if crash_after and self.emitted >= crash_after:
                        go_panic()
            stop.wait(pause or 0.001)

    def resume(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.state_dir.glob("*.gadget")):
            inst = json.loads(path.read_text(encoding="utf-8"))
            logrus("info", f'loading gadget instance "{inst["id"]}"')
            self.instances[inst["id"]] = inst
            self.start_instance(inst)

    def create(self, req: dict[str, Any]) -> dict[str, Any]:
        inst_id = req.get("id") or uuid.uuid4().hex
        name = req.get("name") or f"fake_{inst_id[:8]}"
        if not ID_RE.match(inst_id):
            raise CliError(f"invalid gadget instance id: {inst_id}")
        if not NAME_RE.match(name):
            raise CliError(f"invalid gadget instance name: {name}")
        check_gadget(req["image"])
        with self.lock:
            for other in self.instances.values():
                if other["id"] == inst_id:
                    raise CliError(f'gadget with id "{inst_id}" already exists')
                if other["name"] == name:
                    raise CliError(f'gadget with name "{name}" already exists')
            inst = {
                "id": inst_id,
                "name": name,
                "image": req["image"],
                "tags": req.get("tags", []),
                "params": req.get("params", {}),
            }
            (self.state_dir / f"{inst_id}.gadget").write_text(json.dumps(inst), encoding="utf-8")
            self.instances[inst_id] = inst
            self.start_instance(inst)
        return {"id": inst_id}

    def delete(self, req: dict[str, Any]) -> dict[str, Any]:
        removed: list[str] = []
        notfound: list[str] = []
        ambiguous: list[str] = []
        with self.lock:
            for key in req["ids"]:
                hits = [
                    i
                    for i in self.instances.values()
                    if i["name"] == key or i["id"].startswith(key)
                ]
                if not hits:
                    notfound.append(key)
                    continue
                if len(hits) > 1:
                    ambiguous.append(key)
                    continue
                inst = hits[0]
                self.stops.pop(inst["id"]).set()
                del self.instances[inst["id"]]
                with contextlib.suppress(FileNotFoundError):
                    (self.state_dir / f"{inst['id']}.gadget").unlink()
                removed.append(inst["id"])
        return {"removed": removed, "notfound": notfound, "ambiguous": ambiguous}

    def list(self) -> dict[str, Any]:
        with self.lock:
            return {"instances": list(self.instances.values())}

    # serving

    def handle(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            request = f.readline()
            if not request.strip():
                return  # a bare connect, e.g. a readiness probe
            try:
                req = json.loads(request)
                op = req.get("op")
                if op == "create":
                    resp = self.create(req)
                elif op == "delete":
                    resp = self.delete(req)
                elif op == "list":
                    resp = self.list()
                elif op == "info":
                    resp = {"version": version_text()}
                else:
                    raise CliError(f"unknown request {op!r}")
                resp["ok"] = True
            except CliError as exc:
                resp = {"ok": False, "error": str(exc)}
            except Exception as exc:
                resp = {"ok": False, "error": f"internal error: {exc}"}
            f.write(json.dumps(resp).encode() + b"\n")
            f.flush()

    def serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.socket_path))
        server.listen(16)
        self.resume()
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def ig_daemon(args: list[str]) -> int:
    bools = GLOBAL_BOOL | (DAEMON_BOOL if version() >= (0, 53, 0) else set())
    positionals, flags = parse_flags(args, GLOBAL_VALUE | DAEMON_VALUE, bools, DAEMON_SHORT)
    if positionals:
        raise CliError(f'unknown command "{positionals[0]}" for "ig daemon"')
    address = flags.get("--host", DEFAULT_ADDRESS)
    if not address.startswith("unix://"):
        raise CliError("the fake ig daemon listens on unix sockets only")
    tls = any(f in flags for f in ("--tls-key-file", "--tls-cert-file", "--tls-client-ca-file"))
    if version() >= (0, 53, 0) and not tls and flags.get("--tls-insecure") != "true":
        # IG's exemption for unix sockets compares the bare path with "unix", so it
        # never applies (cmd/ig/daemon.go).
        raise CliError(
            "no TLS configuration provided, will not proceed until running with --tls-insecure"
        )
    socket_path = Path(address[len("unix://") :])
    logrus("info", f'starting Inspektor Gadget daemon at "{address}"')
    config: dict[str, Any] = {}
    if "--config" in flags:
        try:
            config = read_config(flags["--config"])
        except OSError as exc:
            raise CliError(f"reading config: {exc}") from None
    logs = config.get("operator", {}).get("logs", {})
    state = os.environ.get("FAKE_IG_STATE_DIR") or str(socket_path.parent / "fake-ig-gadgets")
    if os.environ.get("FAKE_IG_HANG") == "1" and faulty("daemon"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    startup_warnings()
    Daemon(socket_path, Path(state), logs).serve()
    return 0


# -- gadgetctl ------------------------------------------------------------------------


def call(address: str, req: dict[str, Any]) -> dict[str, Any]:
    if not address.startswith("unix://"):
        raise CliError(f"the fake gadgetctl dials unix sockets only, not {address!r}")
    path = address[len("unix://") :]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(path)
            sock.sendall(json.dumps(req).encode() + b"\n")
            with sock.makefile("rb") as f:
                line = f.readline()
    except OSError as exc:
        raise CliError(
            f'dialing "{address}": connection error: desc = "transport: Error while '
            f'dialing: dial unix {path}: connect: {exc.strerror or exc}"'
        ) from None
    if not line:
        raise CliError(f'dialing "{address}": connection closed')
    resp: dict[str, Any] = json.loads(line)
    if not resp.get("ok"):
        raise CliError(resp.get("error", "unknown error"))
    return resp


def gadgetctl(args: list[str]) -> int:
    cmd, rest = split_first(args)
    if cmd == "version":
        return show_version()
    base_values = GLOBAL_VALUE | {"--remote-address", "--connection-timeout"}
    if cmd == "run":
        image, _ = split_first(rest)
        if not image:
            raise CliError("requires at least 1 arg(s), only received 0")
        gadget = check_gadget(image)
        values, bools = gadget_flag_sets(gadget)
        positionals, flags = parse_flags(
            rest, values | GADGETCTL_VALUE, bools | GADGETCTL_BOOL, SHORT
        )
        if flags.get("--detach") != "true":
            raise CliError("the fake gadgetctl runs gadgets only with --detach")
        address = flags.pop("--remote-address", DEFAULT_ADDRESS)
        req = {
            "op": "create",
            "image": positionals[0],
            "name": flags.pop("--name", ""),
            "id": flags.pop("--id", ""),
            "tags": [t for t in flags.pop("--tags", "").split(",") if t],
            "params": {k: v for k, v in flags.items() if k != "--detach"},
        }
        resp = call(address, req)
        logrus("info", f'installed as "{resp["id"]}"')
        return 0
    if cmd in ("delete", "d", "del"):
        positionals, flags = parse_flags(rest, base_values, GLOBAL_BOOL, SHORT)
        if not positionals:
            raise CliError("requires at least 1 arg(s), only received 0")
        resp = call(
            flags.get("--remote-address", DEFAULT_ADDRESS),
            {
                "op": "delete",
                "ids": positionals,
            },
        )
        if resp["ambiguous"]:
            sys.stderr.write(f"ambiguous names/ids: {', '.join(resp['ambiguous'])}\n")
        if resp["notfound"]:
            sys.stderr.write(f"not found names/ids: {', '.join(resp['notfound'])}\n")
        for inst_id in resp["removed"]:
            print(inst_id)
        return 0
    if cmd in ("list", "l", "ls", "ps"):
        _, flags = parse_flags(rest, base_values, GLOBAL_BOOL, SHORT)
        resp = call(flags.get("--remote-address", DEFAULT_ADDRESS), {"op": "list"})
        print(f"{'ID':<12} {'NAME':<24} {'TAGS':<24} {'GADGET':<48} STATUS")
        for inst in resp["instances"]:
            tags = ",".join(inst["tags"])
            print(
                f"{inst['id'][:12]:<12} {inst['name']:<24} {tags:<24} {inst['image']:<48} Running"
            )
        return 0
    raise CliError(f'unknown command "{cmd}" for "gadgetctl"')


# -- entry ----------------------------------------------------------------------------


def show_version() -> int:
    text = os.environ.get("FAKE_IG_VERSION_OUTPUT")
    print(text if text is not None else version_text())
    return 0


def ig(args: list[str]) -> int:
    cmd, rest = split_first(args)
    if cmd == "version":
        return show_version()
    if cmd == "run":
        return ig_run(rest)
    if cmd == "daemon":
        return ig_daemon(rest)
    raise CliError(f'unknown command "{cmd}" for "ig"')


def main(prog: str) -> None:
    args = sys.argv[1:]
    record_argv(prog, args)
    try:
        code = gadgetctl(args) if prog == "gadgetctl" else ig(args)
    except CliError as exc:
        code = fail(str(exc))
    except KeyboardInterrupt:
        code = 1
    sys.exit(code)

"""Daemon mode: one ``ig daemon`` runs every gadget as a headless instance.

One process instead of one per gadget saves memory and CPU on small edge nodes, and
since IG v0.51.0 the logs operator prints every instance's events on the daemon's
stdout as JSON envelopes that name their gadget, so the supervisor reads a single pipe.

Facts from IG's source this module relies on:

* ``ig daemon --host=unix://<path>`` removes a stale socket and listens before it
  resumes stored instances and serves (``pkg/gadget-service/service.go``).
* ``ig daemon`` persists every instance under ``/var/lib/ig/gadgets`` and resumes it on
  its next start (``store/file-store/filestore.go``); creating an instance whose name
  exists fails. So after each daemon start edgewatch deletes its own instances by name
  (``gadgetctl delete`` reports unknown names without failing) and creates them anew,
  which also applies changed selectors or parameters.
* ``gadgetctl run <image> --detach`` returns once the instance is installed.

Instances are deliberately left in place when edgewatch stops: deleting them would
need a live daemon inside the stop budget, and the next start replaces them anyway.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgewatch.events.base import GadgetSpec
from edgewatch.events.registry import GADGETS
from edgewatch.sources.ig import command
from edgewatch.sources.ig.backoff import Backoff
from edgewatch.sources.ig.tool import run_tool

log = logging.getLogger("edgewatch.ig")

#: Longest a single gadgetctl call may take (it may pull the gadget image first).
GADGETCTL_TIMEOUT = 120.0
#: Warn once when a running daemon has not opened its socket after this long.
SOCKET_WARN_AFTER = 30.0
#: The kernel's limit for a unix socket path (sun_path) including the final NUL.
MAX_SOCKET_PATH = 107
CONFIG_NAME = "ig-config.yaml"
SOCKET_NAME = "ig.sock"


def socket_path_for(work_dir: Path) -> Path:
    """Where the daemon listens; raises ValueError if the kernel cannot bind it."""
    path = work_dir / SOCKET_NAME
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise ValueError(
            f"unix socket path {str(path)!r} is longer than {MAX_SOCKET_PATH} bytes; "
            "choose a shorter work_dir"
        )
    return path


def write_config(work_dir: Path) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / CONFIG_NAME
    path.write_text(command.logs_config_yaml(), encoding="utf-8")
    return path


def socket_ready(path: Path) -> bool:
    """True once something accepts connections on ``path``."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


@dataclass
class Instance:
    spec: GadgetSpec
    name: str
    image: str
    argv: list[str]
    backoff: Backoff
    created: bool = False
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str = ""


@dataclass
class DaemonInstances:
    """Brings a freshly started daemon to the wanted set of instances, and keeps it there."""

    gadgetctl: str
    socket: Path
    instances: list[Instance]
    env: Mapping[str, str]
    stop: threading.Event
    restart_initial: float
    restart_max: float
    _ready: bool = False
    _cleaned: bool = False
    _cleanup_at: float = 0.0
    _waiting_since: float = 0.0
    _warned: bool = False
    _cleanup_backoff: Backoff = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._cleanup_backoff = Backoff(self.restart_initial, self.restart_max)

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"

    def before_start(self) -> None:
        """A new daemon is about to start: forget what the last one had."""
        # A stale socket file would look like a listening daemon.
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        with self._lock:
            self._ready = False
            self._cleaned = False
            self._cleanup_at = 0.0
            self._waiting_since = time.monotonic()
            self._warned = False
            for inst in self.instances:
                inst.created = False
                inst.next_attempt = 0.0
                inst.backoff.reset()

    def tick(self, now: float) -> None:
        """Advance one step; called while the daemon process is running."""
        if not self._ready:
            if not socket_ready(self.socket):
                if not self._warned and now - self._waiting_since > SOCKET_WARN_AFTER:
                    self._warned = True
                    log.warning(
                        "ig daemon has not opened %s after %.0f s", self.socket, SOCKET_WARN_AFTER
                    )
                return
            self._ready = True
            log.info("ig daemon is listening on %s", self.address)
        if not self._cleaned and (now < self._cleanup_at or not self._remove_old()):
            return
        for inst in self.instances:
            if self.stop.is_set():
                return
            if not inst.created and now >= inst.next_attempt:
                self._create(inst)

    def status(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                inst.name: {
                    "gadget": inst.spec.gadget,
                    "image": inst.image,
                    "created": inst.created,
                    "attempts": inst.attempts,
                    "last_error": inst.last_error,
                }
                for inst in self.instances
            }

    def _remove_old(self) -> bool:
        # Every name edgewatch could have used, so a gadget dropped from the config
        # stops too; unknown names are only reported by gadgetctl.
        names = [command.instance_name(g) for g in GADGETS]
        argv = command.gadgetctl_delete_argv(self.gadgetctl, self.address, names)
        done = run_tool(argv, env=self.env, timeout=GADGETCTL_TIMEOUT, stop=self.stop)
        if self.stop.is_set():
            return False
        if not done.ok:
            delay = self._cleanup_backoff.next_delay(0.0)
            self._cleanup_at = time.monotonic() + delay
            log.error(
                "could not remove earlier edgewatch instances from ig daemon (%s); "
                "retrying in %.1f s",
                done.describe(),
                delay,
            )
            return False
        removed = [line for line in done.stdout.split() if line]
        if removed:
            log.info("removed %d earlier edgewatch instance(s) from ig daemon", len(removed))
        self._cleanup_backoff.reset()
        self._cleaned = True
        return True

    def _create(self, inst: Instance) -> None:
        done = run_tool(inst.argv, env=self.env, timeout=GADGETCTL_TIMEOUT, stop=self.stop)
        if self.stop.is_set():
            return
        with self._lock:
            inst.attempts += 1
            if done.ok:
                inst.created = True
                inst.last_error = ""
            else:
                inst.last_error = done.describe()
                delay = inst.backoff.next_delay(0.0)
                inst.next_attempt = time.monotonic() + delay
        if done.ok:
            log.info("created headless instance %s (%s) on ig daemon", inst.name, inst.image)
        else:
            log.error(
                "could not create headless instance %s (%s): %s; retrying in %.1f s",
                inst.name,
                inst.image,
                inst.last_error,
                delay,
            )


def build_instances(
    gadgets: Sequence[GadgetSpec],
    *,
    gadgetctl: str,
    address: str,
    images: Mapping[str, str],
    flags: Sequence[str],
    host: bool,
    params: Mapping[str, Sequence[str]],
    restart_initial: float,
    restart_max: float,
) -> list[Instance]:
    out: list[Instance] = []
    for spec in gadgets:
        name = command.instance_name(spec)
        argv = command.gadgetctl_run_argv(
            gadgetctl,
            images[spec.family],
            address,
            name,
            flags=flags,
            host=host,
            params=params.get(spec.family, ()),
        )
        out.append(
            Instance(spec, name, images[spec.family], argv, Backoff(restart_initial, restart_max))
        )
    return out

"""The IG source: keep ``ig`` running, hand its output on, stop it cleanly.

IG is the sensor and edgewatch only supervises it. Two shapes are supported:

* ``daemon`` (default, IG >= 0.51.0): one ``ig daemon`` whose logs operator prints the
  events of all headless gadget instances on stdout (see :mod:`.daemon`).
* ``run`` (any IG): one ``ig run <gadget> -o json`` per gadget. Used when asked for, and
  as the fallback when the installed IG predates the logs operator.

Whatever the shape, a child that ends is started again after an exponential back-off,
each child's stdout is batched into :class:`RawBatch` es, its stderr goes to the log,
and ``stop`` ends everything within ``stop_timeout`` plus a fraction of a second, even
when ig ignores SIGTERM. The supervisor's own thread never calls ``emit`` (the pipe
readers do), so backpressure can stall the data but never the supervision.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from edgewatch.events.base import GadgetSpec
from edgewatch.events.registry import lookup
from edgewatch.sources.base import Emit, RawBatch
from edgewatch.sources.ig import command, daemon
from edgewatch.sources.ig.backoff import Backoff
from edgewatch.sources.ig.child import ChildProcess, StderrTail, describe_exit
from edgewatch.sources.ig.selectors import Selectors
from edgewatch.sources.ig.version import (
    LOGS_OPERATOR,
    IgVersion,
    detect_version,
    effective,
    parse_version,
)

log = logging.getLogger("edgewatch.ig")

Mode = Literal["daemon", "run"]

#: How often the supervisor looks at its children (and at ``stop``).
_TICK = 0.05
#: After SIGKILL, how long to wait for the kernel to let a child go.
_KILL_WAIT = 0.5
#: At stop, how long the pipe readers get to hand on what ig printed last.
_READER_BUDGET = 0.5
_TAIL_LINES = 50
_EXIT_LOG_LINES = 5


@dataclass
class _Slot:
    """One child the supervisor keeps alive, across all its restarts."""

    label: str
    argv: list[str]
    stream: str
    gadget: GadgetSpec | None
    backoff: Backoff
    tail: StderrTail = field(default_factory=lambda: StderrTail(_TAIL_LINES))
    before_start: Callable[[], None] | None = None
    child: ChildProcess | None = None
    previous: ChildProcess | None = None
    attempts: int = 0
    restarts: int = 0
    lines: int = 0
    next_start: float = 0.0
    last_exit: int | None = None
    last_exit_reason: str = ""
    last_exit_at: float | None = None
    last_error: str = ""
    delays: deque[float] = field(default_factory=lambda: deque(maxlen=10))
    emit_errors: int = 0


class IgSupervisor:
    """Runs Inspektor Gadget for edgewatch; a :class:`~edgewatch.sources.base.Source`.

    ``gadget_params`` maps a gadget (family ``tcp`` or IG name ``trace_tcp``) to extra
    ``ig run`` arguments, e.g. ``{"tcp": ["--connect-only"]}``. ``version`` skips
    ``ig version`` (``"0.50.0"``). ``image_tag`` None pins gadget images to the IG
    version (``v0.55.1``; gadgets built for another ig may not load), or ``latest``
    when the version is unknown. ``env`` adds variables to the inherited environment.
    ``work_dir`` holds the daemon's config file and socket (default: a fresh temporary
    directory, removed at stop). ``stable_after`` is how long a child must run before
    its restart back-off starts over.
    """

    def __init__(
        self,
        *,
        gadgets: Sequence[GadgetSpec],
        mode: Mode = "daemon",
        binary: str = "ig",
        gadgetctl: str = "gadgetctl",
        version: str | None = None,
        selectors: Selectors = Selectors(),  # noqa: B008 - frozen dataclass, immutable
        host: bool = False,
        gadget_params: Mapping[str, Sequence[str]] | None = None,
        image_prefix: str = command.DEFAULT_IMAGE_PREFIX,
        image_tag: str | None = None,
        restart_initial: float = 1.0,
        restart_max: float = 60.0,
        stop_timeout: float = 3.0,
        env: Mapping[str, str] | None = None,
        work_dir: Path | None = None,
        name: str = "ig",
        stable_after: float = 60.0,
    ) -> None:
        if not gadgets:
            raise ValueError("IgSupervisor needs at least one gadget")
        if mode not in ("daemon", "run"):
            raise ValueError(f"mode must be 'daemon' or 'run', not {mode!r}")
        if restart_initial < 0 or restart_max < restart_initial:
            raise ValueError("need 0 <= restart_initial <= restart_max")
        if stop_timeout < 0:
            raise ValueError("stop_timeout must not be negative")
        self.name = name
        self._gadgets: tuple[GadgetSpec, ...] = tuple(dict.fromkeys(gadgets))
        self._mode: Mode = mode
        self._binary = binary
        self._gadgetctl = gadgetctl
        self._version: IgVersion | None = None
        if version is not None:
            self._version = parse_version(version)
            if self._version is None:
                raise ValueError(f"cannot read an IG version from {version!r}")
        self._version_given = version is not None
        self._selectors = selectors
        self._host = host
        self._params = _params_by_family(gadget_params or {})
        self._image_prefix = image_prefix
        self._image_tag = image_tag
        self._restart_initial = restart_initial
        self._restart_max = restart_max
        self._stable_after = stable_after
        self._stop_timeout = stop_timeout
        self._env_extra = dict(env or {})
        self._work_dir = work_dir
        if work_dir is not None:
            daemon.socket_path_for(work_dir)  # fail at configuration time, not at run

        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._emit: Emit | None = None
        self._slots: list[_Slot] = []
        self._instances: daemon.DaemonInstances | None = None
        self._effective_mode: Mode | None = None
        self._pushdown = command.Pushdown()
        self._running = False

    # -- Source protocol --------------------------------------------------------------

    def run(self, emit: Emit, stop: threading.Event) -> None:
        with self._lock:
            if self._running:
                raise RuntimeError(f"IG supervisor {self.name} is already running")
            self._running = True
        self._emit = emit
        env = {**os.environ, **self._env_extra}
        temp_dir: Path | None = None
        try:
            if not self._version_given:
                self._version = detect_version(self._binary, env, stop=stop)
            if stop.is_set():
                return
            mode = self._choose_mode()
            features = effective(self._version)
            self._pushdown = command.pushdown(self._selectors, features)
            self._log_pushdown()
            tag = self._image_tag
            if tag is None:
                tag = self._version.tag if self._version is not None else "latest"
            images = {
                g.family: command.image_ref(g, self._image_prefix, tag) for g in self._gadgets
            }
            if mode == "run":
                slots = self._run_slots(images)
                tick: Callable[[float], None] | None = None
            else:
                work_dir = self._work_dir
                if work_dir is None:
                    temp_dir = work_dir = Path(tempfile.mkdtemp(prefix="edgewatch-ig-"))
                slots, tick = self._daemon_slots(work_dir, images, env, stop)
            with self._lock:
                self._effective_mode = mode
                self._slots = slots
            log.info(
                "IG supervisor %s: mode %s, IG %s, gadgets %s",
                self.name,
                mode,
                self._version or f"unknown (assuming {features})",
                ", ".join(g.gadget for g in self._gadgets),
            )
            self._supervise(env, stop, tick)
        finally:
            self._shutdown()
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
            with self._lock:
                self._running = False

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot for health endpoints: one entry per supervised child."""
        now = time.monotonic()
        with self._lock:
            out: dict[str, Any] = {
                "name": self.name,
                "running": self._running,
                "requested_mode": self._mode,
                "mode": self._effective_mode,
                "ig_version": str(self._version) if self._version is not None else None,
                "pushdown": {
                    "flags": list(self._pushdown.flags),
                    "pushed": list(self._pushdown.pushed),
                    "not_pushed": list(self._pushdown.not_pushed),
                },
                "children": {
                    slot.label: _slot_status(slot, now, self._running) for slot in self._slots
                },
            }
            instances = self._instances
        if instances is not None:
            out["instances"] = instances.status()
        return out

    # -- setup ------------------------------------------------------------------------

    def _choose_mode(self) -> Mode:
        if self._mode == "daemon" and effective(self._version) < LOGS_OPERATOR:
            log.warning(
                "IG %s has no logs operator (needs >= %s), so 'ig daemon' cannot hand "
                "events on; running one 'ig run' per gadget instead",
                self._version,
                LOGS_OPERATOR,
            )
            return "run"
        return self._mode

    def _log_pushdown(self) -> None:
        push = self._pushdown
        if push.pushed:
            log.info("IG filters in the kernel: %s", " ".join(push.pushed))
        for item in push.not_pushed:
            log.info("not pushed down to IG (edgewatch filters it): %s", item)

    def _backoff(self) -> Backoff:
        return Backoff(self._restart_initial, self._restart_max, stable_after=self._stable_after)

    def _run_slots(self, images: Mapping[str, str]) -> list[_Slot]:
        return [
            _Slot(
                label=spec.gadget,
                argv=command.run_argv(
                    self._binary,
                    images[spec.family],
                    flags=self._pushdown.flags,
                    host=self._host,
                    params=self._params.get(spec.family, ()),
                ),
                stream=f"ig:{spec.family}",
                gadget=spec,
                backoff=self._backoff(),
            )
            for spec in self._gadgets
        ]

    def _daemon_slots(
        self,
        work_dir: Path,
        images: Mapping[str, str],
        env: Mapping[str, str],
        stop: threading.Event,
    ) -> tuple[list[_Slot], Callable[[float], None]]:
        sock = daemon.socket_path_for(work_dir)
        config = daemon.write_config(work_dir)
        instances = daemon.DaemonInstances(
            gadgetctl=self._gadgetctl,
            socket=sock,
            instances=daemon.build_instances(
                self._gadgets,
                gadgetctl=self._gadgetctl,
                address=f"unix://{sock}",
                images=images,
                flags=self._pushdown.flags,
                host=self._host,
                params=self._params,
                restart_initial=self._restart_initial,
                restart_max=self._restart_max,
            ),
            env=env,
            stop=stop,
            restart_initial=self._restart_initial,
            restart_max=self._restart_max,
        )
        slot = _Slot(
            label="daemon",
            argv=command.daemon_argv(
                self._binary, str(config), str(sock), effective(self._version)
            ),
            stream="ig:daemon",
            gadget=None,
            backoff=self._backoff(),
            before_start=instances.before_start,
        )
        with self._lock:
            self._instances = instances

        def tick(now: float) -> None:
            if slot.child is not None and slot.child.returncode is None:
                instances.tick(now)

        return [slot], tick

    # -- supervision ------------------------------------------------------------------

    def _supervise(
        self,
        env: Mapping[str, str],
        stop: threading.Event,
        tick: Callable[[float], None] | None,
    ) -> None:
        while not stop.is_set():
            now = time.monotonic()
            for slot in self._slots:
                self._tend(slot, env, now)
            if tick is not None and not stop.is_set():
                tick(time.monotonic())
            stop.wait(_TICK)

    def _tend(self, slot: _Slot, env: Mapping[str, str], now: float) -> None:
        child = slot.child
        if child is not None:
            code = child.poll()
            if code is not None:
                self._on_exit(slot, child, code, now)
            return
        if now < slot.next_start:
            return
        if slot.previous is not None and not slot.previous.readers_done():
            return  # its last lines are still being handed on; keep the stream in order
        self._start(slot, env)

    def _start(self, slot: _Slot, env: Mapping[str, str]) -> None:
        child = ChildProcess(
            slot.label,
            slot.argv,
            deliver=partial(self._deliver, slot),
            tail=slot.tail,
            env=env,
        )
        if slot.before_start is not None:
            slot.before_start()
        try:
            child.start()
        except OSError as exc:
            delay = slot.backoff.next_delay(0.0)
            with self._lock:
                slot.restarts += 1 if slot.attempts else 0
                slot.attempts += 1
                slot.last_error = f"cannot start: {exc}"
                slot.next_start = time.monotonic() + delay
                slot.delays.append(delay)
            log.error(
                "cannot start ig %s (%s): %s; retrying in %.1f s",
                slot.label,
                shlex.join(slot.argv),
                exc,
                delay,
            )
            return
        with self._lock:
            slot.restarts += 1 if slot.attempts else 0
            slot.attempts += 1
            slot.child = child
            slot.last_error = ""
        log.info("started ig %s (pid %s): %s", slot.label, child.pid, shlex.join(slot.argv))

    def _on_exit(self, slot: _Slot, child: ChildProcess, code: int, now: float) -> None:
        ran_for = now - child.started_at
        delay = slot.backoff.next_delay(ran_for)
        reason = describe_exit(code)
        with self._lock:
            slot.child = None
            slot.previous = child
            slot.last_exit = code
            slot.last_exit_reason = reason
            slot.last_exit_at = time.time()
            slot.next_start = now + delay
            slot.delays.append(delay)
        last = slot.tail.snapshot()[-_EXIT_LOG_LINES:]
        log.warning(
            "ig %s (pid %s) stopped (%s) after %.1f s; restarting in %.1f s%s",
            slot.label,
            child.pid,
            reason,
            ran_for,
            delay,
            ("; last stderr: " + " | ".join(last)) if last else "",
        )

    def _deliver(self, slot: _Slot, lines: list[bytes]) -> None:
        """Called on a reader thread with one batch of a child's stdout."""
        emit = self._emit
        if emit is None:
            return
        batch = RawBatch(lines=lines, stream=slot.stream, gadget=slot.gadget)
        try:
            with self._emit_lock:
                emit(batch)
        except Exception:
            with self._lock:
                slot.emit_errors += 1
                first = slot.emit_errors == 1
            log.exception(
                "ig %s: emit failed, %d line(s) lost%s",
                slot.label,
                len(lines),
                "" if first else f" (failure #{slot.emit_errors})",
            )
            return
        with self._lock:
            slot.lines += len(lines)

    # -- stop -------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """SIGTERM every child's group, SIGKILL what is left after ``stop_timeout``."""
        with self._lock:
            live = [s.child for s in self._slots if s.child is not None]
            every = [c for s in self._slots for c in (s.child, s.previous) if c is not None]
        for child in live:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        pending = [c for c in live if c.poll() is None]
        while pending and time.monotonic() < deadline:
            time.sleep(0.02)
            pending = [c for c in pending if c.poll() is None]
        for child in pending:
            log.warning(
                "ig %s (pid %s) still running %.1f s after SIGTERM; killing it",
                child.label,
                child.pid,
                self._stop_timeout,
            )
            child.signal(signal.SIGKILL)
        kill_deadline = time.monotonic() + _KILL_WAIT
        for child in pending:
            if child.wait(kill_deadline - time.monotonic()) is None:
                log.error("ig %s (pid %s) survived SIGKILL", child.label, child.pid)
        reader_deadline = time.monotonic() + _READER_BUDGET
        for child in every:
            if not child.join_readers(reader_deadline - time.monotonic()):
                log.warning(
                    "ig %s: output reader still busy handing on lines at stop; leaving it",
                    child.label,
                )
        with self._lock:
            for slot in self._slots:
                if slot.child is not None:
                    slot.last_exit = slot.child.returncode
                    slot.last_exit_reason = describe_exit(slot.child.returncode)
                    slot.last_exit_at = time.time()
                    slot.previous, slot.child = slot.child, None
        if live:
            log.info("IG supervisor %s stopped %d ig process(es)", self.name, len(live))


def _params_by_family(params: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, args in params.items():
        spec = lookup(key)
        if spec is None:
            raise ValueError(f"gadget_params: unknown gadget {key!r}")
        if isinstance(args, str):
            raise ValueError(f"gadget_params[{key!r}] must be a list of arguments, not a string")
        out[spec.family] = (*out.get(spec.family, ()), *args)
    return out


def _slot_status(slot: _Slot, now: float, supervising: bool) -> dict[str, Any]:
    child = slot.child
    running = child is not None and child.returncode is None
    return {
        "argv": list(slot.argv),
        "stream": slot.stream,
        "running": running,
        "pid": child.pid if running and child is not None else None,
        "uptime": round(now - child.started_at, 3) if running and child is not None else None,
        "starts": slot.attempts,
        "restarts": slot.restarts,
        "lines": slot.lines,
        "last_exit": slot.last_exit,
        "last_exit_reason": slot.last_exit_reason,
        "last_exit_at": slot.last_exit_at,
        "next_restart_in": (
            round(max(0.0, slot.next_start - now), 3)
            if supervising and child is None and slot.attempts
            else None
        ),
        "backoff_delays": [round(d, 3) for d in slot.delays],
        "last_error": slot.last_error,
        "emit_errors": slot.emit_errors,
        "stderr_tail": slot.tail.snapshot(),
    }

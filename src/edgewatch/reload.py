"""Hot reload: a changed config file (or SIGHUP) applies new filters, routes and stages.

On Kubernetes the config is a ConfigMap mounted as a directory; kubelet replaces the
file atomically (a symlink swap) some seconds after ``kubectl apply``. The watcher polls
the file's identity (inode, size, mtime, following the symlink) rather than relying on
inotify, which misses such swaps on some kernels and does not exist on every
filesystem; SIGHUP asks for a reload at once.

What reloads, and how:

* The new file is loaded and validated on the watcher thread. An invalid config is
  refused: every problem is logged with its line, the running config stays.
* The stage list is rebuilt with :func:`edgewatch.agent.build_stages` — the same
  function the agent starts with — so every stage the config drives (filters,
  detection rules, enrichment, aggregation) follows it. Routes are rebuilt too.
* The swap happens on the pipeline thread, between two batches: every event is judged
  either entirely by the old config or entirely by the new one, and stages that hold
  events back (time windows) hand them on before they are replaced. No event is lost.
* Sources, sinks, destinations, buffers and the other sections that own threads,
  files or processes are not rebuilt under load: a change there is logged as needing
  a restart, and the rest of the new config is applied.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.config import Config, ConfigError, IgSourceConfig, load_config
from edgewatch.pipeline.runtime import Pipeline, Stage
from edgewatch.pipeline.stats import Stats

log = logging.getLogger("edgewatch.reload")

#: Sections that own threads, files or processes: a change needs a restart. Every other
#: section (filters, routes, and whatever the stages read: rules, enrichment,
#: aggregation) applies live.
RESTART_SECTIONS = (
    "node",
    "state_dir",
    "sources",
    "sinks",
    "destinations",
    "buffer",
    "dead_letter",
    "pipeline",
    "http",
    "dashboard",
)

BuildStages = Callable[[Config, Stats], list[Stage]]


def _default_build(config: Config, stats: Stats) -> list[Stage]:
    from edgewatch.agent import build_stages

    return build_stages(config, stats)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)  # follows the ConfigMap's ..data symlink
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class _Pending:
    config: Config
    stages: list[Stage]
    #: (sink, new router) for sinks that route events to destinations
    routers: list[tuple[Any, Any]]
    live: list[str]


class ConfigReloader:
    """Watches one config file; :meth:`apply_pending` swaps between batches.

    ``start`` runs the watcher thread; ``request`` (from a SIGHUP handler: it only sets
    an event) makes it look at once; the runtime calls ``apply_pending`` on the
    pipeline thread between batches (see ``Runtime.between_batches``).
    """

    def __init__(
        self,
        path: Path,
        config: Config,
        pipeline: Pipeline,
        build_stages: BuildStages = _default_build,
        poll_interval: float = 2.0,
    ) -> None:
        self.path = Path(path)
        self.config = config
        self.pipeline = pipeline
        self.build_stages = build_stages
        self.poll_interval = poll_interval
        #: applied reloads and refused ones, for /metrics and tests
        self.applied = 0
        self.refused = 0
        self.last_error: str | None = None
        self._signature = _signature(self.path)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        self._applied_event = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="config-reload", daemon=True)

    # -- other threads ------------------------------------------------------------------

    def start(self) -> ConfigReloader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def request(self) -> None:
        """Reload now, changed or not (SIGHUP). Safe to call from a signal handler."""
        self._wake.set()

    def _watch(self) -> None:
        while not self._stop.is_set():
            forced = self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            sig = _signature(self.path)
            if not forced and (sig is None or sig == self._signature):
                continue
            self._signature = sig
            try:
                self.prepare()
            except Exception:  # a broken stage builder must not end the watcher
                log.exception("config reload failed; keeping the running config")
                self._refuse("internal error while building the new stages")

    def prepare(self) -> bool:
        """Load, validate and build the new config; queue it for the pipeline thread.

        Returns False (and keeps the running config) when the file is not valid.
        """
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            for p in exc.problems:
                log.error("config reload refused: %s", p)
            log.error("keeping the running config (%s)", self.path)
            self._refuse("; ".join(str(p) for p in exc.problems))
            return False
        old = self.config
        if new == old:
            log.info("config %s unchanged; nothing to reload", self.path)
            return True
        changed = [
            name for name in type(new).model_fields if getattr(new, name) != getattr(old, name)
        ]
        restart = [name for name in changed if name in RESTART_SECTIONS]
        live = [name for name in changed if name not in RESTART_SECTIONS]
        if "routes" in live and "destinations" in restart:
            # new routes may name destinations the running delivery does not have
            live.remove("routes")
            restart.append("routes")
        if restart:
            log.warning(
                "config reload: changes to %s take effect after a restart; the running "
                "ones stay until then",
                ", ".join(restart),
            )
        self._warn_pushdown(old, new)
        # only the live sections come from the new file: the rest stays as it runs
        merged = old.model_copy(update={name: getattr(new, name) for name in live})
        stages = self.build_stages(merged, self.pipeline.stats)
        for stage in stages:
            attach = getattr(stage, "attach_sinks", None)
            if callable(attach):  # detections write alerts next to the events
                attach(self.pipeline.sinks)
        routers = self._routers(merged) if "routes" in live else []
        self._applied_event.clear()
        with self._lock:
            self._pending = _Pending(merged, stages, routers, live)
        return True

    def wait_applied(self, timeout: float) -> bool:
        """For tests and callers that must know the swap happened."""
        return self._applied_event.wait(timeout)

    def _refuse(self, why: str) -> None:
        with self._lock:
            self.refused += 1
            self.last_error = why

    def _routers(self, cfg: Config) -> list[tuple[Any, Any]]:
        from edgewatch.pipeline.route import Router

        out: list[tuple[Any, Any]] = []
        for sink in self.pipeline.sinks:
            router = getattr(sink, "router", None)
            if isinstance(router, Router):
                out.append((sink, Router(cfg.routes, router.destinations)))
        return out

    @staticmethod
    def _warn_pushdown(old: Config, new: Config) -> None:
        """IG's in-kernel selectors are part of its command line: fixed until restart."""
        if old.filters == new.filters or not any(
            isinstance(s, IgSourceConfig) for s in old.sources
        ):
            return
        from edgewatch.pipeline.filter import FilterStage

        for src in old.sources:
            if not isinstance(src, IgSourceConfig):
                continue
            before = FilterStage(old.filters, Stats()).selectors(traces_host=src.host)
            after = FilterStage(new.filters, Stats()).selectors(traces_host=src.host)
            if before != after:
                log.warning(
                    "config reload: IG source %s keeps its in-kernel selectors until a "
                    "restart; events they exclude stay excluded (edgewatch applies the new "
                    "filters to everything IG hands over)",
                    src.name,
                )

    # -- the pipeline thread ------------------------------------------------------------

    def apply_pending(self) -> None:
        """Swap in a prepared config; called between batches, so no batch sees both."""
        if self._pending is None:  # the common case: one attribute read per batch
            return
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        self.pipeline.replace_stages(pending.stages)
        for sink, router in pending.routers:
            sink.router = router
        self.config = pending.config
        self.applied += 1
        self.last_error = None
        self._applied_event.set()
        log.info(
            "config reloaded from %s: %s applied",
            self.path,
            ", ".join(pending.live) or "nothing live",
        )

"""The detect stage: runs the rule engine on each batch and hands alerts to their outputs.

It never changes the batch (detection is a side channel; filtering comes after it, so
events a filter drops are still seen by the rules), and it declares the columns its
rules read so the decoder fills exactly those.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgewatch.detect import model
from edgewatch.detect.alert import Alert
from edgewatch.detect.config import DetectConfig
from edgewatch.detect.detectors import Context, DnsMemory, EgressPolicy
from edgewatch.detect.engine import Engine
from edgewatch.detect.outputs import AlertOutput
from edgewatch.pipeline.batch import EventBatch

log = logging.getLogger("edgewatch.detect")


class DetectStage:
    name = "detect"

    def __init__(
        self,
        engine: Engine,
        outputs: Sequence[AlertOutput] = (),
        cfg: DetectConfig | None = None,
        stats: Any = None,
    ) -> None:
        self.engine = engine
        self.cfg = cfg
        #: the pipeline's Stats: ``detect:alerts/<rule>``, ``detect:suppressed/<rule>`` …
        self.stats = stats
        self._batches = 0
        self.outputs = list(outputs)
        self.alerts = 0
        self.output_errors = 0

    @property
    def columns(self) -> frozenset[str]:
        return self.engine.columns

    def process(self, batch: EventBatch) -> EventBatch:
        if batch.events:
            alerts = self.engine.scan(batch.events, batch.raws, batch.types)
            if alerts:
                self.emit(alerts)
            self._batches += 1
            if alerts or self._batches % 64 == 0:
                self.report()
        return batch

    def report(self) -> None:
        """Copy the engine's counters into the pipeline's stage figures (``/metrics``)."""
        if self.stats is None:
            return
        from edgewatch.detect.state import EVICTIONS

        eng = self.engine
        figures = {f"detect:alerts/{r}": n for r, n in eng.alerts_raised.items()}
        figures.update({f"detect:suppressed/{r}": n for r, n in eng.dedup.suppressed.items()})
        figures.update({f"detect:evicted/{n}/{why}": c for (n, why), c in EVICTIONS.items()})
        figures.update({f"detect:cache_cleared/{f}": c for f, c in eng.cache_clears.items()})
        figures["detect:output_errors"] = self.output_errors
        with self.stats._lock:
            self.stats.stages.update(
                {k: v - self.stats.stages.get(k, 0) for k, v in figures.items()}
            )

    def emit(self, alerts: list[Alert]) -> None:
        self.alerts += len(alerts)
        for out in self.outputs:
            try:
                out.write(alerts)
            except Exception:  # one broken output must not stop detection or the others
                self.output_errors += 1
                log.exception("alert output %s failed", out.name)

    def attach_sinks(self, sinks: Sequence[Any]) -> None:
        """Alerts go next to the events: the store sink's table, each Azure destination."""
        if self.cfg is not None:
            self.outputs = alert_outputs(self.cfg, sinks)

    def adopt(self, old_stages: Sequence[Any]) -> None:
        """On a config reload: keep the alert outputs and what the old engine learned.

        The DNS memory, the dedup windows and the start time carry over, so a reload
        neither re-raises alerts already sent nor restarts the warm-up and learning.
        """
        for old in old_stages:
            if isinstance(old, DetectStage) and old is not self:
                self.outputs = old.outputs
                ctx, prev = self.engine.ctx, old.engine.ctx
                ctx.dns, ctx.started_ns = prev.dns, prev.started_ns
                self.engine.dedup = old.engine.dedup
                return

    def close(self) -> None:
        for out in self.outputs:
            out.close()


def load_specs(cfg: DetectConfig) -> list[model.RuleSpec]:
    """Every rule the config asks for: built-ins, rule files, Sigma rules, minus disabled."""
    specs: list[model.RuleSpec] = []
    if cfg.builtin:
        specs.extend(model.builtin())
    if cfg.rules:
        specs.extend(model.load_paths(cfg.rules))
    if cfg.sigma_builtin or cfg.sigma:
        from edgewatch.detect import sigma

        if cfg.sigma_builtin:
            bundled = sigma.load(bundled=True)
            for problem in bundled.unmapped:  # shipped to show the report: not news
                log.info("bundled sigma rule not run: %s", problem)
            specs.extend(bundled.specs)
        if cfg.sigma:
            loaded = sigma.load(bundled=False, paths=cfg.sigma)
            for problem in loaded.unmapped:
                log.warning("sigma rule not run: %s", problem)
            specs.extend(loaded.specs)
    unknown = set(cfg.disable) - {s.name for s in specs}
    if unknown:
        raise model.RuleError(f"detect.disable names unknown rules: {', '.join(sorted(unknown))}")
    specs = [s for s in specs if s.name not in set(cfg.disable)]
    model.check_unique(specs)
    return specs


def check(cfg: DetectConfig) -> str | None:
    """Load and compile everything the config names; the first problem, or None."""
    try:
        build_stage(cfg, outputs=[])
    except ValueError as exc:  # RuleError, ConditionError, IntelError
        return str(exc)
    return None


def build_context(cfg: DetectConfig) -> Context:
    import ipaddress

    intel = None
    if cfg.intel:
        from edgewatch.detect.intel import IntelStore

        intel = IntelStore([Path(p) for p in cfg.intel], poll_s=cfg.intel_poll_seconds)
    egress = {
        ns: EgressPolicy(
            tuple(ipaddress.ip_network(c, strict=False) for c in pol.cidrs),
            tuple(d.lower().rstrip(".") for d in pol.domains),
        )
        for ns, pol in cfg.egress.items()
    }
    ctx = Context(dns=DnsMemory(cfg.dns_memory), egress=egress, intel=intel)
    if cfg.apiserver:
        ctx.apiserver_addrs = ctx.apiserver_addrs | frozenset(cfg.apiserver)
    return ctx


def build_stage(
    cfg: DetectConfig,
    node: str = "",
    sinks: Sequence[Any] = (),
    outputs: Sequence[AlertOutput] | None = None,
    stats: Any = None,
) -> DetectStage:
    """The stage for a config; alert outputs are wired to the pipeline's own sinks."""
    engine = Engine(load_specs(cfg), build_context(cfg), node=node)
    if outputs is None:
        outputs = alert_outputs(cfg, sinks)
    return DetectStage(engine, outputs, cfg, stats)


def alert_outputs(cfg: DetectConfig, sinks: Sequence[Any]) -> list[AlertOutput]:
    from edgewatch.detect.outputs import AzureAlerts, StdoutAlerts, StoreAlerts

    outs: list[AlertOutput] = []
    if cfg.alerts.stdout:
        outs.append(StdoutAlerts())
    for sink in sinks:
        writer = getattr(sink, "writer", None)
        if cfg.alerts.store and writer is not None and hasattr(writer, "write_table"):
            outs.append(StoreAlerts(writer))
        wanted = cfg.alerts.azure is None or bool(cfg.alerts.azure)
        if wanted and hasattr(sink, "workers") and hasattr(sink, "buffers"):
            outs.append(AzureAlerts(sink, cfg.alerts.azure))
    return outs

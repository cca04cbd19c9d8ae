"""Builds a running agent from a validated config: the one place that knows every part."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgewatch.config import (
    Config,
    CriSourceConfig,
    FileSinkConfig,
    FileSourceConfig,
    IgSourceConfig,
    SinkConfig,
    SourceConfig,
    StdoutSinkConfig,
    StoreSinkConfig,
)
from edgewatch.events.registry import resolve, resolve_many
from edgewatch.pipeline.aggregate import AggregateStage
from edgewatch.pipeline.deadletter import DeadLetter
from edgewatch.pipeline.enrich import EnrichStage
from edgewatch.pipeline.filter import FilterStage
from edgewatch.pipeline.runtime import Pipeline, Stage
from edgewatch.pipeline.stats import Stats
from edgewatch.sinks.base import Sink
from edgewatch.sinks.file import FileSink
from edgewatch.sinks.stdout import StdoutSink
from edgewatch.sources.base import Source

if TYPE_CHECKING:
    # DuckDB and Arrow cost ~40 MiB of RSS: loaded only when a store sink is configured
    from edgewatch.store.writer import StoreSettings

log = logging.getLogger("edgewatch.agent")


def build_sink(cfg: SinkConfig, node: str = "") -> Sink:
    if isinstance(cfg, StdoutSinkConfig):
        return StdoutSink(cfg.format, name=cfg.name)
    if isinstance(cfg, FileSinkConfig):
        return FileSink(
            cfg.path,
            cfg.format,
            max_bytes=int(cfg.max_bytes),
            max_files=cfg.max_files,
            name=cfg.name,
        )
    if isinstance(cfg, StoreSinkConfig):
        from edgewatch.sinks.store import StoreSink

        return StoreSink(store_settings(cfg, node), name=cfg.name)
    raise TypeError(f"unsupported sink config {cfg!r}")


def store_settings(cfg: StoreSinkConfig, node: str) -> StoreSettings:
    from edgewatch.store.containerlog import ContainerLogSettings, default_container_names
    from edgewatch.store.writer import StoreSettings

    log_cfg = cfg.container_log
    return StoreSettings(
        path=cfg.path,
        max_age_ns=None if cfg.max_age is None else int(cfg.max_age.total_seconds() * 1e9),
        max_bytes=int(cfg.max_bytes),
        memory_limit=int(cfg.memory_limit),
        node=node,
        container_log=ContainerLogSettings(
            container_names={**default_container_names(), **log_cfg.container_names},
            pod_name=log_cfg.pod_name,
            pod_namespace=log_cfg.pod_namespace,
        ),
    )


def build_source(cfg: SourceConfig, config: Config, filters: FilterStage) -> Source:
    if isinstance(cfg, FileSourceConfig):
        from edgewatch.sources.ndjson import NdjsonSource

        return NdjsonSource(
            cfg.paths,
            gadget=resolve(cfg.gadget) if cfg.gadget else None,
            name=cfg.name,
            follow=cfg.follow,
        )
    if isinstance(cfg, CriSourceConfig):
        from edgewatch.sources.cri import CriTailSource

        checkpoint = cfg.checkpoint or config.state_dir / f"{cfg.name}-offsets.json"
        return CriTailSource(
            cfg.paths,
            checkpoint=checkpoint,
            container_gadgets=cfg.container_gadgets,
            poll_interval=cfg.poll_interval,
            start_at=cfg.start_at,
            name=cfg.name,
        )
    if isinstance(cfg, IgSourceConfig):
        from edgewatch.sources.ig.supervisor import IgSupervisor

        specs = resolve_many(cfg.gadgets)
        return IgSupervisor(
            gadgets=specs,
            mode=cfg.mode,
            binary=cfg.binary,
            gadgetctl=cfg.gadgetctl,
            version=cfg.version,
            selectors=filters.selectors(traces_host=cfg.host),
            host=cfg.host,
            gadget_params={resolve(k).family: v for k, v in cfg.gadget_params.items()},
            image_prefix=cfg.image_prefix,
            image_tag=cfg.image_tag,
            restart_initial=cfg.restart.initial,
            restart_max=cfg.restart.max,
            stop_timeout=cfg.stop_timeout,
            work_dir=config.state_dir / cfg.name,
            name=cfg.name,
        )
    raise TypeError(f"unsupported source config {cfg!r}")


def build_stages(config: Config, stats: Stats) -> list[Stage]:
    """Every stage, in order, from the config: at start and again on each hot reload
    (edgewatch.reload), so a stage built here follows config changes without a restart.
    """
    stages: list[Stage] = []
    if config.reduce.enrich.enabled:
        stages.append(EnrichStage(config.reduce.enrich, stats))
    if config.detect.enabled:
        from edgewatch.detect.stage import build_stage

        stages.append(build_stage(config.detect, node=config.node, stats=stats))
    filters = FilterStage(config.filters, stats)
    stages.append(filters)
    if config.reduce.aggregate.enabled:
        stages.append(AggregateStage(config.reduce.aggregate, stats))
    return stages


def build_pipeline(
    config: Config,
    stats: Stats | None = None,
    extra_sinks: Sequence[Sink] = (),
    sinks: Sequence[Sink] | None = None,
    drain: bool = False,
) -> tuple[Pipeline, FilterStage]:
    """``drain``: remote destinations deliver everything before ``close`` returns."""
    stats = stats or Stats()
    stages = build_stages(config, stats)
    filters = next(s for s in stages if isinstance(s, FilterStage))
    dl_path: Path | None = config.dead_letter_path()
    dead_letter = DeadLetter(
        dl_path,
        max_bytes=int(config.dead_letter.max_bytes),
        max_files=config.dead_letter.max_files,
    )
    built = list(sinks) if sinks is not None else [build_sink(s, config.node) for s in config.sinks]
    if sinks is None and config.destinations:
        from edgewatch.sinks.azure.delivery import AzureSink

        built.append(
            AzureSink(
                config.destinations,
                config.routes,
                config.buffer,
                config.buffer_path(),
                stats,
                dead_letter,
                drain_on_close=drain,
            )
        )
    built.extend(extra_sinks)
    for stage in stages:
        if hasattr(stage, "attach_sinks"):
            stage.attach_sinks(built)  # detections write alerts next to the events
    pipeline = Pipeline(stages, built, stats=stats, dead_letter=dead_letter, node=config.node)
    return pipeline, filters


def build_sources(config: Config, filters: FilterStage) -> list[Source]:
    return [build_source(s, config, filters) for s in config.sources]

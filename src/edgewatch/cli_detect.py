"""``edgewatch rules``: list the detection rules and try them on a capture."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgewatch.cli import app

rules_app = typer.Typer(
    help="Detection rules: what runs in the agent, and what they find in a capture.",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")


def _config(path: Path | None) -> object:
    from edgewatch.config import load_config
    from edgewatch.detect.config import DetectConfig

    if path is None:
        return DetectConfig(enabled=True)
    return load_config(path).detect


class _Discard:
    """The events themselves are not wanted here, only the alerts."""

    name = "discard"
    columns: frozenset[str] = frozenset()

    def write(self, batch: object) -> int:
        return 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@rules_app.command("list")
def list_rules(
    config: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional
        typer.Option("--config", "-c", help="Agent config whose 'detect:' section to use."),
    ] = None,
) -> None:
    """List every rule the agent would run (built-in, custom, Sigma) and Sigma rules it cannot map.

    Example:

        edgewatch rules list -c /etc/edgewatch/config.yaml
    """
    from edgewatch.detect.stage import load_specs

    cfg = _config(config)
    for spec in load_specs(cfg):  # type: ignore[arg-type]
        gadgets = ",".join(spec.gadgets)
        print(
            f"{spec.name:<58} {spec.severity:<9} {spec.mitre.technique:<10} "
            f"{gadgets:<8} {spec.origin}"
        )
    from edgewatch.detect import sigma

    if cfg.sigma_builtin or cfg.sigma:  # type: ignore[attr-defined]
        loaded = sigma.load(bundled=cfg.sigma_builtin, paths=cfg.sigma)  # type: ignore[attr-defined]
        for problem in loaded.unmapped:
            print(f"not run: {problem}", file=sys.stderr)


@rules_app.command("test")
def test_rules(
    capture: Annotated[Path, typer.Argument(help="IG output (NDJSON, any IG layout).")],
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Agent config whose 'detect:' section to use."),
    ] = None,
) -> None:
    """Run the rules over a capture and print the alerts as JSON lines.

    Example:

        edgewatch simulate -n 200000 --scenario all -o sim.ndjson
        edgewatch rules test sim.ndjson
    """
    from edgewatch.agent import build_pipeline
    from edgewatch.config import Config
    from edgewatch.detect.outputs import StdoutAlerts
    from edgewatch.detect.stage import build_stage
    from edgewatch.pipeline.runtime import Runtime
    from edgewatch.sources.ndjson import NdjsonSource

    cfg = _config(config)
    stage = build_stage(cfg, outputs=[StdoutAlerts()])  # type: ignore[arg-type]
    pipeline, _ = build_pipeline(Config(dead_letter={"enabled": False}), sinks=[_Discard()])
    pipeline.replace_stages([stage])
    Runtime([NdjsonSource([str(capture)], name="capture")], pipeline).run()
    pipeline.close()
    stats = stage.engine.stats()
    print(
        f"{pipeline.stats.lines_in} lines, {stage.alerts} alerts "
        f"({sum(stats['suppressed'].values())} repeats suppressed)",
        file=sys.stderr,
    )

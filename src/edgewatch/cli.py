"""The ``edgewatch`` command line: one sub-command per job a user has."""

from __future__ import annotations

import logging
import signal
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, Optional

import typer
from rich.console import Console
from rich.table import Table

from edgewatch import __version__
from edgewatch.config import Config, ConfigError, load_config, parse_config
from edgewatch.events.registry import GADGETS, UnknownGadgetError, resolve

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.progress import Progress

    from edgewatch.events.base import GadgetSpec
    from edgewatch.metrics import AgentHttp
    from edgewatch.pipeline.filter import FilterStage
    from edgewatch.pipeline.runtime import Pipeline, RunResult, Runtime
    from edgewatch.reload import ConfigReloader
    from edgewatch.sources.base import Source
    from edgewatch.web.server import Dashboard

app = typer.Typer(
    name="edgewatch",
    help=(
        "Inspektor Gadget signals from edge Kubernetes nodes: decode every IG output format, "
        "filter noise on the node, and forward what matters.\n\n"
        "Start with:  edgewatch demo"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

err = Console(stderr=True)

LogLevel = Annotated[
    str,
    typer.Option("--log-level", help="debug, info, warning or error (logs go to stderr)."),
]


def _setup_logging(level: str) -> None:
    numeric = getattr(logging, level.upper(), None)
    if not isinstance(numeric, int):
        raise typer.BadParameter(f"unknown log level {level!r}", param_hint="--log-level")
    logging.basicConfig(
        level=numeric,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        force=True,
    )


def _progress(*columns: object, show: bool = True) -> Progress:
    """A progress bar on stderr, only for a person watching a terminal."""
    from rich.progress import Progress

    return Progress(
        "[progress.description]{task.description}",
        *columns,  # type: ignore[arg-type]
        console=err,
        transient=True,
        disable=not (show and err.is_terminal),
    )


def _build_or_exit(cfg: Config, **kw: object) -> tuple[Pipeline, FilterStage]:
    """Build the pipeline; a state directory that cannot be written is a config error."""
    from edgewatch.agent import build_pipeline

    try:
        return build_pipeline(cfg, **kw)  # type: ignore[arg-type]
    except OSError as exc:
        typer.echo(
            f"cannot write {exc.filename or cfg.state_dir}: {exc.strerror}; set state_dir or "
            "dead_letter.path to a writable place",
            err=True,
        )
        raise typer.Exit(2) from None
    except ValueError as exc:  # a detection rule, Sigma or indicator file that cannot load
        typer.echo(f"detect: {exc}", err=True)
        raise typer.Exit(2) from None


def _load(config: Path) -> Config:
    try:
        return load_config(config)
    except ConfigError as exc:
        # plain lines, never wrapped: people grep these and editors jump to file:line
        typer.echo(f"config {config} is not valid:", err=True)
        for p in exc.problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(2) from None


def _runtime(sources: Sequence[Source], pipeline: Pipeline, cfg: Config) -> Runtime:
    from edgewatch.pipeline.runtime import Runtime

    return Runtime(
        sources,
        pipeline,
        queue_batches=cfg.pipeline.queue_batches,
        queue_bytes=int(cfg.pipeline.queue_bytes),
    )


def _demo_config() -> Config:
    text = resources.files("edgewatch").joinpath("data/demo.yaml").read_text(encoding="utf-8")
    return parse_config(text, "edgewatch/data/demo.yaml")


@app.command()
def version() -> None:
    """Print the edgewatch version."""
    typer.echo(f"edgewatch {__version__}")


@app.command()
def gadgets() -> None:
    """List the IG gadgets edgewatch decodes, with the names it accepts for each."""
    table = Table(title="Gadgets", title_justify="left")
    table.add_column("family")
    table.add_column("IG gadget")
    table.add_column("datasource")
    table.add_column("what it sees")
    table.add_column("columns", justify="right")
    for g in GADGETS:
        table.add_row(
            g.family, g.gadget, g.datasource, g.description, str(len(g.event.__struct_fields__))
        )
    Console().print(table)


@app.command("validate-config")
def validate_config(
    file: Annotated[Path, typer.Argument(help="The agent config (YAML) to check.")],
) -> None:
    """Check a config file without running anything; report every problem with its line.

    Exits 0 when the config is valid, 2 when it is not.

    Example:

        edgewatch validate-config /etc/edgewatch/agent.yaml
    """
    cfg = _load(file)
    if cfg.detect.enabled:
        from edgewatch.detect.stage import check

        problem = check(cfg.detect)
        if problem:
            typer.echo(f"{file}: detect: {problem}", err=True)
            raise typer.Exit(2)
    sources = ", ".join(f"{s.name} ({s.type})" for s in cfg.sources) or "none"
    sinks = ", ".join(f"{s.name} ({s.type})" for s in cfg.sinks) or "none"
    typer.echo(f"{file}: valid (node {cfg.node!r}; sources: {sources}; sinks: {sinks})")


@app.command()
def normalize(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="IG output files (NDJSON, envelope, CRI or Docker logs, .gz); - for stdin."
        ),
    ],
    gadget: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional
        typer.Option(
            "--gadget", "-g", help="The gadget that wrote the input (default: detect per line)."
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="normalized (typed columns) or ig (IG's JSON, filtered)."
        ),
    ] = "normalized",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write here instead of stdout."),
    ] = None,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--config", "-c", help="Apply this config's filters (sources/sinks are ignored)."
        ),
    ] = None,
    dead_letter: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--dead-letter", help="Keep rejected lines, with the reason, in this NDJSON file."
        ),
    ] = None,
    node: Annotated[
        str, typer.Option("--node", help="Node name for events where IG left it empty.")
    ] = "",
    summary: Annotated[
        bool,
        typer.Option(
            "--summary/--no-summary", help="Print counts per gadget and drop reason to stderr."
        ),
    ] = True,
    log_level: LogLevel = "warning",
) -> None:
    """Decode IG output in any format into normalized events, one JSON object per line.

    Accepts, line by line and mixed: `ig run <gadget> -o json` output (current and the
    older flat layout), the IG logs-operator envelope, and kubelet CRI / Docker log lines.
    Lines that are not IG events are counted and, with --dead-letter, kept with the reason.

    Examples:

        ig run trace_dns -o json | edgewatch normalize -

        edgewatch normalize /var/log/containers/ig-*_gadget_ig-tcp-*.log --gadget trace_tcp

        edgewatch normalize capture.ndjson -c agent.yaml -f ig > filtered.ndjson
    """
    _setup_logging(log_level)
    if fmt not in ("normalized", "ig"):
        raise typer.BadParameter("must be 'normalized' or 'ig'", param_hint="--format")
    spec = None
    if gadget:
        try:
            spec = resolve(gadget)
        except UnknownGadgetError as exc:
            raise typer.BadParameter(str(exc), param_hint="--gadget") from None
    for f in files:
        if str(f) != "-" and not f.exists():
            raise typer.BadParameter(f"{f} does not exist", param_hint="FILES")
    from edgewatch.config import DeadLetterConfig
    from edgewatch.sinks.file import FileSink
    from edgewatch.sinks.stdout import StdoutSink

    cfg = _load(config) if config else Config(node=node or "", sources=[], sinks=[])
    if node:
        cfg = cfg.model_copy(update={"node": node})
    cfg = cfg.model_copy(
        update={"dead_letter": DeadLetterConfig(path=dead_letter, enabled=dead_letter is not None)}
    )
    out_fmt = "ig" if fmt == "ig" else "normalized"
    sink = (
        FileSink(output, out_fmt, max_bytes=1 << 62, max_files=1, name="output")  # type: ignore[arg-type]
        if output
        else StdoutSink(out_fmt, name="output")  # type: ignore[arg-type]
    )
    pipeline, _ = _build_or_exit(cfg, sinks=[sink])
    result = _run_files(files, spec, pipeline, cfg, "decoding")
    pipeline.close()
    stats = pipeline.stats
    if summary:
        from edgewatch.report import print_flow

        print_flow(err, stats, "output")
        if dead_letter and stats.total_rejected:
            err.print(f"rejected lines kept in {dead_letter}")
    if result.source_errors:
        for name, msg in result.source_errors.items():
            err.print(f"[red]{name}: {msg}[/red]")
        raise typer.Exit(1)


def _start_http(
    cfg: Config,
    pipeline: Pipeline,
    runtime: Runtime | None = None,
    reloader: ConfigReloader | None = None,
) -> AgentHttp | None:
    """``/metrics``, ``/healthz``, ``/readyz`` when ``http.listen`` is set."""
    if cfg.http.listen is None:
        return None
    from edgewatch.metrics import AgentHttp, RuntimeCollector, registry_for

    reporters = [r for r in (getattr(s, "status", None) for s in pipeline.sinks) if callable(r)]
    #: a buffer this full is about to drop (or block the sources): not ready
    full_at = 0.95 * int(cfg.buffer.max_bytes)

    def ready() -> tuple[bool, str]:
        if runtime is not None:
            for name, why in runtime.failed_sources.items():
                return False, f"source {name} failed: {why}"
        for report in reporters:
            for name, d in report().items():
                if not d.get("worker_alive"):
                    return False, f"delivery to {name} stopped"
                if d.get("bytes_on_disk", 0) >= full_at:
                    return False, f"buffer of {name} is full ({d['bytes_on_disk']} bytes)"
        return True, "ok"

    extra = []
    if runtime is not None:
        queue = runtime.queue
        extra.append(
            RuntimeCollector(
                queue=lambda: (queue.qsize(), queue.bytes),
                sources=runtime.sources,
                reloads=None if reloader is None else lambda: (reloader.applied, reloader.refused),
            )
        )
    try:
        server = AgentHttp(cfg.http.listen, registry_for(pipeline.stats, reporters, extra), ready)
    except OSError as exc:
        err.print(f"[red]cannot listen on {cfg.http.listen}: {exc.strerror}[/red]")
        raise typer.Exit(2) from None
    logging.getLogger("edgewatch").info("metrics and probes on http://%s", server.address)
    return server.start()


def _start_dashboard(cfg: Config, pipeline: Pipeline) -> Dashboard | None:
    """The dashboard on the agent's own store (``dashboard.enabled``), once it is open."""
    if not cfg.dashboard.enabled:
        return None
    from edgewatch.cli_serve import announce_login
    from edgewatch.web.agent import DashboardError, start_dashboard

    try:
        dash = start_dashboard(cfg, pipeline.sinks)
    except DashboardError as exc:
        err.print(f"dashboard: {exc}", style="red", markup=False, highlight=False)
        pipeline.close()
        raise typer.Exit(2) from None
    if dash is not None:
        logging.getLogger("edgewatch").info(
            "dashboard on %s/ (live store %s)", dash.url, dash.settings.access.path
        )
        announce_login(dash)
    return dash


class _StatusWriter:
    """Writes the agent's figures to ``status.json`` every few seconds for ``status``.

    A file, not a socket: ``edgewatch status`` must work when the agent is wedged too,
    and then shows how old the figures are.
    """

    def __init__(self, pipeline: Pipeline, path: Path, every: float = 5.0) -> None:
        import threading

        self.pipeline = pipeline
        self.path = path
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.write()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.write()

    def write(self) -> None:
        import json
        import os

        destinations = {}
        for sink in self.pipeline.sinks:
            report = getattr(sink, "status", None)
            if callable(report):
                destinations.update(report())
        doc = {
            "written_at": time.time(),
            "pid": os.getpid(),
            "stats": self.pipeline.stats.snapshot(),
            "destinations": destinations,
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, default=str, indent=1))
            tmp.replace(self.path)
        except OSError as exc:
            logging.getLogger("edgewatch").warning("cannot write %s: %s", self.path, exc)


def _run_files(
    files: Sequence[Path], spec: GadgetSpec | None, pipeline: Pipeline, cfg: Config, label: str
) -> RunResult:
    """Run the pipeline over input files with a progress bar (bytes read of the total)."""
    from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn

    from edgewatch.sources.ndjson import NdjsonSource

    with _progress(
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        show=not any(str(f) == "-" for f in files),
    ) as progress:
        task = progress.add_task(label, total=None)
        source = NdjsonSource(
            [str(f) for f in files],
            gadget=spec,
            name="input",
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        runtime = _runtime([source], pipeline, cfg)
        _install_signal_handlers(runtime)
        return runtime.run()


def _start_reload(path: Path, cfg: Config, runtime: Runtime, interval: float) -> ConfigReloader:
    """Hot reload: poll the config file every ``interval`` s (0: never) and on SIGHUP."""
    from edgewatch.reload import ConfigReloader

    reloader = ConfigReloader(path, cfg, runtime.pipeline, poll_interval=interval or 1e9)
    runtime.between_batches.append(reloader.apply_pending)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: reloader.request())
    return reloader.start()


def _install_signal_handlers(runtime: Runtime) -> None:
    stop = runtime.stop

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            # a second signal: the user really wants out
            raise SystemExit(130)
        logging.getLogger("edgewatch").info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The agent config (YAML).")],
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Read file sources to their end, deliver everything (waiting out retries), "
            "exit: the backfill mode.",
        ),
    ] = False,
    reload_interval: Annotated[
        float,
        typer.Option(
            "--reload-interval",
            min=0,
            help="Seconds between checks of the config file; a change (or SIGHUP) applies "
            "new filters, routes and rules without dropping events. 0: SIGHUP only.",
        ),
    ] = 2.0,
    log_level: LogLevel = "info",
) -> None:
    """Run the agent: sources -> decode -> filters -> sinks, until SIGTERM.

    Example config (see examples/agent.yaml for every key):

        sources:
          - type: ig            # run IG's gadgets (ig daemon, or one ig run each)
            gadgets: \\[trace_tcp, trace_dns, trace_sni, trace_exec, audit_seccomp]
        filters:
          exclude: {namespaces: \\[kube-system]}
          noise: {loopback: true, cluster_local_dns: true}
        sinks:
          - type: stdout        # IG's JSON, filtered: the ContainerLogV2 path

    Example:

        edgewatch run -c /etc/edgewatch/agent.yaml
    """
    _setup_logging(log_level)
    cfg = _load(config)
    if not cfg.sources:
        err.print(f"[red]{config}: no sources configured; nothing to run[/red]")
        raise typer.Exit(2)
    from edgewatch.agent import build_sources

    if once:
        following = [s.name for s in cfg.sources if s.type != "file" or getattr(s, "follow", False)]
        if following:
            err.print(
                f"[red]--once reads files to their end; these sources never end: "
                f"{', '.join(following)}[/red]"
            )
            raise typer.Exit(2)
    pipeline, filters = _build_or_exit(cfg, drain=once)
    dashboard = _start_dashboard(cfg, pipeline)
    sources = build_sources(cfg, filters)
    runtime = _runtime(sources, pipeline, cfg)
    _install_signal_handlers(runtime)
    reloader = None if once else _start_reload(config, cfg, runtime, reload_interval)
    status = _StatusWriter(pipeline, cfg.state_dir / "status.json")
    http = _start_http(cfg, pipeline, runtime, reloader)
    log = logging.getLogger("edgewatch")
    log.info(
        "edgewatch %s on node %s: sources %s, sinks %s",
        __version__,
        cfg.node,
        ", ".join(s.name for s in sources),
        ", ".join(s.name for s in pipeline.sinks),
    )
    status.start()
    result = runtime.run()
    if reloader is not None:
        reloader.stop()
    if dashboard is not None:
        dashboard.stop()  # before the store closes: it reads through the store's connection
    try:
        pipeline.close()
    finally:
        status.stop()
        if http is not None:
            http.stop()
    failed = [n for sink in pipeline.sinks for n in getattr(sink, "failed", ())]
    if failed:  # a delivery thread died; its events stay in the buffer for the next start
        err.print(f"[red]delivery failed for {', '.join(failed)}; events stay buffered[/red]")
        raise typer.Exit(1)
    snap = pipeline.stats.snapshot()
    log.info(
        "stopped after %.1fs: %d events in, %d dropped, %d rejected",
        result.seconds,
        sum(snap["events_in"].values()),
        sum(snap["dropped"].values()),
        sum(snap["rejected"].values()),
    )
    if result.source_errors:
        raise typer.Exit(1)


@app.command()
def simulate(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (- for stdout).")],
    events: Annotated[int, typer.Option("--events", "-n", min=1, help="How many events.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Same seed, same output.")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="current, flat, envelope or cri.")
    ] = "current",
    scenario: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--scenario",
            help="Attack to inject (repeatable): shell, miner, dns-tunnel, c2-ip, or all.",
        ),
    ] = None,
    gadgets: Annotated[
        str,
        typer.Option(
            "--gadgets",
            help="Comma list of gadgets to emit (default: the seed's five), or all.",
        ),
    ] = "tcp,dns,sni,exec,seccomp",
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=16, help="Cluster nodes.")] = 3,
    node_names: Annotated[
        bool,
        typer.Option(
            "--node-names/--no-node-names",
            help="Fill k8s.node and k8s.owner as ig --enrich-with-k8s-apiserver does.",
        ),
    ] = False,
    max_line: Annotated[
        int,
        typer.Option("--max-line", min=64, help="cri: split longer lines into P chunks."),
    ] = 16384,
    stderr_noise: Annotated[
        bool,
        typer.Option("--stderr-noise", help="cri: mix in ig's own stderr warnings."),
    ] = False,
) -> None:
    """Write realistic IG output of a small edge cluster, optionally with attacks in it.

    Several nodes, namespaces and pods with skewed traffic: DNS answers that the following
    connections use, TLS server names, process executions and seccomp verdicts.

    Examples:

        edgewatch simulate -n 100000 -o sample.ndjson

        edgewatch simulate -n 50000 --format cri --scenario all -o ig-tcp.log
    """
    from edgewatch import simulate as sim

    try:
        gadget_set = sim.resolve_gadgets(gadgets.split(","))
    except sim.SimulationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--gadgets") from None
    if fmt not in sim.FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(sim.FORMATS)}", param_hint="--format")
    scenarios = set(scenario or ())
    if "all" in scenarios:
        scenarios = set(sim.SCENARIOS)
    unknown = scenarios - set(sim.SCENARIOS)
    if unknown:
        raise typer.BadParameter(
            f"unknown scenario(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sim.SCENARIOS)}, all",
            param_hint="--scenario",
        )
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    started = time.monotonic()
    with _progress(
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("simulating", total=events)
        stream = sim.generate(
            events,
            seed=seed,
            scenarios=sorted(scenarios),
            gadgets=gadget_set,
            nodes=nodes,
            node_names=node_names,
        )

        def write(out: BinaryIO) -> int:
            return sim.write(
                stream,
                out,
                fmt,
                max_line=max_line,
                stderr_noise=stderr_noise,
                progress=lambda n: progress.update(task, completed=n),
            )

        if str(output) == "-":
            written = write(sys.stdout.buffer)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with open(output, "wb") as fh:
                written = write(fh)
    secs = time.monotonic() - started
    err.print(f"wrote {written:,} events ({fmt}) to {output} in {secs:.1f}s")


@app.command()
def demo(
    events: Annotated[
        int, typer.Option("--events", "-n", min=100, help="Simulated events.")
    ] = 100_000,
    seed: Annotated[int, typer.Option("--seed", "-s")] = 7,
    output_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output-dir", help="Where to keep the outputs (default: a temp directory)."),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then open the dashboard on its store (Ctrl+C stops).")
    ] = False,
) -> None:
    """Run a simulated edge cluster, with attacks, through the whole pipeline; show what it saw.

    No IG, Azure or cluster needed. The simulator plays the five gadgets of the seed's
    DaemonSet; the embedded config applies the seed's noise filters on the node; the
    forwarded IG JSON (what Container Insights would ingest) and the normalized events
    are written to the output directory.

    Example:

        edgewatch demo --events 200000
    """
    _setup_logging("warning")
    from edgewatch import simulate as sim
    from edgewatch.agent import build_pipeline
    from edgewatch.events.base import Layout
    from edgewatch.report import print_flow, print_summary, volume_line
    from edgewatch.sinks.file import FileSink
    from edgewatch.sinks.summary import SummarySink
    from edgewatch.sources.memory import IterableSource

    out_dir = output_dir or Path(tempfile.mkdtemp(prefix="edgewatch-demo-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = _demo_config().model_copy(update={"state_dir": out_dir})
    cfg = cfg.model_copy(
        update={
            "dead_letter": cfg.dead_letter.model_copy(
                update={"path": out_dir / "dead-letter.ndjson"}
            )
        }
    )
    forwarded = FileSink(out_dir / "forwarded-ig.ndjson", "ig", name="forwarded")
    normalized = FileSink(out_dir / "events.ndjson", "normalized", name="normalized")
    summary = SummarySink()
    from edgewatch.sinks.store import StoreSink
    from edgewatch.store.writer import StoreSettings

    store_path = out_dir / "store.duckdb"
    for stale in (store_path, Path(str(store_path) + ".wal")):
        stale.unlink(missing_ok=True)
    store = StoreSink(StoreSettings(path=store_path, node="edge-node-1", max_age_ns=None))
    pipeline, _ = build_pipeline(cfg, sinks=[forwarded, normalized, summary, store])

    from rich.progress import BarColumn, MofNCompleteColumn

    console = Console()
    console.print(
        f"[bold]edgewatch demo[/bold]: {events:,} simulated IG events from a 3-node edge cluster, "
        f"attack scenarios: {', '.join(sim.SCENARIOS)}"
    )
    started = time.monotonic()
    with _progress(
        BarColumn(),
        MofNCompleteColumn(),
    ) as progress:
        task = progress.add_task("decode -> filter -> sinks", total=events)
        render = sim.Renderer(Layout.CURRENT)
        lines = map(render, sim.generate(events, seed=seed, scenarios=sim.SCENARIOS))
        source = IterableSource(
            lines, name="simulator", on_progress=lambda n: progress.update(task, completed=n)
        )
        runtime = _runtime([source], pipeline, cfg)
        _install_signal_handlers(runtime)
        runtime.run()
    pipeline.close()
    secs = time.monotonic() - started
    stats = pipeline.stats
    print_flow(console, stats, "forwarded")
    console.print(volume_line(stats, "forwarded"))
    print_summary(console, summary)
    _demo_hunts(console, store_path)
    console.print(
        f"\n{stats.total_in:,} events in {secs:.1f}s "
        f"({stats.total_in / secs:,.0f}/s including simulation).\n"
        f"forwarded IG JSON: {out_dir / 'forwarded-ig.ndjson'}\n"
        f"normalized events: {out_dir / 'events.ndjson'}\n"
        f"local store:       {store_path}  (edgewatch hunt --list; "
        f"edgewatch hunt <query> --db {store_path}; edgewatch serve --db {store_path})"
    )
    if serve:
        from edgewatch.cli_serve import serve_store

        _StatusWriter(pipeline, out_dir / "status.json").write()  # drops for the overview
        serve_store(store_path, status=out_dir / "status.json")


#: Two of the bundled hunts, with the columns worth a glance on a terminal.
_DEMO_HUNTS = (
    (
        "public_outbound_tcp",
        "Seed query: outbound TCP to public IPs (KQL, as written for Sentinel)",
        ["log_namespace", "log_podName", "log_comm", "log_dstPort", "count_", "set_log_dstIp"],
    ),
    (
        "unresolved_public_ip",
        "Connections to public IPs that no DNS answer explains",
        ["log_namespace", "log_podName", "log_dstIp", "DstPorts", "Processes", "Connections"],
    ),
)


_DEMO_ALERTS = """EdgeWatchAlert_CL
| summarize Alerts = count(), Pods = dcount(PodName) by RuleName, Severity, Tactic
| extend Rank = case(Severity == "critical", 0, Severity == "high", 1, Severity == "medium", 2, 3)
| order by Rank asc, Alerts desc, RuleName asc
| project-away Rank"""


def _demo_hunts(console: Console, store_path: Path) -> None:
    """Hunt in the demo's store with bundled KQL, the way `edgewatch hunt` does."""
    from edgewatch.hunt import catalog, engine, output
    from edgewatch.store.database import open_store

    con = open_store(store_path, read_only=True)
    try:
        engine.prepare(con)
        for name, title, columns in _DEMO_HUNTS:
            result = engine.execute(con, catalog.get(name).text)
            output.print_table(result, console, limit=8, columns=columns, title=title)
        # the alerts the detections raised, from the same table Sentinel gets
        result = engine.execute(con, _DEMO_ALERTS)
        output.print_table(result, console, limit=12, title="Alerts raised in the stream")
    finally:
        con.close()


# Commands kept in modules of their own; importing them registers them on ``app``.
from edgewatch import (  # noqa: E402, F401
    cli_cost,
    cli_deploy,
    cli_deploy_k8s,
    cli_deploy_sentinel,
    cli_detect,
    cli_serve,
    cli_status,
    cli_store,
)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

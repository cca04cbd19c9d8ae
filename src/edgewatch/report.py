"""Human-readable reports on stderr/stdout: what went in, what came out, what was seen."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from edgewatch.pipeline.stats import Stats
from edgewatch.sinks.summary import SummarySink


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def flow_table(stats: Stats, sink: str | None = None) -> Table:
    """Per gadget: events in, forwarded, dropped — and the drop reasons."""
    table = Table(title="Events by gadget", title_justify="left")
    table.add_column("gadget")
    table.add_column("in", justify="right")
    table.add_column("forwarded", justify="right")
    table.add_column("dropped", justify="right")
    out: dict[str, int] = {}
    for (sink_name, gadget), n in stats.events_out.items():
        if sink is None or sink_name == sink:
            out[gadget] = max(out.get(gadget, 0), n)
    dropped: dict[str, int] = {}
    for (_, gadget), n in stats.dropped.items():
        dropped[gadget] = dropped.get(gadget, 0) + n
    for gadget, n in sorted(stats.events_in.items(), key=lambda kv: -kv[1]):
        table.add_row(gadget, f"{n:,}", f"{out.get(gadget, 0):,}", f"{dropped.get(gadget, 0):,}")
    table.add_row(
        "[bold]total",
        f"[bold]{stats.total_in:,}",
        f"[bold]{sum(out.values()):,}",
        f"[bold]{stats.total_dropped:,}",
    )
    return table


def drops_table(stats: Stats) -> Table:
    table = Table(title="Why events were dropped or rejected", title_justify="left")
    table.add_column("reason")
    table.add_column("gadget")
    table.add_column("events", justify="right")
    for (reason, gadget), n in sorted(stats.dropped.items(), key=lambda kv: -kv[1]):
        table.add_row(reason, gadget, f"{n:,}")
    for reason, n in sorted(stats.rejected.items(), key=lambda kv: -kv[1]):
        table.add_row(f"rejected:{reason}", "-", f"{n:,}")
    return table


def print_flow(console: Console, stats: Stats, sink: str | None = None) -> None:
    console.print(flow_table(stats, sink))
    if stats.dropped or stats.rejected:
        console.print(drops_table(stats))
    if stats.skipped:
        skipped = ", ".join(f"{k}: {v:,}" for k, v in sorted(stats.skipped.items()))
        console.print(f"[dim]lines that were not events: {skipped}[/dim]")


def print_summary(console: Console, summary: SummarySink, limit: int = 8) -> None:
    """The "what did this cluster do" tables."""
    pods = Table(title="Busiest pods", title_justify="left")
    pods.add_column("namespace")
    pods.add_column("pod")
    pods.add_column("events", justify="right")
    for (ns, pod), n in summary.by_pod.most_common(limit):
        pods.add_row(ns or "(host)", pod or "(host)", f"{n:,}")
    console.print(pods)

    dest = Table(
        title="Public destinations (named from the pod's own DNS answers)", title_justify="left"
    )
    dest.add_column("address")
    dest.add_column("name")
    dest.add_column("ports")
    dest.add_column("pods")
    dest.add_column("connects", justify="right")
    top = sorted(summary.public.items(), key=lambda kv: -kv[1].count)[:limit]
    for addr, d in top:
        name = ", ".join(sorted(d.names)) or "[bold red]no DNS answer[/bold red]"
        pods = sorted(d.pods)
        pod_text = pods[0] + (f" (+{len(pods) - 1})" if len(pods) > 1 else "")
        dest.add_row(addr, name, ",".join(map(str, sorted(d.ports))), pod_text, f"{d.count:,}")
    console.print(dest)

    if summary.unexplained_public:
        t = Table(title="Connections to public IPs no DNS answer explains", title_justify="left")
        t.add_column("pod")
        t.add_column("address")
        t.add_column("port", justify="right")
        t.add_column("connects", justify="right")
        for (pod, addr, port), n in summary.unexplained_public.most_common(limit):
            t.add_row(pod, addr, str(port), f"{n:,}")
        console.print(t)

    dns = Table(title="Most resolved names", title_justify="left")
    dns.add_column("name")
    dns.add_column("responses", justify="right")
    for name, n in summary.dns_names.most_common(limit):
        dns.add_row(name, f"{n:,}")
    console.print(dns)

    if summary.long_dns_labels:
        t = Table(
            title="Lookups with very long labels (possible DNS tunnelling)", title_justify="left"
        )
        t.add_column("domain")
        t.add_column("queries", justify="right")
        for name, n in summary.long_dns_labels.most_common(limit):
            t.add_row(name if len(name) < 90 else name[:87] + "...", f"{n:,}")
        console.print(t)

    if summary.sni:
        t = Table(title="TLS server names per pod", title_justify="left")
        t.add_column("pod")
        t.add_column("server name")
        t.add_column("handshakes", justify="right")
        for (pod, name), n in summary.sni.most_common(limit):
            t.add_row(pod, name, f"{n:,}")
        console.print(t)

    if summary.suspicious_execs:
        t = Table(title="Process executions worth a look", title_justify="left")
        t.add_column("pod")
        t.add_column("parent")
        t.add_column("process")
        t.add_column("command line")
        t.add_column("count", justify="right")
        for (pod, parent, comm, cmd), n in summary.suspicious_execs.most_common(limit):
            t.add_row(pod, parent, f"[bold]{comm}[/bold]", cmd, f"{n:,}")
        console.print(t)

    if summary.seccomp:
        t = Table(title="Seccomp verdicts", title_justify="left")
        t.add_column("pod")
        t.add_column("syscall")
        t.add_column("action")
        t.add_column("count", justify="right")
        for (pod, syscall, code), n in summary.seccomp.most_common(limit):
            t.add_row(pod, syscall, code, f"{n:,}")
        console.print(t)


def volume_line(stats: Stats, sink: str) -> str:
    raw = stats.bytes_in
    out = stats.bytes_out.get(sink, 0)
    saved = 100.0 * (1 - out / raw) if raw else 0.0
    return (
        f"volume: {_fmt_bytes(raw)} of IG output in, "
        f"{_fmt_bytes(out)} forwarded ({saved:.0f}% less)"
    )

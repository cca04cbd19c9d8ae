"""Agent footprint benchmark; writes the "Agent footprint" section of BENCHMARKS.md.

    python -m bench.footprint                    # 5,000 events/s for 60 s, 3 runs
    python -m bench.footprint --seconds 10 --runs 1 --output /tmp/B.md   # a quick look

The agent is a real ``edgewatch run`` process with the config ``edgewatch deploy k8s``
puts in the ConfigMap (the seed's filters, IG's JSON on stdout for Container Insights,
the metrics endpoint on), except that its events come from standard input instead of
``ig daemon``: simulated output of the seed's five gadgets (tcp, dns, sni, exec,
seccomp), in the logs-operator envelope ``ig daemon`` prints, paced at the given rate
in 10 ms slices. Its CPU (utime + stime from /proc/<pid>/stat) and memory (VmRSS,
VmHWM from /proc/<pid>/status) are sampled once a second. Reported, median of the runs:
the agent's average CPU in millicores and peak RSS while under load, the same with no
filters (every event forwarded: the worst case), and an idle agent (same config, no
events) measured in the same invocation, against the seed's
five ``ig`` containers' limits (5 x 90m CPU, 5 x 256 MiB). The agent must forward every
line it is fed (checked from its own final count) or the run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- footprint:begin -->", "<!-- footprint:end -->"
SEED_CPU_M = 5 * 90
SEED_MEM_MIB = 5 * 256
TARGET_CPU_M = 90
TARGET_MEM_MIB = 128
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    events: int
    seconds: float
    cpu_m: float
    rss_peak_mib: float
    rss_end_mib: float
    forwarded: int
    startup_s: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agent_config(state: Path, filters: bool = True) -> str:
    """The ConfigMap's default agent config, reading stdin instead of running IG.

    ``filters=False``: no filters at all, every event is forwarded (the worst case).
    """
    from edgewatch.deploy.k8s.agentconfig import Mode, default_config

    cfg = default_config(Mode.agent, "edgewatch", "gadget")
    if not filters:
        del cfg["filters"]
    cfg["state_dir"] = str(state)
    cfg["sources"] = [{"type": "file", "paths": ["-"]}]
    cfg["http"] = {"listen": f"127.0.0.1:{_free_port()}"}
    return yaml.safe_dump(cfg, sort_keys=False)


def capture(events: int, fmt: str) -> list[bytes]:
    """Rendered lines of the five seed gadgets (cycled if the run needs more)."""
    import io

    from edgewatch import simulate

    buf = io.BytesIO()
    simulate.write(simulate.generate(events, seed=11), buf, fmt)
    return buf.getvalue().splitlines(keepends=True)


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def _mem_kib(pid: int) -> tuple[int, int]:
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def _drain(stream: IO[bytes], counter: list[int]) -> None:
    while chunk := stream.read(1 << 16):
        counter[0] += chunk.count(b"\n")


def _wait_ready(port: int, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the agent did not become ready")


def run_once(
    lines: list[bytes], rate: int, seconds: float, tmp: Path, tag: str, filters: bool = True
) -> Run:
    state = tmp / f"state-{tag}"
    cfg_path = tmp / f"agent-{tag}.yaml"
    cfg_path.write_text(agent_config(state, filters))
    port = int(yaml.safe_load(cfg_path.read_text())["http"]["listen"].rsplit(":", 1)[1])
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgewatch", "run", "-c", str(cfg_path), "--log-level", "info"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    out_lines = [0]
    reader = threading.Thread(target=_drain, args=(proc.stdout, out_lines), daemon=True)
    reader.start()
    err_chunks: list[bytes] = []
    err_reader = threading.Thread(
        target=lambda: err_chunks.append(proc.stderr.read()),  # type: ignore[union-attr]
        daemon=True,
    )
    err_reader.start()
    _wait_ready(port)
    startup = time.monotonic() - started

    fd = proc.stdin.fileno()
    per_slice = rate / 100  # 10 ms slices
    sent = 0
    owed = 0.0
    i = 0
    n = len(lines)
    t0 = time.monotonic()
    ticks0 = _cpu_ticks(proc.pid)
    peak_rss = 0
    next_sample = t0 + 1.0
    slice_no = 0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        owed += per_slice
        k = int(owed)
        owed -= k
        if k and rate:
            chunk = []
            for _ in range(k):
                chunk.append(lines[i])
                i = (i + 1) % n
            os.write(fd, b"".join(chunk))  # blocks if the agent falls behind
            sent += k
        if now >= next_sample:
            peak_rss = max(peak_rss, _mem_kib(proc.pid)[0])
            next_sample += 1.0
        slice_no += 1
        delay = t0 + slice_no * 0.01 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    wall = time.monotonic() - t0
    ticks1 = _cpu_ticks(proc.pid)
    rss_end, hwm = _mem_kib(proc.pid)
    peak_rss = max(peak_rss, rss_end)
    proc.stdin.close()  # end of input: the agent drains, flushes and exits
    proc.wait(timeout=120)
    reader.join(timeout=10)
    err_reader.join(timeout=10)
    log = b"".join(err_chunks).decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"agent failed ({proc.returncode}):\n{log[-2000:]}")
    m = re.search(r"(\d+) events in, (\d+) dropped, (\d+) rejected", log)
    if m is None or int(m.group(1)) != sent:
        raise SystemExit(
            f"agent counted {m and m.group(1)} events, {sent} were fed:\n{log[-2000:]}"
        )
    if int(m.group(1)) - int(m.group(2)) != out_lines[0]:
        raise SystemExit(f"{out_lines[0]} lines forwarded, agent says {m.group(0)}")
    return Run(
        events=sent,
        seconds=wall,
        cpu_m=(ticks1 - ticks0) / CLK_TCK / wall * 1000,
        rss_peak_mib=max(peak_rss, hwm) / 1024,
        rss_end_mib=rss_end / 1024,
        forwarded=out_lines[0],
        startup_s=startup,
    )


def report(
    loaded: list[Run],
    unfiltered: list[Run],
    idle: list[Run],
    rate: int,
    seconds: float,
    fmt: str,
    command: str,
) -> str:
    def med(runs: list[Run], key: str) -> float:
        return statistics.median(getattr(r, key) for r in runs)

    cpu, rss = med(loaded, "cpu_m"), med(loaded, "rss_peak_mib")
    all_cpu, all_rss = med(unfiltered, "cpu_m"), med(unfiltered, "rss_peak_mib")
    idle_cpu, idle_rss = med(idle, "cpu_m"), med(idle, "rss_peak_mib")
    fwd = med(loaded, "forwarded") / max(1, med(loaded, "events"))
    achieved = med(loaded, "events") / med(loaded, "seconds")
    cpu_ok = "met" if cpu < TARGET_CPU_M else "**not met**"
    mem_ok = "met" if rss < TARGET_MEM_MIB else "**not met**"
    lines = [
        BEGIN,
        "## Agent footprint (one agent for five gadgets)",
        "",
        f"`{command}`; median of {len(loaded)} run(s) of {seconds:.0f} s at {rate:,} events/s "
        f"(achieved {achieved:,.0f}/s), {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. The agent is a real `edgewatch run` with the "
        "ConfigMap's default config (seed noise filters, IG JSON on stdout, metrics "
        f"endpoint on) fed the seed's five gadgets in `ig daemon`'s {fmt} format on stdin. "
        "CPU from /proc/<pid>/stat over the loaded window; RSS peak is VmHWM (start-up "
        "included). Not in these figures: IG itself. The seed's limits cover five `ig run` "
        "processes that both trace and print; with edgewatch one `ig daemon` traces for "
        "all five gadgets and its cost comes on top of the agent's (it cannot be measured "
        "here: no kernel tracing, no IG on this machine).",
        "",
        "| | CPU (millicores) | peak RSS (MiB) |",
        "|---|---:|---:|",
        f"| edgewatch agent, {rate:,} events/s | {cpu:.0f} | {rss:.0f} |",
        f"| edgewatch agent, {rate:,} events/s, no filters (all forwarded) "
        f"| {all_cpu:.0f} | {all_rss:.0f} |",
        f"| edgewatch agent, idle | {idle_cpu:.0f} | {idle_rss:.0f} |",
        f"| seed: five `ig` containers' limits | {SEED_CPU_M} | {SEED_MEM_MIB} |",
        f"| target for one agent | < {TARGET_CPU_M} | < {TARGET_MEM_MIB} |",
        "",
        f"Agent / seed limits: CPU {cpu / SEED_CPU_M:.2f}, memory {rss / SEED_MEM_MIB:.2f}. "
        f"Forwarded {fwd:.0%} of the events (the rest dropped by the noise filters, counted). "
        f"Start-up to ready: {med(loaded, 'startup_s'):.1f} s. "
        f"CPU target: {cpu_ok}; memory target: {mem_ok}.",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.footprint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--rate", type=int, default=5000, help="events per second, all gadgets")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle-seconds", type=float, default=None, help="default: --seconds / 3")
    ap.add_argument("--format", default="envelope", choices=["envelope", "current", "cri"])
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()

    from bench.store import write_section

    tmp = Path(tempfile.mkdtemp(prefix="edgewatch-footprint-"))
    lines = capture(min(200_000, max(10_000, int(args.rate * args.seconds))), args.format)
    idle_seconds = args.idle_seconds or max(5.0, args.seconds / 3)
    loaded: list[Run] = []
    unfiltered: list[Run] = []
    idle: list[Run] = []
    for r in range(args.runs):
        idle.append(run_once(lines, 0, idle_seconds, tmp, f"idle-{r}"))
        loaded.append(run_once(lines, args.rate, args.seconds, tmp, f"load-{r}"))
        unfiltered.append(run_once(lines, args.rate, args.seconds, tmp, f"all-{r}", filters=False))
        print(
            json.dumps(
                {
                    "run": r,
                    "loaded": vars(loaded[-1]),
                    "unfiltered": vars(unfiltered[-1]),
                    "idle": vars(idle[-1]),
                }
            )
        )
    command = "python -m bench.footprint" + (
        ""
        if (args.rate, args.seconds, args.runs) == (5000, 60.0, 3)
        else f" --rate {args.rate} --seconds {args.seconds:g} --runs {args.runs}"
    )
    section = report(loaded, unfiltered, idle, args.rate, args.seconds, args.format, command)
    write_section(args.output, section, BEGIN, END)
    print(section)


if __name__ == "__main__":
    main()

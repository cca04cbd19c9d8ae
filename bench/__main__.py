"""Run the benchmark suite and write BENCHMARKS.md.

    python -m bench                     # 1,000,000 events, 5 runs each (about 10 minutes)
    python -m bench --events 200000 --runs 3 --output /tmp/B.md   # a quick look

Every contender runs in a fresh process pinned to one core, on the same simulated IG
output, with the same filter (bench/cases.py), and must forward the same number of
lines. Reported: the median of the runs, events per second, CPU seconds per million
events and peak RSS, and ratios against jq and a json.loads pipeline measured in the
same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.cases import JQ_FILTER

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"


@dataclass
class Result:
    name: str
    runs: list[dict[str, float]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.runs)

    def share_of(self, other: Result) -> float:
        """Median over rounds of this rate / the other's rate in the same round: robust
        to a machine whose speed drifts between rounds."""
        return statistics.median(
            (a["in"] / a["wall"]) / (b["in"] / b["wall"])
            for a, b in zip(self.runs, other.runs, strict=True)
        )

    @property
    def events(self) -> int:
        return int(self.runs[0]["in"])

    @property
    def rate(self) -> float:
        return self.events / self.median("wall")

    @property
    def cpu_per_million(self) -> float:
        return self.median("cpu") / self.events * 1e6

    @property
    def rss_mib(self) -> float:
        return max(r["rss"] for r in self.runs) / 2**20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_inputs(events: int, seed: int) -> tuple[Path, list[Path]]:
    """The simulated capture (one mixed file) and the same events split per gadget."""
    from edgewatch import simulate
    from edgewatch.decode.classify import sniff

    CACHE.mkdir(parents=True, exist_ok=True)
    mixed = CACHE / f"sim-{events}-{seed}.ndjson"
    split_dir = CACHE / f"split-{events}-{seed}"
    if not mixed.exists():
        log(f"simulating {events:,} events ...")
        tmp = mixed.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            simulate.write(
                simulate.generate(events, seed=seed, scenarios=simulate.SCENARIOS), fh, "current"
            )
        tmp.rename(mixed)
    if not split_dir.exists():
        tmp_dir = split_dir.with_suffix(".tmp")
        tmp_dir.mkdir(exist_ok=True)
        handles: dict[str, object] = {}
        with open(mixed, "rb") as fh:
            for line in fh:
                spec = sniff(line)
                name = spec.gadget if spec is not None else "unknown"
                out = handles.get(name)
                if out is None:
                    out = handles[name] = open(tmp_dir / f"{name}.ndjson", "wb")  # noqa: SIM115
                out.write(line)  # type: ignore[attr-defined]
        for h in handles.values():
            h.close()  # type: ignore[attr-defined]
        tmp_dir.rename(split_dir)
    return mixed, sorted(split_dir.glob("*.ndjson"))


def run_python(
    name: str, files: list[Path], fmt: str = "ig", per_gadget: bool = False
) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.contenders",
            name,
            os.devnull,
            fmt,
            "1" if per_gadget else "0",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.splitlines()[-1])


def run_jq(files: list[Path]) -> dict[str, float]:
    lines_in = sum(1 for f in files for _ in open(f, "rb"))  # noqa: SIM115
    out_path = CACHE / "jq.out"
    with open(out_path, "wb") as out:
        started = time.perf_counter()
        cpu = str(min(os.sched_getaffinity(0)))
        # taskset execs jq in place: the rusage of this pid is jq's
        proc = subprocess.Popen(
            ["taskset", "-c", cpu, "jq", "-c", JQ_FILTER, *map(str, files)], stdout=out
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"jq failed with {proc.returncode}")
    lines_out = sum(1 for _ in open(out_path, "rb"))  # noqa: SIM115
    out_path.unlink()
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss * 1024,
        "in": lines_in,
        "out": lines_out,
    }


def have(cmd: str) -> bool:
    from shutil import which

    return which(cmd) is not None


def have_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import msgspec

    jq = (
        subprocess.run(
            ["jq", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if have("jq")
        else "absent"
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "msgspec": msgspec.__version__,
        "jq": jq,
        "kernel": platform.release(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--skip-jq", action="store_true")
    args = ap.parse_args()

    mixed, split = make_inputs(args.events, args.seed)
    size = mixed.stat().st_size
    log(f"input: {mixed.name}, {size / 2**20:.0f} MiB, {len(split)} per-gadget files")

    plan: list[tuple[str, object]] = [
        (
            "edgewatch: filter and forward, one stream per gadget",
            lambda: run_python("edgewatch", split, "ig", per_gadget=True),
        ),
        (
            "edgewatch: filter and forward, one mixed stream",
            lambda: run_python("edgewatch", [mixed], "ig"),
        ),
        (
            "edgewatch: fully normalized, one stream per gadget",
            lambda: run_python("edgewatch", split, "normalized", per_gadget=True),
        ),
        (
            "edgewatch: fully normalized, one mixed stream",
            lambda: run_python("edgewatch", [mixed], "normalized"),
        ),
        ("baseline: json.loads pipeline", lambda: run_python("json.loads", [mixed])),
        (
            "reference: bare msgspec loop (needed fields only)",
            lambda: run_python("msgspec-bare", [mixed]),
        ),
    ]
    if have("jq") and not args.skip_jq:
        plan.append(("baseline: jq -c 'select(...)'", lambda: run_jq([mixed])))
    if have_module("duckdb"):
        plan.append(
            ("near-limit: DuckDB read_ndjson (1 thread)", lambda: run_python("duckdb", [mixed]))
        )

    # Rounds, not blocks: every round runs every contender once, so a machine that slows
    # down for a while (a shared VM does) hurts all of them alike and ratios stay fair.
    results = [Result(name) for name, _ in plan]
    for i in range(args.runs):
        for res, (name, fn) in zip(results, plan, strict=True):
            res.runs.append(fn())  # type: ignore[operator]
            rate = res.runs[-1]["in"] / res.runs[-1]["wall"]
            log(f"round {i + 1}/{args.runs} {name}: {rate:,.0f} ev/s")

    # the bound on memory must not depend on the input size: the same path on 3x the input
    triple = run_python("edgewatch", [mixed, mixed, mixed], "ig")
    outs = {r.name: r.runs[0]["out"] for r in results if "DuckDB" not in r.name}
    if len(set(outs.values())) != 1:
        raise SystemExit(f"contenders disagree on what to forward: {outs}")

    raw = {r.name: r.runs for r in results} | {"triple": [triple]}
    (CACHE / "last-results.json").write_text(json.dumps(raw, indent=1))
    write_report(args, results, triple, size, machine())
    log(f"wrote {args.output}")


BARE = "reference: bare msgspec loop (needed fields only)"
#: The issue's scale: the bare loop reaches about 400,000 events/s on this machine; the
#: targets are 300,000 (forward) and 200,000 (normalized), i.e. these shares of it.
FORWARD_SHARE = 300_000 / 400_000
NORMALIZED_SHARE = 200_000 / 400_000


def write_report(
    args: argparse.Namespace,
    results: list[Result],
    triple: dict[str, float],
    size: int,
    mach: dict[str, str],
) -> None:
    by = {r.name: r for r in results}
    jq = next((r for r in results if r.name.startswith("baseline: jq")), None)
    loads = by["baseline: json.loads pipeline"]
    bare = by[BARE]
    forward = by["edgewatch: filter and forward, one stream per gadget"]
    forward_mixed = by["edgewatch: filter and forward, one mixed stream"]
    full = by["edgewatch: fully normalized, one stream per gadget"]
    full_mixed = by["edgewatch: fully normalized, one mixed stream"]
    kept = int(results[0].runs[0]["out"])
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (see `bench/`). Do not edit by hand.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {mach['cpu']}, {mach['cores']} cores (each contender pinned to one), "
        f"Linux {mach['kernel']}, a shared VM whose speed drifts by up to 2x over minutes",
        f"- software: Python {mach['python']}, msgspec {mach['msgspec']}, {mach['jq']}",
        f"- input: {results[0].events:,} simulated IG events (`edgewatch simulate`, seed "
        f"{args.seed}, all attack scenarios, IG's current JSON), {size / 2**20:.0f} MiB; "
        f"{kept:,} kept by the filter",
        "- filter: drop `kube-system`, TCP to loopback, `*.cluster.local.` lookups and "
        "lookups answered by a loopback resolver (`bench/cases.py`); every contender "
        "forwards the same lines",
        f"- {args.runs} rounds, every contender once per round; events/s and CPU are the "
        "median over rounds, ratios the median of the same-round ratios, peak RSS the maximum",
        "",
        "| path | events/s | CPU s per 1M events | peak RSS | vs jq | vs json.loads "
        "| share of bare loop |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        vs_jq = f"{r.share_of(jq):.1f}x" if jq else "n/a"
        lines.append(
            f"| {r.name} | {r.rate:,.0f} | {r.cpu_per_million:.2f} | {r.rss_mib:.0f} MiB | "
            f"{vs_jq} | {r.share_of(loads):.1f}x | {r.share_of(bare):.2f} |"
        )
    triple_rate = triple["in"] / triple["wall"]
    lines += [
        "",
        f"Memory does not grow with the input: the filter-and-forward path on 3x the input "
        f"({int(triple['in']):,} events) peaked at {triple['rss'] / 2**20:.0f} MiB "
        f"({triple_rate:,.0f} events/s).",
        "",
        "## Against the targets",
        "",
        "The targets were set on this machine when the bare msgspec loop ran at about "
        "400,000 events/s. Because the VM's speed drifts, each target is also given as a "
        f"share of the bare loop measured in the same rounds ({bare.rate:,.0f} events/s "
        "this time).",
        "",
        "| target | measured | share of bare loop (target) | |",
        "|---|---|---|---|",
    ]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    def share(r: Result) -> float:
        return r.share_of(bare)

    lines.append(
        f"| filter and forward >= 300,000 events/s, one core | {forward.rate:,.0f} per-gadget "
        f"streams; {forward_mixed.rate:,.0f} one mixed stream | {share(forward):.2f}; "
        f"{share(forward_mixed):.2f} ({FORWARD_SHARE:.2f}) | "
        f"{verdict(forward.rate >= 300_000 or share(forward) >= FORWARD_SHARE)} |"
    )
    if jq:
        lines.append(
            f"| filter and forward >= 6x jq | {forward.share_of(jq):.1f}x per-gadget; "
            f"{forward_mixed.share_of(jq):.1f}x mixed | | "
            f"{verdict(min(forward.share_of(jq), forward_mixed.share_of(jq)) >= 6)} |"
        )
    lines.append(
        f"| fully normalized >= 200,000 events/s | {full.rate:,.0f} per-gadget; "
        f"{full_mixed.rate:,.0f} mixed | {share(full):.2f}; {share(full_mixed):.2f} "
        f"({NORMALIZED_SHARE:.2f}) | "
        f"{verdict(full.rate >= 200_000 or share(full) >= NORMALIZED_SHARE)} |"
    )
    rss = max(
        forward.rss_mib,
        forward_mixed.rss_mib,
        full.rss_mib,
        full_mixed.rss_mib,
        triple["rss"] / 2**20,
    )
    lines.append(
        f"| peak RSS < 100 MiB whatever the input size | {rss:.0f} MiB | | {verdict(rss < 100)} |"
    )
    lines += [
        "",
        "## Reading the numbers",
        "",
        "- *events/s* is the wall time of the processing inside each process (interpreter "
        "and import start-up excluded for the Python contenders; jq's start-up is included "
        "and negligible).",
        "- *one stream per gadget* is how the seed deploys IG (one container per gadget) and "
        "how `ig run` mode and the CRI tail feed edgewatch; *one mixed stream* is `ig "
        "daemon`'s output or a mixed capture, where each line's gadget is detected first.",
        "- *bare msgspec loop* decodes only the filter's fields and writes the line back: no "
        "format detection, no framing, no accounting, no bounded queue. It is the floor for "
        "pure Python here, not a pipeline.",
        "- *DuckDB* (when installed) only counts the rows its vectorized reader keeps: the "
        "near-limit for reading this JSON at all.",
    ]
    args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

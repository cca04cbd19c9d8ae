"""Detection benchmark; writes the "Detections" section of BENCHMARKS.md.

    python -m bench.detect                                   # a simulated day, 3 rounds
    python -m bench.detect --hours 2 --events 200000 --runs 1 --output /tmp/B.md  # quick

Two questions, one script:

**Accuracy.** The simulator's background traffic of an edge cluster for ``--hours``
(about 650,000 events an hour) with all of its attack scenarios mixed in, every event
labelled with the scenario that caused it (or none). The rule engine — built-in rules,
the bundled Sigma rules, a sample egress policy and a sample indicator feed — runs over
the whole stream in batches, as in the agent. An alert is *true* when one of its
evidence events belongs to a scenario, *false* otherwise. Reported: per rule its true
and false alerts, precision, and recall (the share of the scenarios the rule is meant to
catch that it did catch); per scenario whether it raised an alert; false alerts per
100,000 benign events.

**Throughput.** The real agent path (NDJSON source -> runtime -> decode -> stages ->
stdout sink in IG format, one mixed stream, the filters of ``bench/cases.py``), run in
a fresh process pinned to one core, with and without detection, in the same rounds:
no rules; all built-in rules; built-in + Sigma + intel + egress policy. events/s is the
median over rounds, the ratio the median of same-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- detect:begin -->", "<!-- detect:end -->"
EVENTS_PER_HOUR = 650_000

#: Which rules each scenario is meant to raise (recall is measured against this).
EXPECTED: dict[str, set[str]] = {
    "shell": {
        "shell_from_server_process",
        "reverse_shell_redirect",
        "reverse_shell_connection",
        "terminal_shell_in_container",
        "unexplained_public_ip",
        "apiserver_first_contact",
        "sigma_linux_reverse_shell_via_bash_dev_tcp",
        "sigma_read_of_a_kubernetes_service_account_token",
        "sigma_kubectl_or_api_access_with_a_bearer_token",
        "sigma_shell_process_opening_a_network_connection",
        "sigma_download_into_a_temporary_directory",
        "sigma_chmod_executable_in_temporary_directory",
        "sigma_interactive_shell_started_with_i",
    },
    "miner": {
        "binary_from_tmp",
        "mining_pool_port",
        "mining_pool_domain",
        "mining_pool_sni",
        "unexplained_public_ip",
        "intel_dns",
        "sigma_download_piped_into_a_shell",
        "sigma_xmrig_miner_command_line",
        "sigma_modprobe_of_the_msr_module",
        "sigma_dns_query_for_a_mining_pool",
        "sigma_outbound_connection_to_mining_pool_ports",
        "sigma_execution_from_a_temporary_directory",
    },
    "dns-tunnel": {"dns_long_label", "dns_subdomain_burst", "dns_txt_heavy"},
    "c2-ip": {
        "binary_from_tmp",
        "unexplained_public_ip",
        "egress_not_allowed",
        "intel_connection",
        "shell_from_server_process",
        "sigma_execution_from_a_temporary_directory",
    },
}

#: A sample policy: the IoT gateway may only reach Azure IoT Hub (and Azure's ranges).
EGRESS = {"iot-gateway": {"domains": ["*.azure-devices.net"], "cidrs": ["20.0.0.0/8"]}}

#: A sample feed as a STIX 2.1 bundle: a C2 address and a mining pool, as a feed lists them.
FEED = {
    "type": "bundle",
    "id": "bundle--1a5b8e0e-8d62-4a3e-9a63-2b6f0c6b8a11",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--2c1d9a3e-6b5f-4f0e-8a47-7d0c2b9e1f21",
            "name": "C2 server",
            "pattern": "[ipv4-addr:value = '51.75.64.23']",
            "pattern_type": "stix",
            "valid_from": "2025-01-01T00:00:00Z",
        },
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--3d2e0b4f-7c60-4f1f-9b58-8e1d3c0f2a32",
            "name": "Monero pool",
            "pattern": "[domain-name:value = 'supportxmr.com']",
            "pattern_type": "stix",
            "valid_from": "2025-01-01T00:00:00Z",
        },
    ],
}


def _detect_config(tmp: Path, full: bool) -> dict[str, Any]:
    cfg: dict[str, Any] = {"enabled": True, "sigma_builtin": full, "alerts": {"stdout": False}}
    if full:
        feed = tmp / "feed.json"
        feed.write_text(json.dumps(FEED))
        cfg["intel"] = [str(feed)]
        cfg["egress"] = EGRESS
    return cfg


# -- accuracy ---------------------------------------------------------------------------


def accuracy(hours: float, seed: int, tmp: Path) -> dict[str, Any]:
    from edgewatch.detect.config import DetectConfig
    from edgewatch.detect.stage import build_stage
    from edgewatch.events.registry import BY_FAMILY
    from edgewatch.simulate.engine import generate_labeled
    from edgewatch.tables.schema import event_id

    stage = build_stage(DetectConfig.model_validate(_detect_config(tmp, True)), outputs=[])
    engine = stage.engine
    n = int(hours * EVENTS_PER_HOUR)
    truth: dict[str, str] = {}
    benign = 0
    alerts = []
    batch: list[Any] = []
    started = time.perf_counter()
    scan_s = 0.0
    first_ns = last_ns = 0
    for label, ev in generate_labeled(n, seed=seed, scenarios=["all"]):
        if label:
            truth[event_id(ev, BY_FAMILY[ev.gadget_family].gadget)] = label
        else:
            benign += 1
        batch.append(ev)
        if len(batch) == 1024:
            t = time.perf_counter()
            alerts += engine.scan(batch, [b""] * len(batch))
            scan_s += time.perf_counter() - t
            first_ns = first_ns or batch[0].time_ns
            last_ns = batch[-1].time_ns
            batch = []
    if batch:
        alerts += engine.scan(batch, [b""] * len(batch))
        last_ns = batch[-1].time_ns
    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    caught: dict[str, set[str]] = defaultdict(set)
    false_alerts = []
    for a in alerts:
        labels = {truth[i] for i in a.evidence_ids if i in truth}
        if labels:
            per_rule[a.rule]["tp"] += 1
            for label in labels:
                caught[label].add(a.rule)
        else:
            per_rule[a.rule]["fp"] += 1
            false_alerts.append(f"{a.rule}: {a.entity}: {a.detail}")
    return {
        "events": n,
        "benign": benign,
        "labelled": n - benign,
        "span_h": (last_ns - first_ns) / 3.6e12,
        "alerts": len(alerts),
        "per_rule": {k: dict(v) for k, v in per_rule.items()},
        "caught": {k: sorted(v) for k, v in caught.items()},
        "false_alerts": false_alerts,
        "rules": [r.spec.name for r in engine.rules],
        "inactive": engine.inactive,
        "seconds": time.perf_counter() - started,
        "scan_events_per_s": n / scan_s if scan_s else 0.0,
        "suppressed": sum(engine.dedup.suppressed.values()),
    }


# -- throughput ---------------------------------------------------------------------------


def _contender(capture: Path, mode: str, tmp: Path) -> dict[str, float]:
    """One run of the agent path in this process (called in a fresh, pinned process)."""
    import yaml

    from bench.cases import EDGEWATCH_FILTERS
    from edgewatch.agent import build_pipeline
    from edgewatch.config import parse_config
    from edgewatch.pipeline.runtime import Runtime
    from edgewatch.sinks.stdout import StdoutSink
    from edgewatch.sources.ndjson import NdjsonSource

    text = EDGEWATCH_FILTERS + "dead_letter: {enabled: false}\n"
    if mode != "none":
        text += yaml.safe_dump({"detect": _detect_config(tmp, mode == "all")})
    cfg = parse_config(text)
    with open(os.devnull, "wb") as devnull:
        sink = StdoutSink("ig", stream=devnull, name="out")  # type: ignore[arg-type]
        pipeline, _ = build_pipeline(cfg, sinks=[sink])
        cpu0, t0 = time.process_time(), time.perf_counter()
        Runtime([NdjsonSource([str(capture)], name="input")], pipeline).run()
        pipeline.close()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stage = next((s for s in pipeline.stages if s.name == "detect"), None)
    return {
        "lines": pipeline.stats.lines_in,
        "seconds": wall,
        "cpu": cpu,
        "alerts": getattr(stage, "alerts", 0),
    }


def _run_contender(capture: Path, mode: str, tmp: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.detect", "--contender", mode, "--capture", str(capture)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", "0", *cmd] if _has_taskset() else cmd
    out = subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env).stdout
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


CONTENDERS = {
    "none": "agent, no rules (filter and forward)",
    "builtin": "agent + all built-in rules",
    "all": "agent + built-in + 25 Sigma rules + intel + egress policy",
}


def throughput(events: int, runs: int, seed: int, tmp: Path) -> dict[str, Any]:
    from edgewatch.events.render import to_ig_json
    from edgewatch.simulate.engine import generate

    capture = tmp / "capture.ndjson"
    with capture.open("wb") as f:
        for ev in generate(events, seed=seed, scenarios=["all"]):
            f.write(to_ig_json(ev) + b"\n")
    rounds: list[dict[str, dict[str, float]]] = []
    for _ in range(runs):
        rounds.append({m: _run_contender(capture, m, tmp) for m in CONTENDERS})
    out: dict[str, Any] = {"events": events, "runs": runs, "bytes": capture.stat().st_size}
    for m in CONTENDERS:
        rates = [r[m]["lines"] / r[m]["seconds"] for r in rounds]
        out[m] = {
            "events_per_s": statistics.median(rates),
            "cpu_per_m": statistics.median(r[m]["cpu"] / r[m]["lines"] * 1e6 for r in rounds),
            "ratio": statistics.median(
                (r[m]["lines"] / r[m]["seconds"]) / (r["none"]["lines"] / r["none"]["seconds"])
                for r in rounds
            ),
            "alerts": rounds[-1][m]["alerts"],
        }
    return out


# -- report ---------------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def section(acc: dict[str, Any], thr: dict[str, Any], argv: str) -> str:
    lines = [
        BEGIN,
        "## Detections",
        "",
        f"`python -m bench.detect {argv}`".replace(" `", "`"),
        f"on {_cpu_name()}, {os.cpu_count()} cores (shared VM), "
        f"Python {platform.python_version()}.",
        "",
        "### Accuracy on a simulated day",
        "",
        f"{acc['events']:,} simulated events ({acc['span_h']:.1f} h of cluster time), "
        f"{acc['labelled']:,} of them caused by the four attack scenarios, "
        f"{acc['benign']:,} benign. "
        f"Rules: {len(acc['rules'])} ({', '.join(acc['inactive']) or 'none'} inactive), "
        "with a sample egress policy for `iot-gateway` and a two-indicator STIX feed. "
        f"{acc['alerts']} alerts after deduplication ({acc['suppressed']:,} repeats suppressed).",
        "",
        "| scenario | raised an alert | rules that caught it |",
        "|---|---|---|",
    ]
    for scenario in EXPECTED:
        got = acc["caught"].get(scenario, [])
        lines.append(f"| {scenario} | {'yes' if got else '**no**'} | {', '.join(got) or '–'} |")
    fp = sum(v.get("fp", 0) for v in acc["per_rule"].values())
    per_100k = fp / acc["benign"] * 100_000 if acc["benign"] else 0.0
    lines += [
        "",
        f"False alerts: **{fp}** on {acc['benign']:,} benign events = "
        f"**{per_100k:.3f} per 100,000** (target: at most 1).",
        "",
        "| rule | true alerts | false alerts | precision | recall (scenarios caught / meant to) |",
        "|---|---:|---:|---:|---:|",
    ]
    for rule in sorted(set(acc["rules"]) | set(acc["per_rule"])):
        c = acc["per_rule"].get(rule, {})
        tp, fpr = c.get("tp", 0), c.get("fp", 0)
        meant = [s for s, rules in EXPECTED.items() if rule in rules]
        hit = [s for s in meant if rule in acc["caught"].get(s, [])]
        prec = f"{tp / (tp + fpr):.2f}" if tp + fpr else "–"
        rec = f"{len(hit) / len(meant):.2f} ({len(hit)}/{len(meant)})" if meant else "–"
        if tp or fpr or meant:
            lines.append(f"| {rule} | {tp} | {fpr} | {prec} | {rec} |")
    quiet = [
        r
        for r in acc["rules"]
        if r not in acc["per_rule"] and not any(r in v for v in EXPECTED.values())
    ]
    if quiet:
        lines += ["", f"Rules with no scenario to catch that stayed silent: {', '.join(quiet)}."]
    if acc["false_alerts"]:
        grouped = Counter(
            f.split(": ", 1)[0] + ": " + f.rsplit(": ", 1)[-1] for f in acc["false_alerts"]
        )
        pods = defaultdict(set)
        for f in acc["false_alerts"]:
            pods[f.split(": ", 1)[0]].add(f.split(": ")[1])
        lines += ["", "The false alerts, by rule:", ""]
        for what, count in grouped.most_common():
            rule = what.split(": ", 1)[0]
            lines.append(f"- {count} x {what} (on {', '.join(sorted(pods[rule]))})")
        if any(f.startswith("terminal_shell_in_container") for f in acc["false_alerts"]):
            lines += [
                "",
                "The simulator's background has an operator run `kubectl exec -it … sh` in an "
                "api pod every ~40 minutes. It is labelled benign, and the rule flags exactly "
                "that (an interactive terminal in a container): counted here as false.",
            ]
    lines += [
        "",
        "The engine alone (full events, no decoding) scanned "
        f"{acc['scan_events_per_s']:,.0f} events/s "
        "with every rule above.",
        "",
        "### Throughput of the agent with rules",
        "",
        f"{thr['events']:,} simulated IG events ({thr['bytes'] / 2**20:.0f} MiB, "
        "one mixed stream), "
        f"{thr['runs']} rounds, each contender in a fresh process pinned to one core.",
        "",
        "| path | events/s (wall) | events per CPU second | CPU s per 1M events "
        "| vs no rules (wall) | alerts |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m, title in CONTENDERS.items():
        r = thr[m]
        lines.append(
            f"| {title} | {r['events_per_s']:,.0f} | {1e6 / r['cpu_per_m']:,.0f} "
            f"| {r['cpu_per_m']:.2f} | {r['ratio']:.2f} | {r['alerts']} |"
        )
    wall = thr["builtin"]["events_per_s"]
    cpu = 1e6 / thr["builtin"]["cpu_per_m"]
    lines += [
        "",
        "Target: the agent with all built-in rules above 150,000 events/s: "
        f"**{'met' if wall > 150_000 else 'not met'}** on the wall clock ({wall:,.0f}); "
        f"{cpu:,.0f} events per CPU second of the one pipeline process (on a busy shared "
        "machine the wall clock also counts time the process waited for a core).",
        "",
        "The rules add the columns they test to what the decoder reads (views, not whole "
        "events) and one generated loop per gadget family; whole events are decoded again "
        "from IG's JSON only for the few events that raise an alert (for the evidence ids).",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.detect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours for accuracy")
    ap.add_argument("--events", type=int, default=1_000_000, help="events for throughput")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--contender", choices=list(CONTENDERS), help=argparse.SUPPRESS)
    ap.add_argument("--capture", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.contender:
        with tempfile.TemporaryDirectory() as t:
            print(json.dumps(_contender(args.capture, args.contender, Path(t))))
        return
    from bench.store import write_section

    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        print(f"accuracy: {args.hours:g} h of simulated traffic ...", file=sys.stderr)
        acc = accuracy(args.hours, args.seed, tmp)
        print(f"throughput: {args.events:,} events x {args.runs} rounds ...", file=sys.stderr)
        thr = throughput(args.events, args.runs, args.seed, tmp)
    argv = " ".join(sys.argv[1:]) or "(defaults: --hours 24 --events 1000000 --runs 3)"
    text = section(acc, thr, argv)
    write_section(args.output, text, BEGIN, END)
    print(text)


if __name__ == "__main__":
    main()

"""The command line, run as a user runs it: real processes, real files, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, all_ig_lines

FAKE_IG_DIR = Path(__file__).parent / "fake_ig"
EDGEWATCH = [sys.executable, "-m", "edgewatch"]


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGEWATCH, *args], capture_output=True, text=True, timeout=120, check=False, **kw
    )


def test_every_command_explains_itself_with_an_example() -> None:
    for cmd in ("normalize", "run", "demo", "simulate", "validate-config"):
        out = run([cmd, "--help"])
        assert out.returncode == 0, out.stderr
        assert "Example" in out.stdout, cmd


def test_normalize_mixed_formats_and_keeps_rejects(tmp_path: Path) -> None:
    source = tmp_path / "capture.ndjson"
    lines = [line for _, line in all_ig_lines()]
    cri = [b"2025-06-18T09:12:44.123456789Z stdout F " + line for line in lines[:3]]
    source.write_bytes(b"\n".join([*lines, *cri, b"garbage line", b'{"nope":1}']) + b"\n")
    dead = tmp_path / "dead.ndjson"
    out = run(["normalize", str(source), "--dead-letter", str(dead), "--node", "edge-1"])
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(lines) + 3
    assert {r["gadget"] for r in rows} == {
        "tcp",
        "dns",
        "sni",
        "exec",
        "seccomp",
        "open",
        "bind",
        "signal",
        "capabilities",
        "oomkill",
    }
    assert all(r["node"] == "edge-1" for r in rows)
    rejected = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [r["reason"] for r in rejected] == ["invalid_json", "unknown_gadget"]
    assert "rejected:invalid_json" in out.stderr  # the summary on stderr


def test_normalize_stdin_gadget_override_and_ig_format(tmp_path: Path) -> None:
    sni = (FIXTURES / "trace_sni.jsonl").read_bytes()
    out = subprocess.run(
        [*EDGEWATCH, "normalize", "-", "--gadget", "trace_sni", "--no-summary"],
        input=sni,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0
    assert json.loads(out.stdout.splitlines()[0])["name"] == "api.github.com"
    config = tmp_path / "f.yaml"
    config.write_text("filters:\n  exclude: {pods: ['web-*']}\n")
    out = subprocess.run(
        [*EDGEWATCH, "normalize", "-", "-f", "ig", "-c", str(config), "--no-summary"],
        input=sni,
        capture_output=True,
        timeout=60,
        check=False,
    )
    # IG's own bytes, filtered
    assert out.stdout.splitlines() == [sni.splitlines()[0], sni.splitlines()[2]]


def test_bad_input_gives_clear_errors(tmp_path: Path) -> None:
    out = run(["normalize", str(tmp_path / "missing.ndjson")])
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = run(["normalize", "-", "--gadget", "trace_nothing"], input="")
    assert out.returncode == 2 and "unknown gadget" in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - type: ig\n    mode: sometimes\n")
    out = run(["validate-config", str(bad)])
    assert out.returncode == 2
    assert f"{bad}:3: sources[0].mode" in out.stderr


def test_simulate_writes_every_format_deterministically(tmp_path: Path) -> None:
    for fmt in ("current", "flat", "envelope", "cri"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        for path in (a, b):
            out = run(["simulate", "-n", "2000", "-s", "3", "-f", fmt, "-o", str(path)])
            assert out.returncode == 0, out.stderr
        assert a.read_bytes() == b.read_bytes()
        norm = run(["normalize", str(a), "--no-summary"])
        assert len(norm.stdout.splitlines()) >= 2000, fmt


def agent_config(tmp_path: Path, source: str) -> Path:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        f"""
node: edge-test
state_dir: {tmp_path / "state"}
sources:
{source}
filters:
  exclude: {{namespaces: [kube-system]}}
sinks:
  - type: file
    path: {tmp_path / "out.ndjson"}
    format: normalized
"""
    )
    return cfg


def descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True)
    children: dict[int, list[int]] = {}
    for row in out.stdout.splitlines():
        p, pp = map(int, row.split())
        children.setdefault(pp, []).append(p)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("mode", ["run", "daemon"])
def test_agent_runs_ig_and_stops_everything_on_sigterm_within_5s(tmp_path: Path, mode: str) -> None:
    cfg = agent_config(
        tmp_path,
        f"""  - type: ig
    mode: {mode}
    gadgets: [trace_tcp, trace_dns, trace_exec]
    restart: {{initial: 0.2, max: 1.0}}
    stop_timeout: 2.0""",
    )
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            [str(FAKE_IG_DIR), os.path.dirname(sys.executable), os.environ["PATH"]]
        ),
        "FAKE_IG_RATE": "200",
        # one ig child ignores SIGTERM, like a hung ig: the agent must still stop in time
        "FAKE_IG_HANG": "1",
        "FAKE_IG_FAULT_GADGETS": "trace_exec",
    }
    proc = subprocess.Popen(
        [*EDGEWATCH, "run", "-c", str(cfg)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out = tmp_path / "out.ndjson"
        assert wait_for(lambda: out.exists() and out.stat().st_size > 20_000), proc.stderr
        kids = descendants(proc.pid)
        assert kids, "the agent runs ig"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, stderr
    assert elapsed < 5.0, stderr
    assert all(not os.path.exists(f"/proc/{k}") for k in kids), "no ig process survives"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["gadget"] for r in rows} >= {"tcp", "dns"}
    assert all(r["namespace"] != "kube-system" and r["node"] == "edge-test" for r in rows)
    assert "stopped after" in stderr


def test_agent_tails_cri_logs_of_the_seeds_daemonset(tmp_path: Path) -> None:
    logs = tmp_path / "containers"
    logs.mkdir()
    tcp = (FIXTURES / "trace_tcp.jsonl").read_bytes().splitlines()
    dns = (FIXTURES / "trace_dns.jsonl").read_bytes().splitlines()
    cid = "a" * 64

    def write(name: str, lines: list[bytes]) -> None:
        with open(logs / name, "ab") as fh:
            for line in lines:
                fh.write(b"2025-06-18T09:12:44.123456789Z stdout F " + line + b"\n")

    write(f"ig-x7k2p_gadget_ig-tcp-{cid}.log", tcp)
    write(f"ig-x7k2p_gadget_ig-dns-{cid}.log", dns)
    cfg = agent_config(
        tmp_path,
        f"""  - type: cri
    paths: ["{logs}/*_gadget_ig-*.log"]
    poll_interval: 0.05""",
    )
    proc = subprocess.Popen([*EDGEWATCH, "run", "-c", str(cfg)], stderr=subprocess.PIPE)
    out = tmp_path / "out.ndjson"
    try:
        expected = len(tcp) + len(dns) - 1  # minus the kube-system coredns query
        assert wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= expected)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["gadget"] for r in rows) == ["dns"] * 3 + ["tcp"] * 5
    offsets = json.loads((tmp_path / "state" / "cri-offsets.json").read_text())
    assert offsets, "read offsets are remembered across restarts"
    # a restart reads nothing twice
    proc = subprocess.Popen([*EDGEWATCH, "run", "-c", str(cfg)], stderr=subprocess.PIPE)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert len(out.read_text().splitlines()) == len(rows)


def test_demo_runs_out_of_the_box(tmp_path: Path) -> None:
    out = run(["demo", "--events", "20000", "--output-dir", str(tmp_path)])
    assert out.returncode == 0, out.stderr
    assert "Events by gadget" in out.stdout
    assert "Public destinations" in out.stdout
    forwarded = (tmp_path / "forwarded-ig.ndjson").read_bytes().splitlines()
    assert forwarded and all(line.startswith(b"{") for line in forwarded)
    # the embedded config drops what the seed's queries drop by hand
    assert not any(b'"comm":"coredns"' in line for line in forwarded)
    assert not any(b'.cluster.local."' in line for line in forwarded)
    # the demo's store answers bundled KQL: the reverse shell's connect is unexplained
    assert "no DNS answer explains" in out.stdout
    hunted = run(
        [
            "hunt",
            "unresolved_public_ip",
            "--db",
            str(tmp_path / "store.duckdb"),
            "-f",
            "json",
        ]
    )
    assert hunted.returncode == 0, hunted.stderr
    assert ["4444"] in [row["DstPorts"] for row in json.loads(hunted.stdout)]
    # the detections ran in the stream: the reverse shell raised its alert into the store
    assert "Alerts raised in the stream" in out.stdout
    alerts = run(
        [
            "hunt",
            "EdgeWatchAlert_CL | distinct RuleName",
            "--db",
            str(tmp_path / "store.duckdb"),
            "-f",
            "json",
        ]
    )
    assert alerts.returncode == 0, alerts.stderr
    assert "reverse_shell_connection" in {row["RuleName"] for row in json.loads(alerts.stdout)}

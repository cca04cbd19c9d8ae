"""``edgewatch ingest`` and ``edgewatch hunt`` as a user runs them: real processes."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from edgewatch import simulate
from edgewatch.decode.decoder import LineDecoder
from tests.test_cli import run


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated IG output with attacks, in CRI form (as kubelet writes it), plus junk."""
    path = tmp_path_factory.mktemp("cap") / "capture.log"
    with open(path, "wb") as fh:
        simulate.write(simulate.generate(4000, seed=21, scenarios=["all"]), fh, "cri")
        fh.write(b"2025-06-18T09:12:44Z stdout F {not json\n")
    return path


@pytest.fixture(scope="module")
def store(capture: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("db") / "store.duckdb"
    out = run(["ingest", str(capture), "--db", str(db), "--node", "edge-9"])
    assert out.returncode == 0, out.stderr
    return db


def test_ingest_reports_per_gadget_and_drop_reason(capture: Path, store: Path) -> None:
    db = store.parent / "again.duckdb"
    out = run(["ingest", str(capture), "--db", str(db)])
    assert out.returncode == 0, out.stderr
    assert "4,000 events stored" in out.stderr
    assert "invalid_json" in out.stderr
    for gadget in ("tcp", "dns", "sni", "exec", "seccomp"):
        assert gadget in out.stderr


def test_hunt_counts_match_the_input(capture: Path, store: Path) -> None:
    lines = []
    for raw in capture.read_bytes().splitlines():
        lines.append(raw)
    events = LineDecoder().decode(lines).events
    expected = Counter(f"ig-{e.gadget_family}" for e in events)
    out = run(
        [
            "hunt",
            "ContainerLogV2 | summarize n = count() by ContainerName",
            "--db",
            str(store),
            "-f",
            "json",
        ]
    )
    assert out.returncode == 0, out.stderr
    got = {row["ContainerName"]: row["n"] for row in json.loads(out.stdout)}
    assert got == dict(expected)


def test_hunt_bundled_query_by_name_as_csv(store: Path) -> None:
    out = run(["hunt", "tls_sni", "--db", str(store), "-f", "csv"])
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert rows and {"TimeGenerated", "Computer", "log_sni"} <= set(rows[0])
    assert rows[0]["TimeGenerated"].endswith("Z")
    assert {r["Computer"] for r in rows} == {"edge-9"}


def test_hunt_a_kql_file_and_dynamic_columns_are_json(store: Path, tmp_path: Path) -> None:
    query = tmp_path / "mine.kql"
    query.write_text(
        "// my hunt\nContainerLogV2\n| where ContainerName == 'ig-tcp'\n"
        "| summarize ips = make_set(tostring(LogMessage.dst.addr)) by ns = "
        "tostring(LogMessage.k8s.namespace)\n"
    )
    out = run(["hunt", str(query), "--db", str(store), "-f", "json"])
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows and all(isinstance(r["ips"], list) for r in rows)


def test_hunt_table_output_and_list(store: Path) -> None:
    listed = run(["hunt", "--list"])
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) >= 12
    for name in ("public_outbound_tcp", "dns_responses", "tls_sni", "seccomp_syscalls"):
        assert any(line.startswith(name + " ") for line in lines)
    out = run(["hunt", "seccomp_syscalls", "--db", str(store)])
    assert out.returncode == 0, out.stderr
    assert "log_syscall" in out.stdout and "rows in" in out.stdout


def test_hunt_errors_are_for_people(store: Path, tmp_path: Path) -> None:
    bad = run(["hunt", "ContainerLogV2 | where nope == 1", "--db", str(store)])
    assert bad.returncode == 1
    assert "nope" in bad.stderr and "line 1" in bad.stderr and "SELECT" not in bad.stderr
    typo = run(["hunt", "tls_snii", "--db", str(store)])
    assert typo.returncode == 2 and "tls_sni" in typo.stderr
    missing = run(["hunt", "tls_sni", "--db", str(tmp_path / "none.duckdb")])
    assert missing.returncode == 2 and "edgewatch ingest" in missing.stderr
    since = run(["hunt", "tls_sni", "--db", str(store), "--since", "soon"])
    assert since.returncode == 2 and "duration" in since.stderr


def test_hunt_since_window_is_applied(store: Path) -> None:
    # the simulated capture is from 2025: nothing is within the last day
    out = run(
        ["hunt", "ContainerLogV2 | count", "--db", str(store), "--since", "24h", "-f", "json"]
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"Count": 0}]


def test_ingest_store_config_from_yaml(capture: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    db = tmp_path / "cfg.duckdb"
    cfg.write_text(
        f"""
node: yaml-node
filters:
  exclude:
    namespaces: [kube-system]
sinks:
  - type: store
    path: {db}
    max_bytes: 64MiB
    container_log:
      container_names: {{trace_tcp: gadget-tcp}}
"""
    )
    out = run(["ingest", str(capture), "-c", str(cfg)])
    assert out.returncode == 0, out.stderr
    hunted = run(
        [
            "hunt",
            "ContainerLogV2 | summarize n = count() by ContainerName, "
            "ns = tostring(LogMessage.k8s.namespace)",
            "-c",
            str(cfg),
            "-f",
            "json",
        ]
    )
    assert hunted.returncode == 0, hunted.stderr
    rows = json.loads(hunted.stdout)
    assert "gadget-tcp" in {r["ContainerName"] for r in rows}
    assert "kube-system" not in {r["ns"] for r in rows}


def test_help_teaches(store: Path) -> None:
    for cmd in ("ingest", "hunt"):
        out = run([cmd, "--help"])
        assert out.returncode == 0 and "Example" in out.stdout

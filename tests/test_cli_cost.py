"""``edgewatch cost`` as a user runs it: a capture, a store, a running agent's status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgewatch import simulate
from tests.test_cli import run

CONFIG = """
dead_letter: {enabled: false}
filters:
  exclude: {namespaces: [kube-system]}
  noise: {loopback: true, cluster_local_dns: true}
reduce:
  prices: {analytics_per_gb: 3.0, currency: EUR, as_of: "test prices"}
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-cost") / "capture.ndjson"
    with open(path, "wb") as fh:
        simulate.write(simulate.generate(8000, seed=12, scenarios=["all"]), fh, "current")
    return path


def test_json_report_from_a_capture(capture: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(CONFIG)
    out = run(["cost", str(capture), "-c", str(cfg), "--format", "json"])
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    stages = report["stages"]
    assert stages["raw"]["records"] == 8000
    raw, filtered, agg = (stages[s]["gb_per_day"] for s in ("raw", "filtered", "aggregated"))
    assert raw > filtered > agg > 0
    assert report["reduction"] == pytest.approx(
        stages["raw"]["billed_bytes"] / stages["aggregated"]["billed_bytes"]
    )
    assert report["prices"]["currency"] == "EUR"
    monthly = stages["raw"]["monthly"]
    assert set(monthly) == {"analytics", "basic", "auxiliary", "analytics+sentinel"}
    gb_month = raw * report["prices"]["days_per_month"]
    assert monthly["basic"] == pytest.approx(gb_month * 0.5)
    assert monthly["analytics"] == pytest.approx(max(0.0, gb_month - 5) * 3.0)


def test_table_report_names_the_prices(capture: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(CONFIG)
    out = run(["cost", str(capture), "-c", str(cfg)], env={**os.environ, "COLUMNS": "100"})
    assert out.returncode == 0, out.stderr
    for text in ("raw", "filtered", "aggregated", "Analytics", "Auxiliary", "test prices"):
        assert text in out.stdout


def test_from_a_running_agents_status(capture: Path, tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    stats = {"lines_in": 10, "bytes_in": 10_000, "events_in": {"tcp": 10}, "dropped": {}}
    status.write_text(json.dumps({"written_at": 1.0, "stats": stats}))
    out = run(["cost", "--agent", str(status), "--interval", "1", "--format", "json"])
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["stages"]["aggregated"]["gb_per_day"] is None
    assert any("no input" in n for n in report["notes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of"),
        (["a.ndjson", "--db", "b.duckdb"], "exactly one of"),
        (["nope.ndjson"], "no such file"),
        (["--db", "nope.duckdb"], "no store at"),
        (["--agent", "nope/status.json", "--interval", "1"], "no agent status"),
        (["x.ndjson", "--format", "xml"], "table or json"),
    ],
)
def test_bad_input_is_explained(args: list[str], message: str, tmp_path: Path) -> None:
    out = run(["cost", *args], cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr


def test_help_teaches() -> None:
    out = run(["cost", "--help"])
    assert out.returncode == 0 and "Example" in out.stdout and "--agent" in out.stdout

"""``edgewatch run`` reloads its config on SIGHUP and on a changed file, as a process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.test_reload import tcp_line

CONFIG = """\
state_dir: {state}
sources: [{{type: file, path: {input}, follow: true}}]
filters:
  exclude: {{namespaces: [{drop}]}}
sinks: [{{type: file, path: {output}, format: normalized}}]
"""


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def namespaces(output: Path) -> list[tuple[int, str]]:
    if not output.exists():
        return []
    out = []
    for line in output.read_bytes().splitlines():
        ev = json.loads(line)
        out.append((ev["pid"], ev["namespace"]))
    return out


def test_sighup_and_file_change_reload_a_running_agent(tmp_path: Path) -> None:
    feed, output, cfg, log = (tmp_path / n for n in ("in.ndjson", "out.ndjson", "a.yaml", "log"))
    feed.write_bytes(b"")

    def config(drop: str) -> str:
        return CONFIG.format(state=tmp_path / "state", input=feed, output=output, drop=drop)

    def append(start: int, n: int) -> None:
        with open(feed, "ab") as fh:
            fh.writelines(tcp_line(i) + b"\n" for i in range(start, start + n))

    cfg.write_text(config("ns-a"))
    with open(log, "w") as errfile:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgewatch", "run", "-c", str(cfg), "--reload-interval", "0.2"],
            stderr=errfile,
            stdout=subprocess.DEVNULL,
        )
    try:
        append(0, 30)
        wait_for(lambda: len(namespaces(output)) == 20, "the first events")

        # SIGHUP: reload at once
        cfg.write_text(config("ns-b"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in log.read_text(), "the reload after SIGHUP")
        append(30, 30)
        wait_for(lambda: len(namespaces(output)) == 40, "events after the reload")

        # an invalid config: refused, logged with its line, the agent keeps running
        cfg.write_text(config("ns-c") + "sink: oops\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reload refused" in log.read_text(), "the refusal")
        append(60, 30)
        wait_for(lambda: len(namespaces(output)) == 60, "events after the refusal")
        assert proc.poll() is None

        # no signal: the changed file alone (a ConfigMap update)
        cfg.write_text(config("ns-c") + "# v3\n")
        wait_for(lambda: log.read_text().count("config reloaded") == 2, "the polled reload")
        append(90, 30)
        wait_for(lambda: len(namespaces(output)) == 80, "events after the polled reload")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "a.yaml:6: sink: unknown key" in text
    seen = namespaces(output)
    assert [ns for pid, ns in seen if pid < 30] == ["ns-b", "ns-c"] * 10
    assert [ns for pid, ns in seen if 30 <= pid < 90] == ["ns-a", "ns-c"] * 20
    assert [ns for pid, ns in seen if pid >= 90] == ["ns-a", "ns-b"] * 10

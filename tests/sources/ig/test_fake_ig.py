"""The fake ig keeps the parts of IG's contract the supervisor relies on."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.sources.ig._ig_support import FAKE_IG, make_env, recorded


def start_run(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FAKE_IG, "run", "trace_tcp", "-o", "json", *args],
        env=make_env(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def ig(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FAKE_IG, *args], env=make_env(tmp_path, **env), capture_output=True, text=True, check=False
    )


def test_version_and_errors_look_like_ig(tmp_path: Path) -> None:
    assert ig(tmp_path, "version", FAKE_IG_VERSION="0.44.0").stdout == "v0.44.0\n"
    done = ig(
        tmp_path, "run", "trace_tcp", "-o", "json", "--k8s-namespace=shop", FAKE_IG_VERSION="0.44.0"
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: unknown flag: --k8s-namespace"
    done = ig(tmp_path, "run", "trace_nope", "-o", "json")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: fetching gadget information")
    done = ig(tmp_path, "daemon", "--host=unix:///nonexistent/ig.sock")
    assert done.returncode == 1
    assert "--tls-insecure" in done.stderr
    assert recorded(tmp_path)[0] == ["ig", "version"]


def test_first_sigterm_is_graceful_second_is_not(tmp_path: Path) -> None:
    proc = start_run(tmp_path)
    assert proc.stdout is not None
    event = json.loads(proc.stdout.readline())
    assert event["proc"]["comm"] and event["timestamp_raw"] > 1_700_000_000 * 10**9
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    proc.communicate()

    # Nobody reads stdout: ig is stuck writing, cannot finish its graceful exit, and
    # the second signal makes it exit 1, like IG's console frontend.
    proc = start_run(tmp_path, FAKE_IG_RATE="0")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 1
    proc.communicate()


def test_crash_after_n_lines_exits_like_a_go_panic(tmp_path: Path) -> None:
    proc = start_run(tmp_path, FAKE_IG_CRASH_AFTER="3")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert len(out.splitlines()) == 3
    assert b"panic: runtime error" in err

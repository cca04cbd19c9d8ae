"""The supervisor against the fake ig: run mode, daemon mode, restarts, stop."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edgewatch.decode.decoder import LineDecoder
from edgewatch.events.registry import resolve
from edgewatch.sources.base import RawBatch
from edgewatch.sources.ig.selectors import Selectors
from edgewatch.sources.ig.supervisor import IgSupervisor
from tests.sources.ig._ig_support import (
    FAKE_GADGETCTL,
    FAKE_IG,
    Collector,
    group_members,
    make_env,
    process_gone,
    recorded,
    running,
    wait_until,
)

TCP, DNS, SNI, EXEC = (resolve(n) for n in ("tcp", "dns", "sni", "exec"))


def supervisor(tmp_path: Path, **kwargs: Any) -> IgSupervisor:
    env_extra = kwargs.pop("env_extra", {})
    defaults: dict[str, Any] = {
        "binary": FAKE_IG,
        "gadgetctl": FAKE_GADGETCTL,
        "env": make_env(tmp_path, **env_extra),
        "restart_initial": 0.05,
        "restart_max": 0.4,
        "stop_timeout": 1.0,
    }
    return IgSupervisor(**{**defaults, **kwargs})


def child(sup: IgSupervisor, label: str) -> dict[str, Any]:
    return sup.status()["children"].get(label, {})


def families(lines: list[bytes]) -> set[str]:
    decoded = LineDecoder().decode(lines)
    assert not decoded.rejects, decoded.rejects[:2]
    return {ev.gadget_family for ev in decoded.events}


# -- run mode ---------------------------------------------------------------------------


def test_run_mode_emits_decodable_lines_per_gadget(tmp_path: Path) -> None:
    sup = supervisor(tmp_path, gadgets=[TCP, DNS, EXEC], mode="run")
    emit = Collector()
    with running(sup, emit):
        streams = ("ig:tcp", "ig:dns", "ig:exec")
        assert emit.wait_for(lambda c: all(len(c.lines(s)) >= 5 for s in streams))
        status = sup.status()
    assert status["mode"] == "run"
    assert status["ig_version"] == "0.55.1"
    for batch in emit.snapshot():
        assert batch.stream == f"ig:{batch.gadget.family}"  # type: ignore[union-attr]
        assert all(not line.endswith(b"\n") for line in batch.lines)
        assert 0 < len(batch.lines) <= 1024
    for spec in (TCP, DNS, EXEC):
        lines = emit.lines(f"ig:{spec.family}")
        decoded = LineDecoder(gadget=spec).decode(lines)
        assert not decoded.rejects
        assert len(decoded.events) == len(lines)
        assert {ev.gadget_family for ev in decoded.events} == {spec.family}
    runs = [argv for argv in recorded(tmp_path) if argv[1:2] == ["run"]]
    assert sorted(argv[2] for argv in runs) == [
        f"ghcr.io/inspektor-gadget/gadget/{g}:v0.55.1"
        for g in ("trace_dns", "trace_exec", "trace_tcp")
    ]
    assert all(argv[3:5] == ["-o", "json"] for argv in runs)
    tail = status["children"]["trace_tcp"]["stderr_tail"]
    assert any("level=warning" in line for line in tail), tail


def test_run_mode_pushes_selectors_host_and_params(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sup = supervisor(
        tmp_path,
        gadgets=[TCP, DNS],
        mode="run",
        version="0.46.0",
        env_extra={"FAKE_IG_VERSION": "0.46.0"},
        selectors=Selectors(namespaces=("shop", "web"), pods=("api-0",)),
        host=True,
        gadget_params={"tcp": ["--connect-only"]},
    )
    emit = Collector()
    with running(sup, emit):
        assert emit.wait_for(lambda c: c.lines("ig:tcp") and c.lines("ig:dns"))
    by_gadget = {argv[2]: argv[5:] for argv in recorded(tmp_path) if argv[1:2] == ["run"]}
    assert by_gadget["ghcr.io/inspektor-gadget/gadget/trace_tcp:v0.46.0"] == [
        "--k8s-podname=api-0",
        "--host",
        "--connect-only",
    ]
    assert by_gadget["ghcr.io/inspektor-gadget/gadget/trace_dns:v0.46.0"] == [
        "--k8s-podname=api-0",
        "--host",
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert any("IG filters in the kernel: --k8s-podname=api-0" in m for m in messages)
    assert any("not pushed down" in m and "shop,web" in m for m in messages)


def test_killed_child_is_restarted_and_lines_keep_flowing(tmp_path: Path) -> None:
    sup = supervisor(tmp_path, gadgets=[TCP], mode="run")
    emit = Collector()
    with running(sup, emit):
        assert wait_until(lambda: child(sup, "trace_tcp").get("lines", 0) > 0)
        first_pid = child(sup, "trace_tcp")["pid"]
        os.kill(first_pid, signal.SIGKILL)
        assert wait_until(lambda: child(sup, "trace_tcp").get("restarts") == 1)
        assert wait_until(lambda: child(sup, "trace_tcp")["running"])
        seen = len(emit.lines())
        assert emit.wait_for(lambda c: len(c.lines()) >= seen + 5)
        status = child(sup, "trace_tcp")
    assert status["pid"] != first_pid
    assert status["last_exit"] == -signal.SIGKILL
    assert status["last_exit_reason"] == "killed by SIGKILL"
    assert process_gone(first_pid)
    assert families(emit.lines()) == {"tcp"}


def test_crashing_child_is_restarted_with_growing_backoff(tmp_path: Path) -> None:
    sup = supervisor(
        tmp_path,
        gadgets=[TCP, DNS],
        mode="run",
        restart_initial=0.02,
        restart_max=0.16,
        env_extra={"FAKE_IG_CRASH_AFTER": "1", "FAKE_IG_FAULT_GADGETS": "trace_tcp"},
    )
    emit = Collector()
    with running(sup, emit):
        assert wait_until(lambda: child(sup, "trace_tcp").get("restarts", 0) >= 4)
        tcp = child(sup, "trace_tcp")
        dns = child(sup, "trace_dns")
    delays = tcp["backoff_delays"]
    assert delays[0] < delays[1] < delays[2] < delays[3]  # 0.02, 0.04, 0.08, 0.16 +-10 %
    assert max(delays) <= 0.16
    assert tcp["last_exit"] == 2
    assert any(line.startswith("panic:") for line in tcp["stderr_tail"])
    assert dns["restarts"] == 0
    # Each crashing run still handed on the line it printed before dying.
    assert len(emit.lines("ig:tcp")) >= 4


def test_clean_exit_is_restarted_too(tmp_path: Path) -> None:
    sup = supervisor(tmp_path, gadgets=[SNI], mode="run", env_extra={"FAKE_IG_EXIT_AFTER": "2"})
    emit = Collector()
    with running(sup, emit):
        assert wait_until(lambda: child(sup, "trace_sni").get("restarts", 0) >= 2)
        status = child(sup, "trace_sni")
    assert status["last_exit"] == 0
    assert families(emit.lines()) == {"sni"}


def test_unknown_version_assumes_latest_and_uses_latest_images(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sup = supervisor(
        tmp_path, gadgets=[TCP], mode="run", env_extra={"FAKE_IG_VERSION_OUTPUT": "v0.0.0"}
    )
    emit = Collector()
    with running(sup, emit):
        assert emit.wait_for(lambda c: bool(c.lines()))
    assert sup.status()["ig_version"] is None
    runs = [argv for argv in recorded(tmp_path) if argv[1:2] == ["run"]]
    assert runs[0][2] == "ghcr.io/inspektor-gadget/gadget/trace_tcp:latest"
    assert any("assuming IG" in r.getMessage() for r in caplog.records)


def test_missing_binary_is_retried_not_fatal(tmp_path: Path) -> None:
    sup = supervisor(
        tmp_path, gadgets=[TCP], mode="run", version="0.55.1", binary="/nonexistent/ig"
    )
    with running(sup, Collector()):
        assert wait_until(lambda: child(sup, "trace_tcp").get("restarts", 0) >= 2)
        status = child(sup, "trace_tcp")
    assert status["last_error"].startswith("cannot start")
    assert not status["running"]


# -- stop -------------------------------------------------------------------------------


def test_stop_ends_everything_even_a_child_ignoring_sigterm(tmp_path: Path) -> None:
    sup = supervisor(
        tmp_path,
        gadgets=[TCP, DNS],
        mode="run",
        stop_timeout=0.5,
        env_extra={"FAKE_IG_HANG": "1", "FAKE_IG_FAULT_GADGETS": "trace_tcp"},
    )
    emit = Collector()
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(emit, stop), daemon=True)
    thread.start()
    try:
        assert emit.wait_for(lambda c: bool(c.lines("ig:tcp")) and bool(c.lines("ig:dns")))
        pids = [child(sup, g)["pid"] for g in ("trace_tcp", "trace_dns")]
    finally:
        started = time.monotonic()
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5.0
    assert all(process_gone(pid) for pid in pids)
    assert all(group_members(pid) == [] for pid in pids)
    status = sup.status()
    assert status["running"] is False
    assert status["children"]["trace_tcp"]["last_exit"] == -signal.SIGKILL  # ignored SIGTERM
    assert status["children"]["trace_dns"]["last_exit"] == 0  # IG's graceful first SIGTERM


def test_stop_is_honoured_while_emit_blocks(tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def blocking_emit(batch: RawBatch) -> None:
        entered.set()
        release.wait(30)

    sup = supervisor(
        tmp_path, gadgets=[TCP], mode="run", stop_timeout=0.5, env_extra={"FAKE_IG_RATE": "2000"}
    )
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(blocking_emit, stop), daemon=True)
    thread.start()
    try:
        assert entered.wait(15)
        pid = child(sup, "trace_tcp")["pid"]
        started = time.monotonic()
        stop.set()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 5.0
        assert process_gone(pid)
    finally:
        release.set()


# -- daemon mode ------------------------------------------------------------------------


def daemon_gadgets(lines: list[bytes]) -> set[str]:
    return families(lines)


@pytest.mark.parametrize("ig_version", ["0.52.0", "0.55.1"])
def test_daemon_mode_one_ig_and_one_instance_per_gadget(tmp_path: Path, ig_version: str) -> None:
    sup = supervisor(
        tmp_path,
        env_extra={"FAKE_IG_VERSION": ig_version},
        gadgets=[TCP, DNS, SNI],
        selectors=Selectors(namespaces=("shop",)),
        gadget_params={"trace_tcp": ["--connect-only"]},
    )
    emit = Collector()
    with running(sup, emit):
        assert emit.wait_for(lambda c: daemon_gadgets(c.lines()) == {"tcp", "dns", "sni"})
        # An instance's first events can arrive before gadgetctl has returned to us.
        assert wait_until(lambda: all(i["created"] for i in sup.status()["instances"].values()))
        status = sup.status()
    assert status["mode"] == "daemon"
    assert list(status["children"]) == ["daemon"]
    assert all(b.stream == "ig:daemon" and b.gadget is None for b in emit.snapshot())
    assert all(line.startswith(b'{"type":"gadget-data","seq":') for line in emit.lines())
    assert all(inst["created"] for inst in status["instances"].values())

    calls = recorded(tmp_path)
    daemons = [argv for argv in calls if argv[:2] == ["ig", "daemon"]]
    assert len(daemons) == 1
    assert daemons[0][2].startswith("--config=") and daemons[0][3].startswith("--host=unix://")
    creates = {argv[2]: argv[3:] for argv in calls if argv[:2] == ["gadgetctl", "run"]}
    tcp_args = creates[f"ghcr.io/inspektor-gadget/gadget/trace_tcp:v{ig_version}"]
    assert tcp_args[:3] == ["--detach", "--name=edgewatch-tcp", "--tags=edgewatch"]
    assert tcp_args[4:] == ["--k8s-namespace=shop", "--connect-only"]
    assert len(creates) == 3
    assert not any(argv[:2] == ["ig", "run"] for argv in calls)


def test_daemon_restart_recreates_instances_without_duplicates(tmp_path: Path) -> None:
    work = tmp_path / "w"
    sup = supervisor(tmp_path, gadgets=[TCP, DNS], work_dir=work)
    emit = Collector()
    with running(sup, emit):
        assert emit.wait_for(lambda c: daemon_gadgets(c.lines()) == {"tcp", "dns"})
        pid = child(sup, "daemon")["pid"]
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: child(sup, "daemon").get("restarts") == 1)
        # The new daemon resumes the stored instances; edgewatch replaces them.
        assert wait_until(lambda: all(i["created"] for i in sup.status()["instances"].values()))
        mark = len(emit.lines())
        assert emit.wait_for(lambda c: daemon_gadgets(c.lines()[mark:]) == {"tcp", "dns"})
        listing = subprocess.run(
            [FAKE_GADGETCTL, "list", f"--remote-address=unix://{work / 'ig.sock'}"],
            env=make_env(tmp_path),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[1:]
    assert sorted(row.split()[1] for row in listing) == ["edgewatch-dns", "edgewatch-tcp"]
    assert process_gone(pid)
    daemons = [argv for argv in recorded(tmp_path) if argv[:2] == ["ig", "daemon"]]
    assert len(daemons) == 2


def test_daemon_mode_falls_back_to_run_mode_before_051(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sup = supervisor(tmp_path, gadgets=[TCP, DNS], env_extra={"FAKE_IG_VERSION": "0.50.0"})
    emit = Collector()
    with running(sup, emit):
        assert emit.wait_for(lambda c: bool(c.lines("ig:tcp")) and bool(c.lines("ig:dns")))
        status = sup.status()
    assert status["requested_mode"] == "daemon"
    assert status["mode"] == "run"
    assert set(status["children"]) == {"trace_tcp", "trace_dns"}
    assert not any(argv[1:2] == ["daemon"] for argv in recorded(tmp_path))
    assert any(
        r.levelno == logging.WARNING and "no logs operator" in r.getMessage()
        for r in caplog.records
    )

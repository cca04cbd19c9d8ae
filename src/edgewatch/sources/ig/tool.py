"""Run a short-lived helper command (``ig version``, ``gadgetctl run --detach``).

These run on the supervisor's own thread, so they must never hold it hostage: each one
gets a deadline, and ``stop`` aborts it within a poll interval. The command runs in its
own process group so that aborting it also ends anything it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_POLL = 0.05


@dataclass(frozen=True)
class ToolResult:
    """``returncode`` is None when the command did not finish; ``error`` then says why."""

    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line for a log message: why it failed and the end of what it said."""
        if self.error:
            return self.error
        said = (self.stderr.strip() or self.stdout.strip()).splitlines()
        last = said[-1] if said else "no output"
        return f"exit code {self.returncode}: {last[:300]}"


def run_tool(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    stop: threading.Event | None = None,
) -> ToolResult:
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except OSError as exc:
        return ToolResult(None, error=f"cannot start {argv[0]}: {exc}")
    deadline = time.monotonic() + timeout
    reason = ""
    while True:
        try:
            out, err = proc.communicate(timeout=_POLL)
        except subprocess.TimeoutExpired:
            if stop is not None and stop.is_set():
                reason = "stopped"
            elif time.monotonic() >= deadline:
                reason = f"timed out after {timeout:g} s"
            else:
                continue
            _kill_group(proc.pid)
            try:
                out, err = proc.communicate(timeout=1.0)
            except subprocess.TimeoutExpired:
                # Something outside the group holds the pipes; the process itself is
                # dead (SIGKILL), reap it and give up on its output.
                proc.kill()
                proc.wait()
                out, err = b"", b""
            return ToolResult(None, _text(out), _text(err), reason)
        _kill_group(proc.pid)  # leftovers it forked into its group must not outlive it
        return ToolResult(proc.returncode, _text(out), _text(err))


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")

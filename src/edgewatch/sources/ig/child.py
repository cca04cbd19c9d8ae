"""One long-running ig process: its pipes, its log, its end.

The child runs in a new session, hence in its own process group, so a signal reaches
everything ig started and nothing of edgewatch; a terminal's Ctrl-C reaches edgewatch
only, which then stops ig in order. Each pipe has its own reader thread, because a
pipe nobody reads blocks the writer: stdout goes to :func:`lines.pump`, stderr to the
log and to a bounded tail that ``status()`` shows after a crash.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from edgewatch.sources.ig import lines, stderr

log = logging.getLogger("edgewatch.ig")

#: Longest stderr line kept; IG's warnings are short, a Go panic's lines are not.
_MAX_STDERR_LINE = 4096


def describe_exit(code: int | None) -> str:
    """``exit code 1`` / ``killed by SIGKILL``, for log lines and status."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class StderrTail:
    """The last lines a child wrote to stderr, safe to read from another thread."""

    def __init__(self, size: int = 50) -> None:
        self._lines: deque[str] = deque(maxlen=size)
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self._lines)


class ChildProcess:
    """A started ig process and the threads that drain it.

    ``deliver`` receives stdout batches (None: stdout is discarded). ``tail`` is shared
    with the caller so stderr of earlier runs stays visible after a restart.
    """

    def __init__(
        self,
        label: str,
        argv: Sequence[str],
        *,
        deliver: Callable[[list[bytes]], None] | None,
        tail: StderrTail,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.label = label
        self.argv = list(argv)
        self._deliver = deliver
        self._tail = tail
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._reaped = False
        self.started_at = 0.0

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the process; raises OSError when it cannot (missing binary)."""
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if self._deliver is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,
            bufsize=0,
        )
        self.started_at = time.monotonic()
        if self._proc.stdout is not None and self._deliver is not None:
            self._spawn_reader("stdout", self._read_stdout, self._proc.stdout)
        assert self._proc.stderr is not None
        self._spawn_reader("stderr", self._read_stderr, self._proc.stderr)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def poll(self) -> int | None:
        """The exit code once the process has ended (and been reaped), else None."""
        if self._proc is None:
            return None
        code = self._proc.poll()
        if code is not None:
            self._after_reap()
        return code

    def wait(self, timeout: float) -> int | None:
        if self._proc is None:
            return None
        try:
            code = self._proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None
        self._after_reap()
        return code

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the child's process group, unless it is already reaped.

        After reaping, the group id could in theory belong to someone else, so it is
        never signalled again (:meth:`_after_reap` already swept it).
        """
        if self._proc is None or self._reaped:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def readers_done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def join_readers(self, timeout: float) -> bool:
        """Wait for the pipe readers; False if one is still busy (blocked in emit)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.readers_done()

    # -- internals ------------------------------------------------------------------

    def _after_reap(self) -> None:
        if self._reaped:
            return
        self._reaped = True
        # Anything ig forked into its group is now an orphan holding our pipes open.
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def _spawn_reader(
        self, name: str, target: Callable[[IO[bytes]], None], pipe: IO[bytes]
    ) -> None:
        thread = threading.Thread(
            target=target,
            args=(pipe,),
            name=f"ig-{self.label}-{name}",
            daemon=True,  # a reader stuck in emit must not keep the interpreter alive
        )
        self._threads.append(thread)
        thread.start()

    def _read_stdout(self, pipe: IO[bytes]) -> None:
        assert self._deliver is not None
        try:
            lines.pump(pipe.fileno(), self._deliver)
        except Exception:
            log.exception("ig %s: reading stdout failed", self.label)
        finally:
            pipe.close()

    def _read_stderr(self, pipe: IO[bytes]) -> None:
        try:
            for raw in iter(lambda: pipe.readline(_MAX_STDERR_LINE), b""):
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not text.strip():
                    continue
                self._tail.append(text)
                level, message = stderr.classify(text)
                log.log(level, "ig %s: %s", self.label, message)
        except Exception:
            log.exception("ig %s: reading stderr failed", self.label)
        finally:
            pipe.close()

"""The small parts of the supervisor: line batching, stderr levels, back-off, version."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from pathlib import Path

import pytest

from edgewatch.sources.ig import daemon, lines, stderr
from edgewatch.sources.ig.backoff import Backoff
from edgewatch.sources.ig.tool import run_tool
from edgewatch.sources.ig.version import IgVersion, detect_version
from tests.sources.ig._ig_support import FAKE_IG, make_env

# -- LineSplitter / pump ----------------------------------------------------------------


def test_splitter_joins_chunks_and_strips_newlines() -> None:
    split = lines.LineSplitter()
    assert split.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert split.feed(b":2}\n\n{") == [b'{"b":2}', b""]
    assert split.finish() == [b"{"]
    assert split.finish() == []


def test_splitter_cuts_overlong_lines_and_drops_their_rest() -> None:
    split = lines.LineSplitter(max_line=8)
    assert split.feed(b"0123456789") == [b"01234567"]
    assert split.feed(b"abc\nok\n") == [b"ok"]
    assert split.feed(b"0123456789abcdef\nx") == [b"01234567"]
    assert split.finish() == [b"x"]


def test_pump_batches_by_size_and_flushes_at_eof() -> None:
    read_fd, write_fd = os.pipe()
    batches: list[list[bytes]] = []
    data = b"".join(b"%d\n" % i for i in range(25)) + b"tail"
    os.write(write_fd, data)
    os.close(write_fd)
    lines.pump(read_fd, batches.append, max_lines=10, max_delay=10.0)
    os.close(read_fd)
    # 25 complete lines arrive in one read; the unterminated tail is a line only at EOF.
    assert [len(b) for b in batches] == [10, 10, 5, 1]
    assert batches[-1][-1] == b"tail"


def test_pump_flushes_a_partial_batch_without_waiting_for_more() -> None:
    read_fd, write_fd = os.pipe()
    got = threading.Event()
    batches: list[list[bytes]] = []

    def deliver(batch: list[bytes]) -> None:
        batches.append(batch)
        got.set()

    reader = threading.Thread(target=lines.pump, args=(read_fd, deliver), daemon=True)
    reader.start()
    os.write(write_fd, b"one\ntwo\n")
    assert got.wait(5), "a quiet pipe must still hand on its lines"
    os.close(write_fd)
    reader.join(5)
    os.close(read_fd)
    assert batches == [[b"one", b"two"]]


# -- stderr -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level", "message"),
    [
        (
            'time="2026-01-01T00:00:00Z" level=warning msg="Runtime enricher (docker): x \\"y\\""',
            logging.WARNING,
            'Runtime enricher (docker): x "y"',
        ),
        ("WARN[0000] Ignoring runtime", logging.WARNING, "Ignoring runtime"),
        ("ERRO[0003] boom", logging.ERROR, "boom"),
        (
            '{"instanceName":"edgewatch-tcp","level":"error","msg":"bad","type":"gadget-log"}',
            logging.ERROR,
            "instance edgewatch-tcp: bad",
        ),
        ("Error: unknown flag: --x", logging.ERROR, "Error: unknown flag: --x"),
        ("panic: runtime error", logging.ERROR, "panic: runtime error"),
        ("goroutine 1 [running]:", logging.INFO, "goroutine 1 [running]:"),
    ],
)
def test_stderr_levels(line: str, level: int, message: str) -> None:
    assert stderr.classify(line) == (level, message)


# -- back-off ---------------------------------------------------------------------------


def test_backoff_doubles_with_small_jitter_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.1, rng=random.Random(1))
    delays = [backoff.next_delay(0.1) for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * 0.9 <= delay <= min(base * 1.1, 8.0)
    assert delays[0] < delays[1] < delays[2] < delays[3]


def test_backoff_starts_over_after_a_stable_run() -> None:
    backoff = Backoff(1.0, 60.0, stable_after=60.0, jitter=0.0)
    assert [backoff.next_delay(1.0) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert backoff.next_delay(61.0) == 1.0
    assert backoff.next_delay(1.0) == 2.0


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(5.0, 1.0)


# -- version detection and helper commands ----------------------------------------------


def test_detect_version_reads_ig_version(tmp_path: Path) -> None:
    env = make_env(tmp_path, FAKE_IG_VERSION="0.47.3")
    assert detect_version(FAKE_IG, env) == IgVersion(0, 47, 3)


def test_detect_version_unreadable_means_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(tmp_path, FAKE_IG_VERSION_OUTPUT="something else")
    assert detect_version(FAKE_IG, env) is None
    assert detect_version(str(tmp_path / "no-such-ig"), env) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("assuming IG" in r.getMessage() for r in warnings)


def test_run_tool_is_aborted_by_stop(tmp_path: Path) -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    done = run_tool(["sleep", "30"], env=make_env(tmp_path), timeout=30, stop=stop)
    assert time.monotonic() - started < 5
    assert done.returncode is None
    assert done.error == "stopped"


def test_socket_path_must_fit_the_kernel_limit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shorter work_dir"):
        daemon.socket_path_for(tmp_path / ("x" * 120))
    assert daemon.socket_path_for(Path("/run/edgewatch")) == Path("/run/edgewatch/ig.sock")

"""CriTailSource: tail -F semantics over kubelet's CRI log files.

The key property: a CRI file rotated while being tailed loses no line and duplicates
none — live, across several rotations, and across a restart from the checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.decode.decoder import LineDecoder
from edgewatch.events.registry import resolve
from edgewatch.sources.base import Emit, RawBatch
from edgewatch.sources.cri import CriTailSource, cri_partial, parse_container_log_path
from tests.sources.util import Collector, Running, cri, cri_record, ig_records, wait_until

CONTAINER_ID = "3f2b" * 16
POD_UID = "0b3c5d1e-9a8f-4c2b-8e7d-6f5a4b3c2d1e"


class Node:
    """A fake node's /var/log: the pods tree, the containers symlinks, a checkpoint."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pods = root / "pods"
        self.containers = root / "containers"
        self.containers.mkdir(parents=True, exist_ok=True)
        self.checkpoint = root / "state" / "cri.json"

    def container_log(self, container: str = "ig-tcp", pod: str = "ig-x7k2p") -> Path:
        """Create ``pods/<ns>_<pod>_<uid>/<container>/0.log`` and its containers/ symlink."""
        directory = self.pods / f"gadget_{pod}_{POD_UID}" / container
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / "0.log"
        log.touch()
        link = self.containers / f"{pod}_gadget_{container}-{CONTAINER_ID}.log"
        link.symlink_to(log)
        return log

    def source(self, **kwargs: object) -> CriTailSource:
        kwargs.setdefault("poll_interval", 0.005)
        return CriTailSource(
            [str(self.containers / "*.log")],
            checkpoint=self.checkpoint,
            **kwargs,  # type: ignore[arg-type]
        )

    def saved(self) -> dict[str, dict[str, object]]:
        files: dict[str, dict[str, object]] = json.loads(self.checkpoint.read_text())["files"]
        return files


class Runtime:
    """Writes a container log like containerd does, and rotates it like kubelet does.

    The runtime keeps its file open; kubelet renames the file and then asks the runtime
    to reopen, so lines can still land in the renamed file before the new one exists.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: BinaryIO = path.open("ab")
        self.written: list[bytes] = []
        self.rotations = 0
        self.index = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.fh.flush()

    def record(self, content: bytes, parts: int = 1, torn: bool = False) -> None:
        """One IG line as 1 F line or P…P F lines; ``torn`` writes each in two halves."""
        for line in cri_record(self.index, content, parts):
            self.written.append(line[:-1])
            if torn:
                self.write(line[: len(line) // 2])
                self.write(line[len(line) // 2 :])
            else:
                self.write(line)
        self.index += 1

    def rename(self) -> Path:
        self.rotations += 1
        rotated = self.path.with_name(f"{self.path.name}.20250618-0912{self.rotations:02d}")
        os.rename(self.path, rotated)
        return rotated

    def reopen(self) -> None:
        self.fh.close()
        self.fh = self.path.open("ab")

    def rotate(self) -> Path:
        rotated = self.rename()
        self.reopen()
        return rotated

    def close(self) -> None:
        self.fh.close()


def poll_all(source: CriTailSource, emit: Emit) -> None:
    """Poll until a round finds nothing more to read right away."""
    while source.poll(emit):
        pass


def decode_all(batches: list[RawBatch]) -> int:
    """Events decoded with one decoder per stream, as the runtime does."""
    decoders: dict[str, LineDecoder] = {}
    events = 0
    for batch in batches:
        decoder = decoders.setdefault(batch.stream, LineDecoder(gadget=batch.gadget))
        decoded = decoder.decode(batch.lines)
        assert not decoded.rejects, decoded.rejects[:1]
        events += len(decoded.events)
    return events


# -- the key property -------------------------------------------------------------------


def test_a_file_rotated_while_tailed_loses_no_line_and_duplicates_none(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log("ig-tcp"))
    records = ig_records(240, "trace_tcp")
    source = node.source(chunk_size=4096)
    with Running(source) as running:
        for i, record in enumerate(records):
            runtime.record(record, parts=3 if i % 9 == 0 else 1, torn=i % 5 == 0)
            if i % 40 == 39:
                runtime.rename()
                # containerd writes on until kubelet asks it to reopen the file
                runtime.record(record, parts=2)
                runtime.reopen()
            if i % 16 == 0:
                time.sleep(0.002)  # let the tailer catch up now and then
        runtime.record(records[0])
        runtime.close()
        assert wait_until(lambda: running.out.count() >= len(runtime.written))
        time.sleep(0.05)  # a few more polls: nothing more may come
    assert runtime.rotations == 6
    assert running.out.lines() == runtime.written
    assert {b.stream for b in running.out.batches} == {str(runtime.path)}
    decoders: dict[str, LineDecoder] = {}
    events = 0
    for batch in running.out.batches:
        decoder = decoders.setdefault(batch.stream, LineDecoder(gadget=batch.gadget))
        events += len(decoder.decode(batch.lines).events)
    assert events == len(records) + runtime.rotations + 1
    # The checkpoint points at the end of the live file.
    saved = node.saved()[str(runtime.path)]
    assert saved["ino"] == runtime.path.stat().st_ino
    assert saved["offset"] == runtime.path.stat().st_size


def test_several_rotations_between_two_polls(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    source = node.source()
    out = Collector()
    source.open()
    runtime.record(b'{"n":0}')
    poll_all(source, out)
    runtime.record(b'{"n":1}')
    first = runtime.rotate()
    runtime.record(b'{"n":2}', parts=2)
    runtime.rotate()
    runtime.record(b'{"n":3}')
    runtime.rotate()
    runtime.record(b'{"n":4}')
    first.unlink()  # kubelet's containerLogMaxFiles: the oldest rotation is deleted
    poll_all(source, out)
    source.close()
    runtime.close()
    assert out.lines() == runtime.written


def test_an_incomplete_line_waits_for_its_newline(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    source = node.source()
    out = Collector()
    source.open()
    line = cri(1, b'{"a":1}')
    runtime.write(line[:20])
    poll_all(source, out)
    assert out.lines() == []
    runtime.write(line[20:])
    poll_all(source, out)
    source.close()
    assert out.lines() == [line[:-1]]


def test_a_rotated_file_without_final_newline_is_handed_on(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    source = node.source()
    out = Collector()
    source.open()
    runtime.write(cri(1, b'{"a":1}') + b'2025-06-18T09:12:44.1Z stdout F {"cut')
    poll_all(source, out)
    runtime.rotate()  # the runtime died mid-line; the newline never comes
    runtime.record(b'{"b":2}')
    poll_all(source, out)
    source.close()
    assert out.lines() == [
        cri(1, b'{"a":1}')[:-1],
        b'2025-06-18T09:12:44.1Z stdout F {"cut',
        *runtime.written,
    ]


def test_copytruncate_is_followed(tmp_path: Path) -> None:
    node = Node(tmp_path)
    log = node.container_log()
    runtime = Runtime(log)
    source = node.source()
    out = Collector()
    source.open()
    for i in range(5):
        runtime.record(b'{"before":%d}' % i)
    poll_all(source, out)
    before = list(runtime.written)
    runtime.fh.truncate(0)
    runtime.written.clear()
    runtime.record(b'{"after":1}')
    poll_all(source, out)
    source.close()
    assert out.lines() == before + runtime.written
    assert node.saved()[str(log)]["offset"] == log.stat().st_size


# -- restarts -----------------------------------------------------------------------------


def test_restart_resumes_where_it_stopped(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    for i in range(10):
        runtime.record(b'{"n":%d}' % i, parts=2 if i % 3 == 0 else 1)
    with Running(node.source()) as running:
        assert wait_until(lambda: running.out.count() == len(runtime.written))
    first = running.out
    for i in range(10, 15):
        runtime.record(b'{"n":%d}' % i)
    with Running(node.source()) as running:
        assert wait_until(lambda: first.count() + running.out.count() == len(runtime.written))
        time.sleep(0.03)
    runtime.close()
    assert first.lines() + running.out.lines() == runtime.written


def test_restart_after_rotations_while_down(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    tcp = ig_records(5, "trace_tcp")
    out = Collector()
    source = node.source()
    source.open()
    runtime.record(tcp[0])
    runtime.record(tcp[1], parts=3)
    poll_all(source, out)
    source.close()
    # While edgewatch is down: more lines, then two rotations, and more lines.
    runtime.record(tcp[2])
    runtime.rotate()
    runtime.record(tcp[3], parts=2)
    runtime.rotate()
    runtime.record(tcp[4])
    again = node.source()
    again.open()
    poll_all(again, out)
    again.close()
    runtime.close()
    assert out.lines() == runtime.written
    assert decode_all(out.batches) == 5


def test_restart_when_the_checkpointed_file_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    out = Collector()
    source = node.source()
    source.open()
    runtime.record(b'{"n":0}')
    poll_all(source, out)
    source.close()
    runtime.record(b'{"n":1}')
    runtime.rotate().unlink()  # rotated and compressed (or deleted) while down
    runtime.record(b'{"n":2}')
    again = node.source()
    again.open()
    with caplog.at_level(logging.WARNING):
        poll_all(again, out)
    again.close()
    assert out.lines() == [runtime.written[0], runtime.written[2]]
    assert "is gone" in caplog.text


def test_a_recycled_inode_is_not_resumed(tmp_path: Path) -> None:
    node = Node(tmp_path)
    log = node.container_log()
    runtime = Runtime(log)
    runtime.record(b'{"n":0}')
    out = Collector()
    source = node.source()
    source.open()
    poll_all(source, out)
    source.close()
    # Same inode, different content: what a deleted and re-created file can look like.
    runtime.fh.truncate(0)
    runtime.written.clear()
    runtime.record(b'{"n":1}')
    runtime.record(b'{"n":22222}')
    assert log.stat().st_size > node.saved()[str(log)]["offset"]  # type: ignore[operator]
    again = node.source()
    again.open()
    poll_all(again, out)
    again.close()
    assert out.lines()[1:] == runtime.written


def test_undelivered_batches_are_read_again(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    for i in range(6):
        runtime.record(b'{"n":%d}' % i)
    delivered = Collector()
    source = node.source(batch_lines=2, chunk_size=64)
    source.open()
    kept: list[RawBatch] = []
    source.poll(kept.append)
    assert len(kept) >= 3
    for batch in kept[:2]:  # only the first two batches were delivered
        delivered(batch)
    source.close()
    again = node.source()
    again.open()
    poll_all(again, delivered)
    again.close()
    assert delivered.lines() == runtime.written


def test_run_saves_the_checkpoint_on_stop(tmp_path: Path) -> None:
    node = Node(tmp_path)
    log = node.container_log()
    runtime = Runtime(log)
    runtime.record(b'{"n":0}')
    with Running(node.source(checkpoint_interval=3600)) as running:
        assert wait_until(lambda: running.out.count() == 1)
    assert node.saved()[str(log)]["offset"] == log.stat().st_size


def test_an_unreadable_checkpoint_is_reported_and_the_file_read_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log())
    runtime.record(b'{"n":0}')
    node.checkpoint.parent.mkdir(parents=True)
    node.checkpoint.write_bytes(b"\x00garbage")
    out = Collector()
    source = node.source()
    source.open()
    poll_all(source, out)
    source.close()
    assert out.lines() == runtime.written
    assert "not valid" in caplog.text
    assert str(runtime.path) in node.saved()  # replaced by a good one


# -- commits --------------------------------------------------------------------------


def open_streams_at(data: bytes, offset: int) -> set[str]:
    """The CRI streams inside a P run at ``offset`` of ``data``."""
    open_runs: set[str] = set()
    for line in data[:offset].split(b"\n")[:-1]:
        state = cri_partial(line)
        if state is not None:
            (open_runs.add if state[1] else open_runs.discard)(state[0])
    return open_runs


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(
        st.tuples(
            st.integers(1, 4),  # chunks per record (P…P F)
            st.sampled_from(["stdout", "stderr"]),
            st.integers(1, 40),  # content size
        ),
        min_size=1,
        max_size=25,
    ),
    cuts=st.lists(st.integers(1, 200), min_size=1, max_size=6),
    chunk_size=st.integers(8, 128),
)
def test_commits_are_never_inside_a_partial_run(
    records: list[tuple[int, str, int]], cuts: list[int], chunk_size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(Path(tmp))
        log = node.container_log()
        lines: list[bytes] = []
        for i, (parts, stream, size) in enumerate(records):
            content = (b"%d-" % i) * size
            chunk = -(-len(content) // parts)
            pieces = [content[j : j + chunk] for j in range(0, len(content), chunk)]
            lines += [cri(i, p, "P", stream) for p in pieces[:-1]] + [
                cri(i, pieces[-1], "F", stream)
            ]
        data = b"".join(lines)
        source = node.source(chunk_size=chunk_size, batch_lines=3)
        commits: list[int] = []
        out = Collector()

        def emit(batch: RawBatch) -> None:
            out(batch)  # commits the batch
            if batch.commit is not None:
                position = source.store.get(str(log))
                assert position is not None
                commits.append(position.offset)

        source.open()
        written = 0
        with log.open("ab") as fh:
            for cut in [*cuts, len(data)]:
                end = min(len(data), written + cut)
                fh.write(data[written:end])
                fh.flush()
                written = end
                poll_all(source, emit)
        source.close()
        assert out.lines() == [line[:-1] for line in lines]
        assert commits == sorted(commits)
        for offset in commits:
            assert offset == 0 or data[offset - 1 : offset] == b"\n"
            assert not open_streams_at(data, offset)
        assert commits[-1] == len(data)  # the last line is an F line: all committed


# -- discovery and gadgets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "namespace", "pod", "container"),
    [
        (
            f"/var/log/containers/ig-x7k2p_gadget_ig-dns-{CONTAINER_ID}.log",
            "gadget",
            "ig-x7k2p",
            "ig-dns",
        ),
        (f"/var/log/pods/gadget_ig-x7k2p_{POD_UID}/ig-exec/3.log", "gadget", "ig-x7k2p", "ig-exec"),
    ],
)
def test_both_kubelet_path_forms_are_parsed(
    path: str, namespace: str, pod: str, container: str
) -> None:
    info = parse_container_log_path(path)
    assert info is not None
    assert (info.namespace, info.pod, info.container) == (namespace, pod, container)


def test_other_paths_are_not_parsed() -> None:
    assert parse_container_log_path("/tmp/ig.log") is None
    assert parse_container_log_path("/var/log/containers/x_y_z-notanid.log") is None


def test_the_gadget_comes_from_the_container_name(tmp_path: Path) -> None:
    node = Node(tmp_path)
    lines = {"ig-dns": ig_records(3, "trace_dns"), "ig-seccomp": ig_records(3, "audit_seccomp")}
    for container, records in lines.items():
        runtime = Runtime(node.container_log(container))
        for record in records:
            runtime.record(record)
        runtime.close()
    # A file reached only through the pods tree, and a container nobody mapped.
    other = node.pods / f"apps_web-1_{POD_UID}" / "web" / "0.log"
    other.parent.mkdir(parents=True)
    other.write_bytes(cri(1, ig_records(1, "trace_sni")[0]))
    source = CriTailSource(
        [str(node.containers / "*.log"), str(node.pods / "*" / "web" / "*.log")],
        checkpoint=None,
    )
    out = Collector()
    source.open()
    poll_all(source, out)
    source.close()
    by_stream = {b.stream: b for b in out.batches}
    gadgets = {b.meta["container"]: b.gadget for b in by_stream.values()}
    assert gadgets == {
        "ig-dns": resolve("trace_dns"),
        "ig-seccomp": resolve("audit_seccomp"),
        "web": None,
    }
    assert by_stream[str(other)].meta["namespace"] == "apps"
    assert decode_all(out.batches) == 7


def test_a_custom_mapping_and_a_bad_one(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log("gadget-dns"))
    runtime.record(ig_records(1, "trace_dns")[0])
    source = node.source(container_gadgets={"gadget-dns": "dns"})
    out = Collector()
    source.open()
    poll_all(source, out)
    source.close()
    assert out.batches[0].gadget == resolve("trace_dns")
    with pytest.raises(ValueError, match="'gadget-dns' maps to unknown gadget 'trace_nope'"):
        node.source(container_gadgets={"gadget-dns": "trace_nope"})


def test_rotated_files_matched_by_the_glob_are_not_tailed_twice(tmp_path: Path) -> None:
    node = Node(tmp_path)
    log = node.container_log()
    runtime = Runtime(log)
    runtime.record(b'{"n":0}')
    runtime.rotate()
    runtime.record(b'{"n":1}')
    source = CriTailSource([str(log.parent / "*")], checkpoint=None)
    out = Collector()
    source.open()
    poll_all(source, out)
    source.close()
    assert out.lines() == runtime.written[1:]  # the rotated file predates the tailer


def test_start_at_end_skips_what_is_there_but_not_new_files(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runtime = Runtime(node.container_log("ig-tcp"))
    runtime.record(b'{"old":1}')
    runtime.write(b'2025-06-18T09:12:44.5Z stdout F {"half')  # being written right now
    source = node.source(start_at="end")
    out = Collector()
    source.open()
    poll_all(source, out)
    runtime.write(b'"}\n')
    runtime.record(b'{"new":1}')
    later = Runtime(node.container_log("ig-dns", pod="ig-other"))
    later.record(b'{"later":1}')
    poll_all(source, out)
    source.close()
    by_stream = defaultdict(list)
    for batch in out.batches:
        by_stream[batch.stream].extend(batch.lines)
    assert by_stream[str(runtime.path)] == [
        b'2025-06-18T09:12:44.5Z stdout F {"half"}',
        runtime.written[-1],
    ]
    assert by_stream[str(later.path)] == later.written


def test_a_deleted_file_is_retired_and_forgotten(tmp_path: Path) -> None:
    node = Node(tmp_path)
    log = node.container_log()
    runtime = Runtime(log)
    runtime.record(b'{"n":0}')
    runtime.close()
    source = node.source(retire_after=0.0)
    out = Collector()
    source.open()
    poll_all(source, out)
    for link in node.containers.iterdir():
        link.unlink()
    log.unlink()
    source.poll(out)  # notices the path is gone
    source.poll(out)  # and retires it
    source.close()
    assert out.batches[-1].end_of_stream
    assert out.batches[-1].stream == str(log)
    assert node.saved() == {}


def test_run_returns_promptly_on_stop_with_nothing_to_tail(tmp_path: Path) -> None:
    source = CriTailSource([str(tmp_path / "nothing" / "*.log")], checkpoint=None, poll_interval=5)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(Collector(), stop))
    thread.start()
    time.sleep(0.02)
    stop.set()
    thread.join(2)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"paths": []}, ValueError),
        ({"paths": "/var/log/containers/*.log"}, TypeError),
        ({"paths": ["x"], "start_at": "middle"}, ValueError),
        ({"paths": ["x"], "poll_interval": 0}, ValueError),
    ],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        CriTailSource(**kwargs)  # type: ignore[arg-type]

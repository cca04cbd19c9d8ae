"""CheckpointStore: ordered commits, atomic JSON, bad files reported and ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgewatch.sources.checkpoint import CheckpointStore, FileId, Position


def pos(offset: int, ino: int = 7, head: bytes = b"") -> Position:
    return Position("/var/log/pods/x/0.log", FileId(1, ino), offset, head)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state" / "cri.json"
    store = CheckpointStore(path)
    store.load()
    store.track("k", 1, pos(0))
    store.commit("k", 2, pos(120, head=b"2025-06-18T"))
    assert store.save()
    doc = json.loads(path.read_text())
    assert doc["files"]["k"]["offset"] == 120
    assert list(tmp_path.joinpath("state").iterdir()) == [path]  # no temporary file left
    again = CheckpointStore(path)
    assert again.load() == {"k": pos(120, head=b"2025-06-18T")}


def test_an_older_commit_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "cp.json")
    store.load()
    store.track("k", 1, pos(0))
    store.commit("k", 5, pos(500))
    store.commit("k", 3, pos(300))  # delivered late
    assert store.get("k") == pos(500)
    store.track("k", 9, pos(0, ino=8))  # the file was reopened
    store.commit("k", 6, pos(600))
    assert store.get("k") == pos(0, ino=8)


def test_commits_for_forgotten_keys_are_ignored(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "cp.json")
    store.load()
    store.track("k", 1, pos(0))
    store.forget("k")
    store.commit("k", 2, pos(10))
    assert store.get("k") is None


def test_saves_are_rate_limited_and_a_close_saves(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "cp.json"
    store = CheckpointStore(path, interval=1.0, clock=lambda: now[0])
    store.load()
    store.track("k", 1, pos(0))
    store.save_if_due()
    assert json.loads(path.read_text())["files"]["k"]["offset"] == 0
    store.commit("k", 2, pos(10))
    now[0] = 0.5
    store.save_if_due()
    assert json.loads(path.read_text())["files"]["k"]["offset"] == 0
    now[0] = 1.5
    store.save_if_due()
    assert json.loads(path.read_text())["files"]["k"]["offset"] == 10
    store.commit("k", 3, pos(20))
    store.close()
    assert json.loads(path.read_text())["files"]["k"]["offset"] == 20
    store.commit("k", 4, pos(30))  # confirmed after the source stopped: saved at once
    assert json.loads(path.read_text())["files"]["k"]["offset"] == 30


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"version": 99, "files": {}}',
        b'{"version": 1, "files": {"k": {"path": "p", "dev": 1, "ino": "x", "offset": 1}}}',
        b'{"version": 1, "files": {"k": {"path": "p", "dev": 1, "ino": 2, "offset": -1}}}',
        b'{"version": 1, "files": {"k": {"path": "p", "dev": 1, "ino": 2, "offset": 1, '
        b'"head": "zz"}}}',
    ],
)
def test_an_invalid_checkpoint_is_reported_and_ignored(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    assert CheckpointStore(path).load() == {}
    assert "not valid" in caplog.text


def test_an_unreadable_checkpoint_is_reported_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cp.json"
    path.mkdir()  # a directory where the file should be: unreadable and unwritable
    store = CheckpointStore(path)
    assert store.load() == {}
    assert "cannot be read" in caplog.text
    store.track("k", 1, pos(0))
    assert not store.save()
    assert "cannot be written" in caplog.text


def test_position_matches_identity_and_head(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(b"2025-06-18T09:12:44Z stdout F {}\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        ident = FileId.of(os.fstat(fd))
        assert Position(str(path), ident, 5, b"2025-").matches(fd, ident)
        assert not Position(str(path), ident, 5, b"1999-").matches(fd, ident)
        assert not Position(str(path), FileId(ident.dev, ident.ino + 1), 5).matches(fd, ident)
    finally:
        os.close(fd)

"""Every output shape is what IG (or the runtime around it) writes, and decodes back."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import msgspec
import pytest

from edgewatch import simulate
from edgewatch.decode.decoder import LineDecoder
from edgewatch.events import BY_FAMILY, Event, ExecEvent, Layout
from edgewatch.events.render import to_ig_json
from edgewatch.simulate.output import cri_lines

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")


def _write(events: list[Event], fmt: str, **kw: Any) -> list[bytes]:
    buf = io.BytesIO()
    assert simulate.write(events, buf, fmt, **kw) == len(events)
    data = buf.getvalue()
    assert data.endswith(b"\n")
    return data.split(b"\n")[:-1]


def _decode(lines: list[bytes]) -> list[Event]:
    decoder = LineDecoder()
    out = decoder.decode(lines)
    assert not out.rejects, out.rejects[:1]
    assert not decoder.flush().rejects
    return out.events


def _flat_view(event: Event) -> Event:
    """What the flat layout can carry: columns it has no path for keep their defaults."""
    spec = BY_FAMILY[event.gadget_family]
    blank = spec.event()
    changes = {
        name: getattr(blank, name)
        for name, path in spec.column_paths().items()
        if path.path(Layout.FLAT) is None
    }
    if isinstance(event, ExecEvent):
        # v0.31-v0.34 joined argv with plain spaces, so argument boundaries are lost.
        changes["args"] = event.cmdline.split(" ") if event.args else []
    return msgspec.structs.replace(event, **changes)


@pytest.mark.parametrize("fmt", ["current", "envelope", "cri"])
def test_decodes_to_the_generated_events(every_gadget: list[Event], fmt: str) -> None:
    assert _decode(_write(every_gadget, fmt)) == every_gadget


def test_flat_decodes_to_what_flat_carries(every_gadget: list[Event]) -> None:
    decoded = _decode(_write(every_gadget, "flat"))
    assert decoded == [_flat_view(e) for e in every_gadget]


@pytest.mark.parametrize("layout", [Layout.CURRENT, Layout.FLAT])
def test_fast_renderer_matches_events_render(every_gadget: list[Event], layout: Layout) -> None:
    renderer = simulate.Renderer(layout)
    for event in every_gadget:
        assert renderer(event) == to_ig_json(event, layout)


def _key_orders(line: bytes) -> list[list[str]]:
    orders: list[list[str]] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        orders.append([k for k, _ in pairs])
        return dict(pairs)

    json.loads(line, object_pairs_hook=hook)
    return orders


@pytest.mark.parametrize("fmt", ["current", "flat"])
def test_keys_sorted_like_ig(every_gadget: list[Event], fmt: str) -> None:
    for line in _write(every_gadget[:3000], fmt):
        for keys in _key_orders(line):
            assert keys == sorted(keys)


def test_current_shape_details(every_gadget: list[Event]) -> None:
    seen_nbsp = False
    for line in _write(every_gadget, "current"):
        obj = json.loads(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", obj["timestamp"])
        assert set(obj["k8s"]) == {
            "containerName", "hostnetwork", "namespace", "node", "owner", "podLabels", "podName"
        }  # fmt: skip
        if "args" in obj and " " not in obj["args"]:
            seen_nbsp = seen_nbsp or "\u00a0" in obj["args"]
        if "syscall" in obj or "fname" in obj:
            assert obj["ustack"]["stack_id"] == 0
    assert seen_nbsp
    raw = b"".join(_write([e for e in every_gadget if isinstance(e, ExecEvent)], "current"))
    assert "\u00a0".encode() in raw  # written raw, as Go does, not as \u00a0


def test_envelope_matches_the_logs_operator(every_gadget: list[Event]) -> None:
    seqs: dict[str, int] = {}
    for line, event in zip(_write(every_gadget, "envelope"), every_gadget, strict=True):
        assert _key_orders(line)[-1] == ["type", "seq", "gadget", "datasource", "timestamp", "data"]
        env = json.loads(line)
        spec = BY_FAMILY[event.gadget_family]
        assert env["type"] == "gadget-data"
        assert (env["gadget"], env["datasource"]) == (spec.gadget, spec.datasource)
        assert env["seq"] == seqs.get(spec.datasource, 0)
        seqs[spec.datasource] = env["seq"] + 1
        assert RFC3339_NANO.match(env["timestamp"])
        assert env["data"]["timestamp_raw"] == event.time_ns
    assert set(seqs) == {BY_FAMILY[e.gadget_family].datasource for e in every_gadget}


def test_log_line_times_follow_the_events(background: list[Event]) -> None:
    stamps = [line.split(b" ", 1)[0].decode() for line in _write(background[:5000], "cri")]
    assert all(RFC3339_NANO.match(s) for s in stamps)
    assert stamps == sorted(stamps, key=lambda s: s.replace("Z", ".Z").split(".")[0:2])


def test_cri_splits_long_lines_into_partials(every_gadget: list[Event]) -> None:
    max_line = 300
    lines = _write(every_gadget[:2000], "cri", max_line=max_line)
    partial = 0
    pending: list[bytes] = []
    for line in lines:
        _, stream, tag, content = line.split(b" ", 3)
        assert stream == b"stdout"
        assert len(content) <= max_line
        pending.append(content)
        if tag == b"P":
            partial += 1
            assert len(content) == max_line
            continue
        assert tag == b"F"
        json.loads(b"".join(pending))
        pending.clear()
    assert partial > 2000  # every IG event is longer than 300 bytes
    assert _decode(lines) == every_gadget[:2000]


def test_cri_default_limit_keeps_events_whole(background: list[Event]) -> None:
    assert all(b" stdout F {" in line for line in _write(background[:2000], "cri"))


def test_cri_line_chunking_at_exact_multiples() -> None:
    lines = cri_lines("2025-06-18T09:00:00.1Z", "stdout", b"x" * 20, 10)
    assert [ln.split(b" ")[2] for ln in lines] == [b"P", b"F"]
    assert cri_lines("t", "stdout", b"y" * 10, 10) == [b"t stdout F " + b"y" * 10 + b"\n"]


def test_cri_stderr_noise_is_ig_logrus_on_a_pipe(
    background: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulate.output, "WARNING_EVERY", 1000)
    events = background[:1010]
    lines = _write(events, "cri", stderr_noise=True)
    stderr = [ln for ln in lines if b" stderr " in ln]
    assert len(stderr) == len(simulate.output.STARTUP_WARNINGS) + 1
    assert all(b' stderr F time="' in ln and b" level=warning msg=" in ln for ln in stderr)
    assert b'Ignoring runtime \\"cri-o\\"' in b"".join(stderr)
    assert lines[0].split(b" ")[1] == b"stderr"
    decoder = LineDecoder()
    out = decoder.decode(lines)
    assert out.events == events
    assert out.skipped["stderr"] == len(stderr)


def test_progress_and_errors(background: list[Event]) -> None:
    calls: list[int] = []
    simulate.write(background[:2500], io.BytesIO(), progress=calls.append, progress_every=1000)
    assert calls == [1000, 2000, 2500]
    with pytest.raises(ValueError, match="unknown format"):
        simulate.write([], io.BytesIO(), "yaml")

"""Every shape that reaches us around IG's JSON decodes to the same normalized event."""

from __future__ import annotations

import json
from collections import Counter

import msgspec
import pytest

from edgewatch.decode.decoder import LineDecoder
from edgewatch.events import resolve
from edgewatch.events.base import Layout
from edgewatch.events.render import to_ig_json
from tests.conftest import all_ig_lines, ig_lines

CURRENT = [line for _, line in all_ig_lines()]


def baseline() -> list:
    return LineDecoder().decode(CURRENT).events


def envelope(line: bytes, gadget: str, datasource: str, seq: int = 0) -> bytes:
    return (
        b'{"type":"gadget-data","seq":%d,"gadget":"%s","datasource":"%s",'
        b'"timestamp":"2025-06-18T09:12:45.000000001Z","data":%s}'
        % (seq, gadget.encode(), datasource.encode(), line)
    )


def cri(content: bytes, stream: str = "stdout", tag: str = "F") -> bytes:
    return b"2025-06-18T09:12:44.123456789Z %s %s %s" % (stream.encode(), tag.encode(), content)


def test_flat_and_current_normalize_identically() -> None:
    """The flat layout (IG v0.31-v0.34) carries fewer columns; those it carries must agree."""
    events = baseline()
    flat_lines = [to_ig_json(ev, Layout.FLAT) for ev in events]
    assert all(
        (b'"proc":' not in line and b'"comm":' in line) or b'"fcomm"' in line for line in flat_lines
    )
    flat_events = LineDecoder().decode(flat_lines).events
    assert len(flat_events) == len(events)
    for cur, flat in zip(events, flat_events, strict=True):
        spec = resolve(cur.gadget_family)
        paths = spec.column_paths()
        for column, path in paths.items():
            if path.path(Layout.FLAT) is None:
                continue
            if column == "args":  # the flat era joined argv with plain spaces
                assert " ".join(getattr(flat, column)) == " ".join(getattr(cur, column))
                continue
            assert getattr(flat, column) == getattr(cur, column), (cur.gadget_family, column)


def test_rendering_the_current_layout_reproduces_ig_output() -> None:
    for ev, line in zip(baseline(), CURRENT, strict=True):
        original = json.loads(line)
        rendered = json.loads(to_ig_json(ev))
        original.pop("ustack", None)
        rendered.pop("ustack", None)
        assert rendered == original
        # IG sorts keys; so do we
        assert list(json.loads(to_ig_json(ev))) == sorted(json.loads(to_ig_json(ev)))


def test_logs_operator_envelope_object_array_and_empty() -> None:
    lines = []
    for family, line in all_ig_lines():
        spec = resolve(family)
        lines.append(envelope(line, spec.gadget, spec.datasource))
    tcp = ig_lines("trace_tcp")
    lines.append(
        b'{"type":"gadget-data","seq":9,"gadget":"ghcr.io/inspektor-gadget/gadget/trace_tcp:v0.55.1",'
        b'"datasource":"tracetcp","instanceID":"61c8fdd9","timestamp":"x","data":[%s,%s]}'
        % (tcp[0], tcp[1])
    )
    lines.append(
        b'{"type":"gadget-data-empty","seq":2,"gadget":"trace_tcp","datasource":"tracetcp","timestamp":"x"}'
    )
    result = LineDecoder().decode(lines)
    assert not result.rejects
    assert result.events[: len(CURRENT)] == baseline()
    assert result.events[len(CURRENT) :] == LineDecoder().decode(tcp[:2]).events
    assert result.skipped["empty_array"] == 1
    # the raw bytes forwarded for each event are IG's own object, unwrapped
    assert result.raws[0] == CURRENT[0]


def test_envelope_gadget_unknown_is_rejected_not_guessed() -> None:
    line = envelope(ig_lines("trace_tcp")[0], "trace_nothing", "nothing")
    result = LineDecoder().decode([line])
    assert [r.reason for r in result.rejects] == ["unknown_gadget"]


def test_cri_lines_with_partials_and_stderr() -> None:
    lines = []
    for line in CURRENT:
        cut1, cut2 = len(line) // 3, 2 * len(line) // 3
        lines += [cri(line[:cut1], tag="P"), cri(line[cut1:cut2], tag="P"), cri(line[cut2:])]
    lines.insert(
        4, cri(b'WARN[0000] Ignoring runtime "cri-o" with non-existent socketPath', "stderr")
    )
    result = LineDecoder().decode(lines)
    assert not result.rejects
    assert result.events == baseline()
    assert result.raws == CURRENT
    assert result.skipped["stderr"] == 1


def test_cri_partial_spanning_batches_and_incomplete_at_end() -> None:
    line = CURRENT[0]
    dec = LineDecoder()
    first = dec.decode([cri(line[:100], tag="P")])
    assert first.events == [] and not first.rejects
    second = dec.decode([cri(line[100:])])
    assert len(second.events) == 1
    dec.decode([cri(line[:50], tag="P")])
    leftover = dec.flush()
    assert [r.reason for r in leftover.rejects] == ["incomplete_partial"]


def test_cri_envelope_lines_from_ig_daemon_under_kubelet() -> None:
    line = envelope(ig_lines("trace_dns")[1], "trace_dns", "dns")
    (event,) = LineDecoder().decode([cri(line)]).events
    assert event.gadget_family == "dns" and event.addresses == ["10.0.77.5"]


def test_docker_json_file_lines() -> None:
    line = ig_lines("trace_sni")[0]
    whole = msgspec.json.encode({"log": line.decode() + "\n", "stream": "stdout", "time": "t"})
    part1 = msgspec.json.encode({"log": line[:60].decode(), "stream": "stdout", "time": "t"})
    part2 = msgspec.json.encode({"log": line[60:].decode() + "\n", "stream": "stdout", "time": "t"})
    result = LineDecoder().decode([whole, part1, part2])
    assert [e.name for e in result.events] == ["api.github.com", "api.github.com"]


def test_malformed_lines_are_rejected_with_reasons_and_the_rest_decodes() -> None:
    good = ig_lines("trace_tcp")
    lines = [
        good[0],
        b"not json at all",
        b'{"truncated": ',
        b"[1, 2, 3]",
        b'{"level":"info","msg":"hello"}',
        b"",
        b"2025-06-18T09:12:44Z stdout X nope",
        good[1],
        b"\xff\xfe\x00garbage",
    ]
    result = LineDecoder().decode(lines)
    assert [e.type for e in result.events] == ["connect", "accept"]
    assert Counter(r.reason for r in result.rejects) == {
        "invalid_json": 3,
        "not_an_object": 1,
        "unknown_gadget": 1,
        "invalid_cri": 1,
    }
    assert result.skipped["blank"] == 1


def test_gadget_override_wins_over_inference() -> None:
    sni_line = ig_lines("trace_sni")[0]
    (as_sni,) = LineDecoder().decode([sni_line]).events
    assert as_sni.gadget_family == "sni"
    # a stream known to be trace_dns (e.g. `ig run trace_dns`) decodes as dns
    (as_dns,) = LineDecoder(gadget=resolve("trace_dns")).decode([sni_line]).events
    assert as_dns.gadget_family == "dns" and as_dns.name == "api.github.com"
    # but lines that are not IG objects at all are still refused
    result = LineDecoder(gadget=resolve("trace_dns")).decode([b'{"level":"info"}'])
    assert [r.reason for r in result.rejects] == ["unknown_gadget"]


def test_missing_kubernetes_blocks_are_empty_not_errors() -> None:
    line = json.loads(ig_lines("trace_exec")[0])
    del line["k8s"]
    del line["runtime"]
    (ev,) = LineDecoder().decode([json.dumps(line).encode()]).events
    assert (ev.namespace, ev.pod, ev.container, ev.image, ev.container_id) == ("", "", "", "", "")
    assert ev.comm == "sh"


@pytest.mark.parametrize(
    ("field", "value", "column", "expected"),
    [
        ("fd", '"7"', "fd", 7),
        ("src", '{"addr":"10.0.0.1","port":"8080","proto":6,"version":4}', "src_port", 8080),
        ("error_raw", "null", "error_raw", 0),
        ("type", '"connect"', "type", "connect"),
    ],
)
def test_values_of_unexpected_type_are_coerced_not_rejected(
    field: str, value: str, column: str, expected: object
) -> None:
    obj = json.loads(ig_lines("trace_tcp")[0])
    obj[field] = json.loads(value)
    (ev,) = LineDecoder().decode([json.dumps(obj).encode()]).events
    assert getattr(ev, column) == expected
    assert ev.comm == "curl"


def test_new_keys_from_a_later_ig_are_ignored() -> None:
    obj = json.loads(ig_lines("trace_tcp")[0])
    obj["brand_new_field"] = {"nested": [1, 2]}
    obj["proc"]["cgroup_id"] = 1234
    (ev,) = LineDecoder().decode([json.dumps(obj, sort_keys=True).encode()]).events
    assert ev == LineDecoder().decode([ig_lines("trace_tcp")[0]]).events[0]


def test_projection_decodes_only_what_is_asked_and_agrees() -> None:
    cols = frozenset(
        {"namespace", "pod", "dst_addr", "name", "comm", "addresses", "cmdline", "node"}
    )
    full = LineDecoder(node="n1").decode(CURRENT).events
    slim = LineDecoder(columns=cols, node="n1").decode(CURRENT).events
    views = LineDecoder(columns=cols, views=True, node="n1").decode(CURRENT).events
    for a, b, v in zip(full, slim, views, strict=True):
        assert type(a) is type(b)
        assert v.gadget_family == a.gadget_family
        for c in cols | {"time_ns"}:
            if hasattr(a, c):
                assert getattr(a, c) == getattr(b, c) == getattr(v, c), c
        if a.image:
            assert b.image == ""  # not asked, not decoded
            assert not hasattr(v, "image")  # a view cannot even be asked


def test_order_is_preserved_across_gadgets() -> None:
    mixed = [
        line
        for pair in zip(ig_lines("trace_dns"), ig_lines("trace_tcp"), strict=False)
        for line in pair
    ]
    events = LineDecoder().decode(mixed).events
    assert [e.gadget_family for e in events] == ["dns", "tcp"] * 4


def test_crlf_and_padding_tolerated() -> None:
    line = ig_lines("trace_sni")[0]
    events = LineDecoder().decode([line + b"\r", b"  " + line + b"  "]).events
    assert [e.name for e in events] == ["api.github.com"] * 2


@pytest.mark.parametrize(
    "frame",
    [
        lambda line: line,
        cri,
        lambda line: envelope(line, "trace_tcp", "tcp"),
    ],
    ids=["bare", "cri", "envelope"],
)
def test_invalid_utf8_inside_a_string_is_rejected_not_raised(frame) -> None:
    """msgspec raises UnicodeDecodeError (not DecodeError) for bad bytes inside a string."""
    good = ig_lines("trace_tcp")[0]
    broken = good.replace(b'"10.0.184.20"', b'"10.0.1\x804.20"', 1)
    assert broken != good
    dec = LineDecoder()
    result = dec.decode([frame(good), frame(broken), b'"\x80"', frame(good)])
    result.extend(dec.flush())
    assert len(result.events) == 2
    assert [r.reason for r in result.rejects] == ["invalid_json", "invalid_json"]

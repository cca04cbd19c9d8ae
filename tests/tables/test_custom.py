"""The custom-table layout: records are exactly what their DCR stream declares."""

from __future__ import annotations

import msgspec
import pytest

from edgewatch.events import GADGETS, CapabilitiesEvent
from edgewatch.tables import LAYOUTS, CustomLayout, event_id, make_layout
from edgewatch.tables.custom import DEFAULT_TABLES, STANDARD_COLUMNS, record_shape
from edgewatch.tables.schema import (
    COLUMN_TYPES,
    check_column_name,
    format_ns,
    group_by_type,
    merge_columns,
)
from tests.tables.helpers import (
    AggregatedTcp,
    by_family,
    conforms,
    every_event,
    from_fixtures,
    simulated,
)

FAMILIES = [g.family for g in GADGETS]
GADGET_TYPES = {g.family: g.event for g in GADGETS}
LAYOUT = LAYOUTS["custom"]


@pytest.fixture(scope="module")
def groups() -> dict[str, list]:
    return by_family(every_event())


@pytest.mark.parametrize("family", FAMILIES)
def test_records_have_exactly_the_declared_columns(groups: dict, family: str) -> None:
    """What the DCR would reject or drop: a missing or extra key, a value of the wrong type."""
    events = groups[family]
    assert events, f"no {family} events to test with"
    columns = dict(LAYOUT.columns(family))
    out = LAYOUT.records(events)
    assert list(out) == [LAYOUT.stream_for(family)]
    (records,) = out.values()
    assert len(records) == len(events)
    for record in records:
        assert list(record) == list(columns)
        for name, value in record.items():
            assert conforms(value, columns[name]), (family, name, value, columns[name])


@pytest.mark.parametrize("family", FAMILIES)
def test_family_columns_are_a_typed_subset_of_their_stream(family: str) -> None:
    (stream,) = LAYOUT.streams([family])
    declared = dict(stream.columns)
    assert stream.name == LAYOUT.stream_for(family) == f"Custom-{LAYOUT.table_for(family)}"
    assert stream.output_stream == stream.name
    for name, typ in LAYOUT.columns(family):
        assert declared[name] == typ


def test_every_stream_column_is_written_by_some_family() -> None:
    for stream in LAYOUT.streams():
        written = {n for f in stream.families for n, _ in LAYOUT.columns(f)}
        assert written == {n for n, _ in stream.columns}


def test_column_names_and_types_are_what_log_analytics_accepts() -> None:
    for stream in LAYOUT.streams():
        assert stream.table.endswith("_CL")
        names = [n for n, _ in stream.columns]
        assert len(names) == len(set(names))
        for name, typ in stream.columns:
            check_column_name(name)
            assert typ in COLUMN_TYPES
        assert ("TimeGenerated", "datetime") in stream.columns


def test_default_tables_and_names() -> None:
    assert LAYOUT.table_for("tcp") == LAYOUT.table_for("bind") == "EdgeWatchNetwork_CL"
    assert LAYOUT.table_for("dns") == "EdgeWatchDns_CL"
    assert LAYOUT.table_for("sni") == "EdgeWatchTls_CL"
    assert {LAYOUT.table_for(f) for f in ("exec", "signal", "capabilities", "oomkill")} == {
        "EdgeWatchProcess_CL"
    }
    assert LAYOUT.table_for("seccomp") == "EdgeWatchSeccomp_CL"
    assert LAYOUT.table_for("open") == "EdgeWatchFile_CL"
    assert set(DEFAULT_TABLES) == set(FAMILIES)
    # at most ten streams per DCR, with every gadget enabled
    assert len(LAYOUT.streams()) <= 10
    cols = dict(LAYOUT.columns("tcp"))
    for name in ("Computer", "Namespace", "PodName", "ContainerName", "SrcAddr", "DstPort"):
        assert name in cols
    assert cols["TcpType"] == "string"  # "Type" is reserved by Log Analytics
    assert cols["HostNetwork"] == "boolean"
    assert cols["ContainerStartedAt"] == "datetime"
    assert dict(LAYOUT.columns("dns"))["Addresses"] == "dynamic"
    for name, typ in STANDARD_COLUMNS:
        assert cols[name] == typ


def test_standard_columns_follow_the_event() -> None:
    events = by_family(simulated())["tcp"][:300]
    (records,) = LAYOUT.records(events).values()
    for ev, rec in zip(events, records, strict=True):
        assert rec["TimeGenerated"] == format_ns(ev.time_ns)
        assert rec["EventStartTime"] == rec["EventEndTime"] == rec["TimeGenerated"]
        assert rec["EventCount"] == 1
        assert rec["Gadget"] == "trace_tcp"
        assert rec["Computer"] == ev.node
        assert rec["PodName"] == ev.pod
        assert rec["SrcAddr"] == ev.src_addr
        assert rec["DstPort"] == ev.dst_port
        assert rec["TcpType"] == ev.type
        assert rec["EventId"] == event_id(ev, "trace_tcp")


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_times_out_of_order_and_across_seconds(name: str) -> None:
    base = by_family(from_fixtures())["tcp"][0]
    times = [5_999_999_999, 3_000_000_000, 3_999_999_950, 6_000_000_000, 100, 4_000_000_000]
    events = [msgspec.structs.replace(base, time_ns=1_750_000_000_000_000_000 + t) for t in times]
    (records,) = LAYOUTS[name].records(events).values()
    assert [r["TimeGenerated"] for r in records] == [format_ns(e.time_ns) for e in events]


def test_format_ns_keeps_100ns_ticks() -> None:
    assert format_ns(1_750_237_964_123_456_789) == "2025-06-18T09:12:44.1234567Z"
    assert format_ns(1_750_237_964_000_000_099) == "2025-06-18T09:12:44.0000000Z"


def test_event_id_is_stable_and_tells_events_apart() -> None:
    events = list(every_event())
    first = [r["EventId"] for recs in LAYOUT.records(events).values() for r in recs]
    again = [r["EventId"] for recs in LAYOUT.records(events).values() for r in recs]
    assert first == again
    assert len(set(first)) == len(first)
    for ev in events[:50]:
        copy = msgspec.json.decode(msgspec.json.encode(ev), type=type(ev))
        assert event_id(copy, "x") == event_id(ev, "x")
    ev = by_family(simulated())["tcp"][0]
    assert event_id(msgspec.structs.replace(ev, dst_port=ev.dst_port + 1), "t") != event_id(ev, "t")


def test_each_record_keeps_its_own_container_context() -> None:
    """Templates are per container: labels that change, and host events of several nodes."""
    base = by_family(from_fixtures())["tcp"][0]
    a = msgspec.structs.replace(base, pod_labels="app=a")
    b = msgspec.structs.replace(base, pod_labels="app=b", time_ns=base.time_ns + 1)
    h1 = msgspec.structs.replace(base, container_id="", pod="", node="n1", time_ns=base.time_ns + 2)
    h2 = msgspec.structs.replace(h1, node="n2", time_ns=base.time_ns + 3)
    (records,) = LAYOUT.records([a, b, h1, h2, a]).values()
    labels = [r["PodLabels"] for r in records]
    assert labels == ["app=a", "app=b", base.pod_labels, base.pod_labels, "app=a"]
    assert [r["Computer"] for r in records] == [base.node, base.node, "n1", "n2", base.node]
    assert [r["PodName"] for r in records] == [base.pod, base.pod, "", "", base.pod]
    assert records[0] is not records[4]


def test_unsigned_64_bit_values_fit_a_long() -> None:
    ev = CapabilitiesEvent(time_ns=1_750_000_000_000_000_000, syscall_raw=2**64 - 1)
    (records,) = LAYOUT.records([ev]).values()
    assert records[0]["SyscallRaw"] == -1


def test_mixed_batches_keep_the_order_of_each_gadget() -> None:
    events = list(simulated()[:3000])
    out = LAYOUT.records(events)
    assert sum(map(len, out.values())) == len(events)
    for stream, records in out.items():
        for family in {
            e.gadget_family for e in events if LAYOUT.stream_for(e.gadget_family) == stream
        }:
            gadget = record_shape(GADGET_TYPES[family]).gadget
            expected = [event_id(e, gadget) for e in events if e.gadget_family == family]
            assert [r["EventId"] for r in records if r["Gadget"] == gadget] == expected
    assert [t for t, _ in group_by_type([])] == []


def test_aggregated_events_fill_the_asim_aggregation_columns() -> None:
    ev = AggregatedTcp(
        time_ns=1_750_000_000_000_000_000,
        event_count=7,
        event_start_ns=1_750_000_000_000_000_000,
        event_end_ns=1_750_000_060_000_000_000,
    )
    (records,) = LAYOUT.records([ev]).values()
    rec = records[0]
    assert rec["EventCount"] == 7
    assert rec["EventStartTime"] == format_ns(ev.event_start_ns)
    assert rec["EventEndTime"] == format_ns(ev.event_end_ns)
    assert "EventCount" not in {n for n, _ in record_shape(AggregatedTcp).columns[1:-5]}
    assert rec["EventId"] == event_id(ev, "trace_tcp")


def test_table_names_are_configurable_and_checked() -> None:
    layout = make_layout("custom", table_names={"sni": "MyTls_CL", "tcp": "MyNet_CL"})
    assert layout.table_for("sni") == "MyTls_CL"
    assert layout.stream_for("tcp") == "Custom-MyNet_CL"
    assert layout.table_for("bind") == "EdgeWatchNetwork_CL"
    with pytest.raises(ValueError, match="_CL"):
        CustomLayout({"tcp": "Network"})
    with pytest.raises(ValueError, match="not valid"):
        CustomLayout({"tcp": "1Net_CL"})
    with pytest.raises(ValueError, match="unknown"):
        make_layout("elastic")


def test_a_layout_routes_only_its_families() -> None:
    layout = CustomLayout(families=["tcp"])
    assert [s.name for s in layout.streams()] == ["Custom-EdgeWatchNetwork_CL"]
    assert {n for n, _ in layout.streams()[0].columns} == {n for n, _ in layout.columns("tcp")}
    with pytest.raises(ValueError, match="not routed"):
        layout.records(list(by_family(from_fixtures())["dns"]))


def test_columns_of_gadgets_sharing_a_table_must_agree() -> None:
    with pytest.raises(ValueError, match="Port"):
        merge_columns([[("Port", "long")], [("Port", "string")]])

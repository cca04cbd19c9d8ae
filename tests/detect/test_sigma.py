"""Sigma rules: they load, what cannot be mapped is reported, and KQL agrees with the stream."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from edgewatch.detect import sigma
from edgewatch.detect.engine import Engine
from edgewatch.hunt import engine as hunt
from edgewatch.simulate.engine import generate
from edgewatch.store.database import open_store
from edgewatch.store.writer import StoreSettings, StoreWriter
from tests.detect.helpers import exec_ev, run, tcp


@pytest.fixture(scope="module")
def loaded() -> sigma.Loaded:
    return sigma.load()


def test_at_least_twenty_bundled_rules_load(loaded: sigma.Loaded) -> None:
    assert len(loaded.rules) >= 20
    families = {r.family for r in loaded.rules}
    assert families == {"exec", "tcp", "dns"}
    Engine(loaded.specs)  # all compile into the engine


def test_unmappable_rules_are_reported_with_the_reason(loaded: sigma.Loaded) -> None:
    (problem,) = loaded.unmapped
    assert "OriginalFileName" in problem and "no edgewatch equivalent" in problem


def test_reasons_for_other_unsupported_rules(tmp_path: Path) -> None:
    (tmp_path / "win.yml").write_text(
        "title: Win\nlogsource: {product: windows, category: process_creation}\n"
        "detection: {sel: {Image: x}, condition: sel}\n"
    )
    (tmp_path / "file.yml").write_text(
        "title: Files\nlogsource: {product: linux, category: file_event}\n"
        "detection: {sel: {TargetFilename: /etc/x}, condition: sel}\n"
    )
    (tmp_path / "kw.yml").write_text(
        "title: Keywords\nlogsource: {product: linux, category: process_creation}\n"
        "detection: {keywords: [mimikatz], condition: keywords}\n"
    )
    (tmp_path / "broken.yml").write_text("title: [unclosed\n")
    got = sigma.load(bundled=False, paths=[tmp_path])
    assert got.rules == []
    text = "\n".join(got.unmapped)
    assert "only linux is observed" in text
    assert "'file_event' is not one edgewatch observes" in text
    assert "keyword searches" in text
    assert "broken.yml: not a valid Sigma rule" in text


def test_sigma_matching_is_case_insensitive_with_wildcards(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "title: Wild\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n  sel:\n    CommandLine: '*KSWAP?0*'\n  condition: sel\nlevel: high\n"
    )
    got = sigma.load(bundled=False, paths=[tmp_path])
    eng = Engine(got.specs)
    hits = run(eng, [exec_ev(["/dev/shm/kswapd0", "-o", "x"]), exec_ev(["kswapd", "-o"], pod="b")])
    assert [a.pod for a in hits] == ["web-64xdnxkr7f-6dn7h"]


def test_network_rule_in_stream(loaded: sigma.Loaded) -> None:
    (rule,) = [
        r for r in loaded.rules if r.spec.name == "sigma_outbound_connection_to_mining_pool_ports"
    ]
    eng = Engine([rule.spec])
    assert len(run(eng, [tcp("141.94.96.71", 3333), tcp("10.1.2.3", 3333, pod="x")])) == 1


def _stream_matches(rule: sigma.SigmaRule, events: list) -> list[int]:
    eng = Engine([rule.spec])
    hits: list = []
    eng._scanners[rule.family](events, hits)
    return sorted(events[i].time_ns for _, i, _ in hits)


def test_converted_kql_on_the_store_matches_the_stream(
    tmp_path: Path, loaded: sigma.Loaded
) -> None:
    events = list(generate(25_000, seed=3, scenarios=["all"]))
    by_family = defaultdict(list)
    for e in events:
        by_family[e.gadget_family].append(e)
    writer = StoreWriter(StoreSettings(path=tmp_path / "s.duckdb", max_bytes=None))
    for family, evs in by_family.items():
        writer.write(family, evs)
    writer.flush()
    writer.close()
    con = open_store(tmp_path / "s.duckdb", read_only=True)
    hunt.prepare(con)
    # every rule the simulated attacks trigger, plus one quiet rule per log source
    # (translating a query costs ~0.3 s, so not all of them)
    chosen: list = []
    quiet: set[str] = set()
    matched = 0
    for rule in loaded.rules:
        in_stream = _stream_matches(rule, by_family[rule.family])
        if in_stream and matched < 8:
            chosen.append((rule, in_stream))
            matched += 1
        elif not in_stream and rule.family not in quiet:
            chosen.append((rule, in_stream))
            quiet.add(rule.family)
    assert matched == 8 and {r.family for r, m in chosen if m} == {"exec", "tcp", "dns"}
    for rule, in_stream in chosen:
        result = hunt.execute(con, rule.kql() + "\n| project time_ns")
        in_store = sorted(result.table.column("time_ns").to_pylist())
        assert in_store == in_stream, rule.spec.name

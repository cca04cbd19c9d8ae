"""Threat intelligence: the three file formats, matching in the stream, reload on change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgewatch.detect.detectors import Context
from edgewatch.detect.intel import (
    IntelError,
    IntelSet,
    IntelStore,
    parse_csv,
    parse_list,
    parse_stix,
)
from tests.detect.helpers import answer, dns, engine_for, run, sni, tcp

BUNDLE = {
    "type": "bundle",
    "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "name": "C2 beacon host",
            "pattern": "[ipv4-addr:value = '51.75.64.23'] OR [domain-name:value = 'evil.example']",
            "pattern_type": "stix",
            "valid_from": "2025-01-01T00:00:00Z",
        },
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--0a1e0c7e-0c8b-4c0e-9a3b-1e6c7e2a4b11",
            "name": "bulletproof hoster",
            "pattern": "[ipv4-addr:value ISSUBSET '95.216.0.0/16']",
            "pattern_type": "stix",
            "valid_from": "2025-01-01T00:00:00Z",
        },
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--1b1e0c7e-0c8b-4c0e-9a3b-1e6c7e2a4b22",
            "name": "expired",
            "pattern": "[domain-name:value = 'old.example']",
            "pattern_type": "stix",
            "valid_from": "2020-01-01T00:00:00Z",
            "valid_until": "2021-01-01T00:00:00Z",
        },
        {"type": "malware", "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b", "name": "x"},
    ],
}


def test_stix_bundle_indicators() -> None:
    found = {(i.value, i.kind) for i in parse_stix(json.dumps(BUNDLE), "feed.json")}
    assert found == {
        ("51.75.64.23", "ip"),
        ("evil.example", "domain"),
        ("95.216.0.0/16", "cidr"),
    }


def test_bad_stix_pattern_names_the_indicator() -> None:
    bad = {**BUNDLE["objects"][0], "pattern": "[ipv4-addr:value = ]"}
    with pytest.raises(IntelError, match="indicator--8e2e2d2b"):
        parse_stix(json.dumps({"type": "bundle", "objects": [bad]}), "feed.json")


def test_csv_and_list_formats() -> None:
    csv_text = "indicator,type,description\n5.161.73.144,ip,payload host\nhttps://bad.example/x,url,dropper\n"
    got = parse_csv(csv_text, "iocs.csv")
    assert [(i.value, i.description) for i in got] == [
        ("5.161.73.144", "payload host"),
        ("bad.example", "dropper"),
    ]
    assert [i.kind for i in parse_list("# comment\n10.9.0.0/16\nfoo.example.\n\n", "l.txt")] == [
        "cidr",
        "domain",
    ]
    with pytest.raises(IntelError, match=r"l\.txt:2"):
        parse_list("1.2.3.4\nnot an indicator\n", "l.txt")
    with pytest.raises(IntelError, match="no indicator column"):
        parse_csv("foo,bar\n1,2\n", "x.csv")


def test_matching_ips_networks_and_parent_domains() -> None:
    s = IntelSet(parse_list("51.75.64.23\n95.216.0.0/16\nevil.example\n2001:db8::/32\n", "l"))
    assert s.match_ip("51.75.64.23") is not None
    assert s.match_ip("95.216.37.118") is not None
    assert s.match_ip("95.217.0.1") is None
    assert s.match_ip("2001:db8::1") is not None
    assert s.match_ip("::ffff:95.216.1.1") is not None
    assert s.match_domain("a.b.evil.example.") is not None
    assert s.match_domain("notevil.example") is None
    assert s.match_ip("not-an-ip") is None


@given(st.ip_addresses(v=4))
def test_cidr_match_agrees_with_ipaddress(ip) -> None:  # type: ignore[no-untyped-def]
    import ipaddress

    nets = ["10.0.0.0/8", "95.216.0.0/16", "203.0.113.128/25"]
    s = IntelSet(parse_list("\n".join(nets), "l"))
    expected = any(ip in ipaddress.ip_network(n) for n in nets)
    assert (s.match_ip(str(ip)) is not None) == expected


def test_rules_match_connections_dns_and_sni(tmp_path: Path) -> None:
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps(BUNDLE))
    ctx = Context(intel=IntelStore([feed]))
    eng = engine_for("intel_connection", "intel_dns", "intel_sni", ctx=ctx)
    events = [
        tcp("51.75.64.23", 443),
        dns("cdn.evil.example.", pod="a"),
        answer("innocent.example.", ["95.216.1.2"], pod="b"),
        sni("evil.example", pod="c"),
        tcp("140.82.121.6", 443, pod="d"),
        dns("api.github.com.", pod="e"),
    ]
    assert sorted(a.rule for a in run(eng, events)) == [
        "intel_connection",
        "intel_dns",
        "intel_dns",
        "intel_sni",
    ]


def test_reload_on_change_without_restart(tmp_path: Path) -> None:
    feed = tmp_path / "iocs.txt"
    feed.write_text("51.75.64.23\n")
    store = IntelStore([tmp_path], poll_s=0.0)
    assert store.match_ip("51.75.64.23") and not store.match_ip("5.161.73.144")
    feed.write_text("5.161.73.144\n")
    os.utime(feed, (1, 1))  # a new mtime even on coarse-clock filesystems
    assert store.maybe_reload()
    assert store.match_ip("5.161.73.144") and not store.match_ip("51.75.64.23")
    assert not store.maybe_reload()  # unchanged: nothing to do
    # a broken update keeps the previous indicators and is counted
    feed.write_text("5.161.73.144\nthis is not an indicator\n")
    os.utime(feed, (2, 2))
    assert store.maybe_reload()
    assert store.match_ip("5.161.73.144") and store.errors == 1
    # a new file in the directory is picked up
    (tmp_path / "more.txt").write_text("evil.example\n")
    feed.write_text("5.161.73.144\n")
    os.utime(feed, (3, 3))
    assert store.maybe_reload()
    assert store.match_domain("x.evil.example") is not None


def test_missing_file_is_an_error_at_start(tmp_path: Path) -> None:
    with pytest.raises(IntelError, match="no such indicator file"):
        IntelStore([tmp_path / "nope.csv"])

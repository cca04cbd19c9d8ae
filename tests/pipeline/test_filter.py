"""Filters: who (namespace/pod/container/image/labels/gadget) and what (the seed's noise)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from edgewatch.config import FiltersConfig, parse_config
from edgewatch.decode.decoder import LineDecoder
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.filter import FilterStage, pushdown_selectors
from edgewatch.pipeline.stats import Stats
from edgewatch.sources.ig.selectors import Selectors
from tests.conftest import all_ig_lines, ig_lines

LINES = [line for _, line in all_ig_lines()]


def run_filter(
    yaml_filters: str, lines: list[bytes] = LINES, views: bool = False
) -> tuple[list, Stats]:
    cfg = parse_config(yaml_filters).filters
    stats = Stats()
    stage = FilterStage(cfg, stats)
    dec = LineDecoder(columns=stage.columns if views else None, views=views)
    result = dec.decode(lines)
    kept = stage.process(EventBatch(result.events, result.raws))
    if views:
        # views carry only the columns the filter reads; look at what was kept in full
        return LineDecoder().decode(kept.raws).events, stats
    return kept.events, stats


def dropped(stats: Stats) -> Counter[str]:
    out: Counter[str] = Counter()
    for (reason, _), n in stats.dropped.items():
        out[reason] += n
    return out


@pytest.mark.parametrize("views", [False, True])
def test_include_namespace_glob_and_exclude_pod(views: bool) -> None:
    kept, stats = run_filter(
        "filters:\n  host_events: false\n  include: {namespaces: ['sh*']}\n"
        "  exclude: {pods: ['web-*']}\n",
        views=views,
    )
    assert kept and all(e.namespace == "shop" and not e.pod.startswith("web-") for e in kept)
    assert dropped(stats)["filter:namespace"] == sum(
        1
        for _, line in all_ig_lines()
        if b'"namespace":"kube-system"' in line or b'"namespace":"oomkill-demo"' in line
    )
    assert dropped(stats)["filter:pod"] > 0
    assert len(kept) + sum(stats.dropped.values()) == len(LINES)


@pytest.mark.parametrize("views", [False, True])
def test_labels_images_containers_gadgets(views: bool) -> None:
    kept, _ = run_filter(
        "filters:\n  host_events: false\n  include: {labels: {app: api}}\n", views=views
    )
    assert kept and {e.pod for e in kept} == {"api-5c8f9d7b4-q7lmn"}
    kept, _ = run_filter("filters:\n  exclude: {images: ['docker.io/library/*']}\n", views=views)
    assert all(not e.image.startswith("docker.io/library/") for e in kept)
    kept, _ = run_filter(
        "filters:\n  include: {containers: [api], gadgets: [trace_dns, tcp]}\n", views=views
    )
    assert {e.gadget_family for e in kept} == {"dns", "tcp"}
    # the kubelet host event has no container and is kept by host_events
    assert {e.container for e in kept} == {"api", ""}
    kept, stats = run_filter("filters:\n  exclude: {gadgets: [audit_seccomp]}\n", views=views)
    assert "seccomp" not in {e.gadget_family for e in kept}
    assert dropped(stats) == {"filter:gadget": 3}


def test_host_events_are_governed_by_host_events_alone() -> None:
    host = [ig_lines("trace_tcp")[4]]  # kubelet on ::1, no pod
    kept, _ = run_filter("filters:\n  include: {namespaces: [shop]}\n", host)
    assert len(kept) == 1
    kept, stats = run_filter("filters:\n  host_events: false\n", host)
    assert kept == [] and dropped(stats) == {"filter:host_event": 1}


@pytest.mark.parametrize("views", [False, True])
def test_the_seeds_noise_rules(views: bool) -> None:
    config = """
filters:
  noise:
    loopback: true
    cluster_local_dns: true
    processes: [coredns]
"""
    kept, stats = run_filter(config, views=views)
    names = [e.name for e in kept if e.gadget_family == "dns"]
    assert not any(n.endswith(".cluster.local.") for n in names)
    assert "no-such-host.example.com." in names
    assert not any(e.comm == "coredns" for e in kept)
    assert not any(e.gadget_family == "tcp" and e.dst_addr in ("127.0.0.1", "::1") for e in kept)
    counts = dropped(stats)
    assert counts["noise:cluster_local_dns"] == 2
    assert counts["noise:loopback"] == 1
    assert counts["noise:process"] == 2  # coredns' upstream query and its bind


def test_keep_only_public_destinations() -> None:
    public = json.loads(ig_lines("trace_tcp")[0])
    public["dst"]["addr"] = "52.96.1.10"
    lines = [*ig_lines("trace_tcp"), json.dumps(public).encode()]
    kept, stats = run_filter("filters:\n  noise: {destinations: public}\n", lines)
    assert [e.dst_addr for e in kept] == ["52.96.1.10"]
    assert dropped(stats) == {"noise:destination": 5}
    kept, _ = run_filter("filters:\n  noise: {destinations: private}\n", lines)
    assert "52.96.1.10" not in [e.dst_addr for e in kept]


def test_inactive_filter_passes_everything_untouched() -> None:
    stage = FilterStage(FiltersConfig(), Stats())
    assert not stage.active
    events = LineDecoder().decode(LINES).events
    batch = EventBatch(events, LINES)
    assert stage.process(batch) is batch


def test_verdicts_follow_relabelled_pods_after_the_cache_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import edgewatch.pipeline.filter as filt
    from edgewatch.decode import plan

    stage = FilterStage(
        parse_config("filters:\n  exclude: {labels: {quarantine: 'yes'}}\n").filters, Stats()
    )
    line = ig_lines("trace_tcp")[0]
    relabelled = line.replace(b'"podLabels":"app=api,', b'"podLabels":"quarantine=yes,app=api,')
    events = LineDecoder().decode([line]).events
    assert len(stage.process(EventBatch(events, [line]))) == 1
    # both caches of "this container's identity" expire: the decoder's and the filter's
    monkeypatch.setattr(filt, "IDENTITY_TTL", -1.0)
    monkeypatch.setattr(plan, "CONTEXT_TTL", -1.0)
    events = LineDecoder().decode([relabelled]).events
    assert len(stage.process(EventBatch(events, [relabelled]))) == 0


def test_pushdown_takes_only_what_ig_can_express_exactly() -> None:
    cfg = parse_config(
        "filters:\n  host_events: false\n  include: {namespaces: [shop, payments], pods: ['api-*'],"
        " labels: {app: web, tier: 'f*'}}\n  exclude: {namespaces: [kube-system, 'tmp-*']}\n"
    ).filters
    assert pushdown_selectors(cfg.include, cfg.exclude, host_events=False) == Selectors(
        namespaces=("shop", "payments"),
        exclude_namespaces=("kube-system",),
        labels=(("app", "web"),),
    )
    # when host processes are wanted, include rules must stay in edgewatch
    assert pushdown_selectors(cfg.include, cfg.exclude, host_events=True).namespaces == ()
    no = parse_config("filters:\n  pushdown: false\n  include: {namespaces: [a]}\n").filters
    assert FilterStage(no, Stats()).selectors(traces_host=False).is_empty()


@pytest.mark.parametrize("views", [False, True])
def test_loopback_resolver_before_ig_041_which_did_not_name_it(views: bool) -> None:
    query = json.loads(ig_lines("trace_dns")[0])
    del query["nameserver"]
    query["dst"]["addr"] = "127.0.0.53"  # a node-local resolver
    response = json.loads(ig_lines("trace_dns")[1])
    del response["nameserver"]
    lines = [json.dumps(query).encode(), json.dumps(response).encode()]
    kept, stats = run_filter("filters:\n  noise: {loopback: true}\n", lines, views=views)
    assert [e.qr for e in kept] == ["R"]  # the response came from 10.0.0.10
    assert dropped(stats) == {"noise:loopback": 1}

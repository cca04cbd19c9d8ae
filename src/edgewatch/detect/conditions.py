"""Rule conditions: a small YAML language compiled once into Python expressions.

A condition is a mapping; its entries must all hold. An entry is either a combinator
(``all: [...]``, ``any: [...]``, ``not: {...}``) or a field test::

    comm: bash                       # equal
    comm: [sh, bash, dash]           # one of
    dst_port: {in: [3333, 5555], ne: 0}
    exepath: {startswith: [/tmp/, /dev/shm/]}
    longest_label(name): {gt: 50}    # a derived value (see FUNCTIONS)

Operators: ``eq ne in not_in startswith endswith contains regex gt ge lt le cidr public
glob``. On a list column (``args``, ``addresses``) an operator holds if it holds for
any element. Field names are checked against the gadgets' event columns when the rule
loads, so a typo is an error naming the rule, not a rule that never fires.

The compiled form is Python source over local variables (``v_comm``), which the engine
splices into one generated loop per gadget family: each column a rule reads is read
from the event once, whatever the number of rules that test it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from edgewatch.net import classify


class ConditionError(ValueError):
    """A condition that cannot be compiled; the message names the offending part."""


# -- derived values ---------------------------------------------------------------------


def _labels(name: str) -> list[str]:
    return [p for p in name.rstrip(".").split(".") if p]


@lru_cache(maxsize=65536)
def longest_label(name: str) -> int:
    """Length of the longest DNS label: tunnels pack data into 40-63 character labels."""
    return max((len(p) for p in _labels(name)), default=0)


@lru_cache(maxsize=65536)
def label_entropy(name: str) -> float:
    """Shannon entropy (bits/char) of the longest label; encoded data scores > 3.8."""
    labels = _labels(name)
    if not labels:
        return 0.0
    label = max(labels, key=len)
    if len(label) < 8:
        return 0.0
    counts = Counter(label)
    n = len(label)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


@lru_cache(maxsize=65536)
def label_count(name: str) -> int:
    return len(_labels(name))


@lru_cache(maxsize=65536)
def registered_domain(name: str) -> str:
    """The last two labels (``example.com``): what a burst of subdomains is counted under.

    Without the public-suffix list this is approximate for ``co.uk``-style suffixes; for
    counting distinct subdomains under one zone that only makes groups coarser.
    """
    labels = _labels(name.lower())
    return ".".join(labels[-2:])


_VOWELS = frozenset("aeiou")


@lru_cache(maxsize=65536)
def dga_score(name: str) -> float:
    """A cheap DGA likeness of the leftmost label of the registered domain, 0..1.

    Algorithmically generated names are long runs of consonants and digits with high
    entropy; real brand names are pronounceable. Score = share of characters that are
    consonants in a run of four or more, plus digits mixed into letters.
    """
    labels = _labels(name.lower())
    if len(labels) < 2:
        return 0.0
    word = labels[-2]
    if len(word) < 10:
        return 0.0
    run = hard = 0
    for ch in word:
        if ch.isalpha() and ch not in _VOWELS:
            run += 1
            if run >= 4:
                hard += 1 if run > 4 else 4
        else:
            run = 0
    digits = sum(ch.isdigit() for ch in word)
    mixed = digits if 0 < digits < len(word) else 0
    return min(1.0, (hard + mixed) / len(word))


@lru_cache(maxsize=65536)
def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def first(values: list[str]) -> str:
    return values[0] if values else ""


def second(values: list[str]) -> str:
    """argv[1]: the script an interpreter runs (``bash /tmp/k.sh``)."""
    return values[1] if len(values) > 1 else ""


@lru_cache(maxsize=65536)
def is_public(addr: str) -> bool:
    return classify(addr) == "public"


#: Derived values a condition may test as ``fn(column)``.
FUNCTIONS: Mapping[str, Callable[[Any], Any]] = {
    "longest_label": longest_label,
    "label_entropy": label_entropy,
    "label_count": label_count,
    "registered_domain": registered_domain,
    "dga_score": dga_score,
    "basename": basename,
    "first": first,
    "second": second,
    "lower": lambda s: s.lower(),
}


@lru_cache(maxsize=65536)
def _in_networks(addr: str, nets: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in nets)


# -- compilation ------------------------------------------------------------------------

_FIELD_CALL = re.compile(r"^([a-z_]+)\(([a-z_]+)\)$")
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")
OPERATORS = frozenset(
    {"eq", "ne", "in", "not_in", "startswith", "endswith", "contains", "regex", "gt", "ge"}
    | {"lt", "le", "cidr", "public", "glob"}
)


@dataclass
class Compiled:
    """A condition as Python source plus the constants and columns it refers to."""

    source: str
    constants: dict[str, Any] = field(default_factory=dict)
    columns: set[str] = field(default_factory=set)
    #: column -> value the condition requires at its top level (``type: connect``): the
    #: engine can skip every event without it before reading anything else
    requires: dict[str, Any] = field(default_factory=dict)


class Compiler:
    """Compiles conditions of one rule; ``prefix`` keeps constant names unique per rule."""

    def __init__(self, prefix: str, column_types: Mapping[str, Any]) -> None:
        self.prefix = prefix
        self.types = column_types
        self.out = Compiled("True")
        self._n = 0

    def const(self, value: Any) -> str:
        name = f"{self.prefix}_{self._n}"
        self._n += 1
        self.out.constants[name] = value
        return name

    def compile(self, cond: Any) -> Compiled:
        self.out.source = self._node(cond, "condition")
        if isinstance(cond, Mapping):
            for key, value in cond.items():
                if (
                    _FIELD.match(str(key))
                    and key not in ("all", "any", "not")
                    and isinstance(value, str | int)
                    and getattr(self.types.get(key), "__origin__", None) is not list
                ):
                    self.out.requires[str(key)] = value
        return self.out

    # -- nodes ---------------------------------------------------------------------

    def _node(self, cond: Any, where: str) -> str:
        if not isinstance(cond, Mapping) or not cond:
            raise ConditionError(f"{where}: expected a non-empty mapping, got {cond!r}")
        parts = [self._entry(str(k), v, f"{where}.{k}") for k, v in cond.items()]
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"

    def _entry(self, key: str, value: Any, where: str) -> str:
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{where}: expected a non-empty list of conditions")
            joiner = " and " if key == "all" else " or "
            return (
                "(" + joiner.join(self._node(v, f"{where}[{i}]") for i, v in enumerate(value)) + ")"
            )
        if key == "not":
            return f"(not {self._node(value, where)})"
        return self._field_test(key, value, where)

    def _field_test(self, key: str, value: Any, where: str) -> str:
        call = _FIELD_CALL.match(key)
        if call:
            fn, column = call.groups()
            if fn not in FUNCTIONS:
                raise ConditionError(
                    f"{where}: unknown function {fn!r}; known: {', '.join(sorted(FUNCTIONS))}"
                )
        elif _FIELD.match(key):
            fn, column = None, key
        else:
            raise ConditionError(f"{where}: {key!r} is not a column name or fn(column)")
        if column not in self.types:
            raise ConditionError(
                f"{where}: no column {column!r} in this rule's gadgets"
                f" (known: {', '.join(sorted(self.types))})"
            )
        self.out.columns.add(column)
        var = f"v_{column}"
        is_list = getattr(self.types[column], "__origin__", None) is list and fn is None
        if fn is not None:
            var = f"_fn_{fn}({var})"
            self.out.constants[f"_fn_{fn}"] = FUNCTIONS[fn]
        ops = (
            value
            if isinstance(value, Mapping)
            else {"in" if isinstance(value, list) else "eq": value}
        )
        if not ops:
            raise ConditionError(f"{where}: no operator given")
        tests = []
        for op, arg in ops.items():
            if op not in OPERATORS:
                raise ConditionError(
                    f"{where}: unknown operator {op!r}; known: {', '.join(sorted(OPERATORS))}"
                )
            target = "_x" if is_list else var
            test = self._op(op, arg, target, f"{where}.{op}")
            tests.append(f"any({test} for _x in {var})" if is_list else test)
        return tests[0] if len(tests) == 1 else "(" + " and ".join(tests) + ")"

    def _op(self, op: str, arg: Any, var: str, where: str) -> str:
        if op == "eq":
            return f"({var} == {self.const(arg)})"
        if op == "ne":
            return f"({var} != {self.const(arg)})"
        if op in ("in", "not_in"):
            values = arg if isinstance(arg, list) else [arg]
            name = self.const(frozenset(values))
            return f"({var} {'in' if op == 'in' else 'not in'} {name})"
        if op in ("startswith", "endswith"):
            values = tuple(str(v) for v in (arg if isinstance(arg, list) else [arg]))
            return f"{var}.{op}({self.const(values)})"
        if op == "contains":
            values = [str(v) for v in (arg if isinstance(arg, list) else [arg])]
            if len(values) == 1:
                return f"({self.const(values[0])} in {var})"
            return f"any(_s in {var} for _s in {self.const(tuple(values))})"
        if op in ("regex", "glob"):
            patterns = arg if isinstance(arg, list) else [arg]
            try:
                if op == "glob":
                    rx = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
                else:
                    rx = re.compile("|".join(f"(?:{p})" for p in patterns))
            except re.error as exc:
                raise ConditionError(f"{where}: bad pattern: {exc}") from exc
            return f"({self.const(rx.search if op == 'regex' else rx.match)}({var}) is not None)"
        if op in ("gt", "ge", "lt", "le"):
            if not isinstance(arg, int | float) or isinstance(arg, bool):
                raise ConditionError(f"{where}: expected a number, got {arg!r}")
            sym = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
            return f"({var} {sym} {arg!r})"
        if op == "cidr":
            values = arg if isinstance(arg, list) else [arg]
            try:
                nets = tuple(ipaddress.ip_network(str(v), strict=False) for v in values)
            except ValueError as exc:
                raise ConditionError(f"{where}: {exc}") from exc
            self.out.constants["_in_networks"] = _in_networks
            return f"_in_networks({var}, {self.const(nets)})"
        if op == "public":
            self.out.constants["_is_public"] = is_public
            return f"({'' if arg else 'not '}_is_public({var}))"
        raise ConditionError(f"{where}: unknown operator {op!r}")  # pragma: no cover


def compile_condition(cond: Any, prefix: str, column_types: Mapping[str, Any]) -> Compiled:
    """Compile one condition (None: always true) against the given columns."""
    if cond is None:
        return Compiled("True")
    return Compiler(prefix, column_types).compile(cond)


def predicate(cond: Any, column_types: Mapping[str, Any]) -> Callable[[Any], bool]:
    """A stand-alone predicate over one event (tests, ``rules test``): same code path."""
    compiled = compile_condition(cond, "_c", column_types)
    reads = "".join(f"    v_{c} = e.{c}\n" for c in sorted(compiled.columns))
    src = f"def check(e):\n{reads}    return bool({compiled.source})\n"
    env: dict[str, Any] = dict(compiled.constants)
    exec(compile(src, "<edgewatch condition>", "exec"), env)
    return env["check"]  # type: ignore[no-any-return]

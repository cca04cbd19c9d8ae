"""The rule engine: rules compiled once into one generated scan loop per gadget family.

Per event the work is: read the columns the family's rules test (each once), evaluate
each rule's condition as inline Python, and — only for events that pass — call the
rule's stateful detector. Rules are indexed by family, so a DNS event never looks at an
exec rule. Hits (rare) then go through thresholds, deduplication and alert building,
which may cost what they like: that is where the full event is decoded (from IG's JSON
if the pipeline only decoded a view) and the evidence ids are computed.

The generated source is built from rule conditions (validated, constants passed by
reference, never spliced as text) and column names checked against the event types.
"""

from __future__ import annotations

import logging
import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress
from typing import Any

import msgspec

from edgewatch.decode.classify import layout_of_obj
from edgewatch.decode.generic import event_from_dict
from edgewatch.detect.alert import Alert, Deduplicator, alert_id
from edgewatch.detect.conditions import FUNCTIONS, ConditionError, compile_condition
from edgewatch.detect.detectors import DETECTORS, Context, Detector
from edgewatch.detect.model import RuleError, RuleSpec
from edgewatch.detect.state import WindowCounter
from edgewatch.events.base import Event
from edgewatch.events.registry import BY_FAMILY
from edgewatch.tables.schema import event_id

log = logging.getLogger("edgewatch.detect")

#: Columns every alert reads off the triggering event (who and when).
ALERT_COLUMNS = frozenset({"time_ns", "namespace", "pod", "comm"})
#: Evidence events remembered per threshold key, for the alert's evidence ids.
MAX_EVIDENCE = 5
#: Distinct condition keys remembered per family before the verdict cache starts over.
CACHE_LIMIT = 200_000


@dataclass
class CompiledRule:
    spec: RuleSpec
    index: int
    detector: Detector | None
    #: family -> (condition source, constants, columns, required column values)
    sources: dict[str, tuple[str, dict[str, Any], set[str], dict[str, Any]]]
    threshold: WindowCounter | None = None
    threshold_key: Callable[[Any], Any] | None = None
    distinct: Callable[[Any], Any] | None = None
    entity_get: Callable[[Any], Any] = operator.attrgetter("namespace", "pod")
    #: threshold key -> recent evidence (event, raw), bounded
    evidence: dict[Any, list[tuple[Any, bytes]]] = field(default_factory=dict)
    hits: int = 0
    alerts: int = 0
    suppress_ns: int = 0


def _value_getter(expr: str, rule: str) -> tuple[Callable[[Any], Any], str]:
    """``column`` or ``fn(column)`` -> a getter over an event, and the column read."""
    if "(" in expr:
        fn, _, rest = expr.partition("(")
        column = rest.rstrip(")")
        if fn not in FUNCTIONS:
            raise RuleError(f"rule {rule}: unknown function {fn!r}")
        f = FUNCTIONS[fn]
        get = operator.attrgetter(column)
        return (lambda e: f(get(e))), column
    return operator.attrgetter(expr), expr


class Engine:
    """Compiled rules plus the state they share; ``scan`` a batch, get alerts back."""

    def __init__(
        self,
        specs: Sequence[RuleSpec],
        ctx: Context | None = None,
        node: str = "",
    ) -> None:
        self.ctx = ctx or Context()
        self.node = node
        self.rules: list[CompiledRule] = []
        self.dedup = Deduplicator()
        self.hits: Counter[str] = Counter()
        self.alerts_raised: Counter[str] = Counter()
        self._extra_columns: set[str] = set()
        #: family -> times its verdict cache was full and started over
        self.cache_clears: Counter[str] = Counter()
        #: rules whose detector has nothing configured (no egress policy, no intel)
        self.inactive: list[str] = []
        by_family: dict[str, list[CompiledRule]] = defaultdict(list)
        for spec in specs:
            if not spec.enabled:
                continue
            rule = self._compile(spec, len(self.rules))
            if rule.detector is not None and not rule.detector.active():
                self.inactive.append(spec.name)
                continue
            self.rules.append(rule)
            for family in rule.sources:
                by_family[family].append(rule)
        self._scanners: dict[str, Callable[[list[Any], list[Any]], None]] = {}
        self._columns: set[str] = set(ALERT_COLUMNS)
        for family, rules in by_family.items():
            self._scanners[family] = self._generate(family, rules)
        if any(r.detector is not None and r.detector.uses_dns for r in self.rules):
            self.ctx.needs_dns = True
            self._columns |= self.ctx.dns.columns
        self.families = frozenset(self._scanners)
        #: families a batch is split out for: those with rules, and DNS for the memory
        self._wanted = self.families | ({"dns"} if self.ctx.needs_dns else set())

    # -- compilation ----------------------------------------------------------------

    def _compile(self, spec: RuleSpec, index: int) -> CompiledRule:
        detector = None
        if spec.detector is not None:
            cls = DETECTORS.get(spec.detector)
            if cls is None:
                raise RuleError(
                    f"rule {spec.name}: unknown detector {spec.detector!r}; "
                    f"known: {', '.join(sorted(DETECTORS))}"
                )
            detector = cls(spec.params, self.ctx)
        sources = {}
        sigma_cond = None
        if spec.origin == "sigma" and spec.condition is None:
            from edgewatch.detect.sigma import compiled_condition

            sigma_cond = compiled_condition(spec.name)
            if sigma_cond is None:
                raise RuleError(f"rule {spec.name}: Sigma rule was not loaded through detect.sigma")
        for family in spec.families:
            types = spec.column_types(family)
            if sigma_cond is not None:
                sources[family] = (
                    sigma_cond.source,
                    sigma_cond.constants,
                    set(sigma_cond.columns),
                    {},
                )
                continue
            try:
                compiled = compile_condition(spec.condition, f"_r{index}", types)
            except ConditionError as exc:
                raise RuleError(f"rule {spec.name} ({family}): {exc}") from None
            cols = set(compiled.columns)
            if detector is not None:
                missing = detector.columns - set(types)
                if missing:
                    raise RuleError(
                        f"rule {spec.name}: detector {spec.detector} needs "
                        f"{', '.join(sorted(missing))}, which {family} events do not have"
                    )
            sources[family] = (compiled.source, compiled.constants, cols, compiled.requires)
        rule = CompiledRule(spec, index, detector, sources, suppress_ns=spec.suppress.window_ns)
        for col in spec.entity:
            if not all(col in spec.column_types(f) for f in spec.families):
                raise RuleError(f"rule {spec.name}: entity column {col!r} is not in every gadget")
        rule.entity_get = operator.attrgetter(*spec.entity)
        if spec.threshold is not None:
            th = spec.threshold
            rule.threshold = WindowCounter(f"threshold_{spec.name}", th.count, th.window_ns)
            getters = []
            for expr in th.by or spec.entity:
                get, col = _value_getter(expr, spec.name)
                getters.append(get)
                self._extra_columns.add(col)
            rule.threshold_key = lambda e, _g=tuple(getters): tuple(g(e) for g in _g)
            if th.distinct:
                rule.distinct, col = _value_getter(th.distinct, spec.name)
                self._extra_columns.add(col)
        return rule

    def _generate(self, family: str, rules: list[CompiledRule]) -> Callable[..., None]:
        """One scan function per family.

        Conditions are pure functions of the columns they read, so the family's verdict
        (which rules' conditions hold) is computed once per distinct tuple of those
        values and cached: per event the scan reads the key in one C call and looks it
        up. Only events whose verdict names a rule cost Python work (a detector call, a
        hit). The cache is bounded (cleared when full, counted).
        """
        env: dict[str, Any] = {}
        columns: set[str] = set()
        body: list[str] = []
        for rule in rules:
            src, consts, cols, _ = rule.sources[family]
            env.update(consts)
            columns |= cols
            check = None if rule.detector is None else rule.detector.check
            r = f"_hit{rule.index}"
            env[r] = (rule.index, check)
            body.append(f"    if {src}: out.append({r})")
        for rule in rules:
            if rule.detector is not None:
                self._columns |= rule.detector.columns
            self._columns |= set(rule.spec.entity)
        self._columns |= columns | self._extra_columns
        cols = sorted(columns)
        if len(cols) == 1:
            unpack = [f"    v_{cols[0]} = key"]
        elif cols:
            unpack = [f"    {', '.join(f'v_{c}' for c in cols)} = key"]
        else:
            unpack = []
        src = "\n".join(
            ["def evaluate(key):", *unpack, "    out = []", *body, "    return tuple(out)"]
        )
        try:
            exec(compile(src + "\n", f"<edgewatch rules {family}>", "exec"), env)
        except SyntaxError as exc:  # pragma: no cover - conditions are generated, not typed
            raise RuleError(f"rules for {family} did not compile: {exc}") from exc
        evaluate = env["evaluate"]
        # a column value every rule of the family requires (TCP rules: type connect)
        common = dict(rules[0].sources[family][3])
        for rule in rules[1:]:
            req = rule.sources[family][3]
            common = {c: v for c, v in common.items() if c in req and req[c] == v}
        gate = next(iter(sorted(common.items())), None)
        gate_of: dict[type, Callable[[Any], Any]] = {}
        cache: dict[Any, tuple[Any, ...]] = {}
        generic_key = operator.attrgetter(*cols) if cols else None
        key_of: dict[type, Callable[[Any], Any]] = {}
        counters = self.cache_clears
        from edgewatch.events.base import event_columns

        col_types = event_columns(BY_FAMILY[family].event)
        listy = [
            i for i, c in enumerate(cols) if getattr(col_types.get(c), "__origin__", None) is list
        ]
        hashable: Callable[[Any], Any] | None = None
        if listy and len(cols) == 1:
            hashable = tuple
        elif listy:
            hashable = lambda k, _l=frozenset(listy): tuple(  # noqa: E731
                tuple(v) if j in _l else v for j, v in enumerate(k)
            )

        def scan(events: list[Any], hits: list[Any]) -> None:
            positions: list[int] | None = None
            if gate is not None:
                t = type(events[0])
                get_gate = gate_of.get(t)
                if get_gate is None:
                    path = getattr(t, "ew_paths", {}).get(gate[0], gate[0])
                    get_gate = gate_of[t] = operator.attrgetter(path)
                try:
                    gated = list(map(partial(operator.eq, gate[1]), map(get_gate, events)))
                except AttributeError:
                    gated = [getattr(e, gate[0]) == gate[1] for e in events]
                positions = list(compress(range(len(events)), gated))
                if not positions:
                    return
                if len(positions) < len(events):
                    events = list(compress(events, gated))
                else:
                    positions = None
            _scan(events, hits, positions)

        def _scan(events: list[Any], hits: list[Any], positions: list[int] | None) -> None:
            n = len(events)
            if generic_key is None:
                verdict = evaluate(())
                found: list[Any] = [verdict] * n
            else:
                t = type(events[0])
                getter = key_of.get(t)
                if getter is None:
                    # a decoded view reads nested struct fields directly, skipping properties
                    paths = getattr(t, "ew_paths", {})
                    getter = key_of[t] = operator.attrgetter(*(paths.get(c, c) for c in cols))
                try:
                    keys = list(map(getter, events))
                except AttributeError:  # a batch mixing event types of the family
                    keys = list(map(generic_key, events))
                if hashable is not None:
                    keys = list(map(hashable, keys))
                if len(cache) > CACHE_LIMIT:
                    cache.clear()
                    counters[family] += 1
                found = list(map(cache.get, keys))
                if None in found:
                    for i, f in enumerate(found):
                        if f is None:
                            k = keys[i]
                            got = cache.get(k)
                            if got is None:
                                got = cache[k] = evaluate(k)
                            found[i] = got
            for i in compress(range(n), found):
                at = i if positions is None else positions[i]
                for index, check in found[i]:
                    if check is None:
                        hits.append((index, at, None))
                    else:
                        d = check(events[i])
                        if d is not None:
                            hits.append((index, at, d))

        return scan

    @property
    def columns(self) -> frozenset[str]:
        """Every column the rules, detectors and alerts read (what the decoder must fill)."""
        return frozenset(self._columns)

    # -- running --------------------------------------------------------------------

    def scan(
        self, events: Sequence[Any], raws: Sequence[bytes], types: Sequence[type] | None = None
    ) -> list[Alert]:
        """Run every rule over one batch; alerts that survive thresholds and dedup."""
        if not events:
            return []
        ctx = self.ctx
        if not ctx.started_ns:
            ctx.started_ns = events[0].time_ns
        if ctx.intel is not None:
            ctx.intel.maybe_reload()
        types = types if types is not None else list(map(type, events))
        first = types[0]
        groups: list[tuple[str, list[int] | None, list[Any]]]
        if types.count(first) == len(types):
            groups = [(first.gadget_family, None, list(events))]  # type: ignore[attr-defined]
        else:
            # one group per event type (a family per layout), selected in C
            groups = []
            positions = range(len(types))
            for t in set(types):
                if t.gadget_family not in self._wanted:  # type: ignore[attr-defined]
                    continue
                mask = list(map(partial(operator.is_, t), types))
                groups.append(
                    (t.gadget_family, list(compress(positions, mask)), list(compress(events, mask)))  # type: ignore[attr-defined]
                )
        alerts: list[Alert] = []
        if ctx.needs_dns:  # answers first: a connection in the same batch may follow one
            for family, _, fam_events in groups:
                if family == "dns":
                    ctx.dns.observe(fam_events)
        for family, indices, fam_events in groups:
            scanner = self._scanners.get(family)
            if scanner is None:
                continue
            hits: list[tuple[int, int, str | None]] = []
            scanner(fam_events, hits)
            for rule_index, i, detail in hits:
                j = i if indices is None else indices[i]
                alert = self._on_hit(self.rules[rule_index], events[j], raws[j], family, detail)
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def _on_hit(
        self, rule: CompiledRule, e: Any, raw: bytes, family: str, detail: str | None
    ) -> Alert | None:
        spec = rule.spec
        rule.hits += 1
        self.hits[spec.name] += 1
        now = e.time_ns
        evidence: list[tuple[Any, bytes]] = [(e, raw)]
        count = 1
        first_ns = now
        if rule.threshold is not None:
            assert rule.threshold_key is not None
            key = rule.threshold_key(e)
            value = rule.distinct(e) if rule.distinct is not None else None
            if value is not None and rule.threshold.seen_recently(key, value, now):
                return None
        entity_values = rule.entity_get(e)
        if not isinstance(entity_values, tuple):
            entity_values = (entity_values,)
        entity = "/".join(str(v) for v in entity_values if v != "")
        if not entity:
            entity = f"host/{e.comm}"
        if rule.threshold is not None:
            if self.dedup.suppressing(spec.name, entity, now, rule.suppress_ns):
                return None  # alerted on lately: counting towards another would be wasted
            recent = rule.evidence.get(key)
            if recent is None:
                if len(rule.evidence) >= rule.threshold.max_keys:
                    rule.evidence.pop(next(iter(rule.evidence)))
                recent = rule.evidence[key] = []
            recent.append((e, raw))
            if len(recent) > 2 * MAX_EVIDENCE:
                del recent[:-MAX_EVIDENCE]
            if not rule.threshold.hit(key, now, value):
                return None
            del recent[:-MAX_EVIDENCE]
            evidence = list(recent)
            del rule.evidence[key]
            count = spec.threshold.count if spec.threshold else 1
            first_ns = evidence[0][0].time_ns
            if detail is None:
                what = (
                    f"distinct {spec.threshold.distinct}"
                    if spec.threshold and spec.threshold.distinct
                    else "events"
                )
                detail = f"{count} {what} within {spec.threshold.window if spec.threshold else ''}"
        if not self.dedup.admit(spec.name, entity, now, rule.suppress_ns):
            return None
        full = [self._full(ev, r, family) for ev, r in evidence]
        ids = [event_id(f, BY_FAMILY[family].gadget) for f in full]
        last = full[-1]
        rule.alerts += 1
        self.alerts_raised[spec.name] += 1
        return Alert(
            alert_id=alert_id(spec.name, entity, ids[0], first_ns),
            time_ns=now,
            rule=spec.name,
            title=spec.title,
            severity=spec.severity,
            tactic=spec.mitre.tactic,
            technique=spec.mitre.technique,
            technique_name=spec.mitre.technique_name,
            origin=spec.origin,
            detail=detail or spec.title,
            entity=entity,
            node=last.node,
            namespace=last.namespace,
            pod=last.pod,
            container=last.container,
            container_id=last.container_id,
            image=last.image,
            comm=last.comm,
            pid=last.pid,
            pcomm=last.pcomm,
            gadget=BY_FAMILY[family].gadget,
            evidence_ids=ids,
            event_count=count,
            first_ns=first_ns,
            last_ns=now,
        )

    def _full(self, e: Any, raw: bytes, family: str) -> Event:
        """The whole event: as it is, or decoded again from IG's JSON (views carry a subset)."""
        if isinstance(e, Event):
            full = e
        else:
            spec = BY_FAMILY[family]
            obj = msgspec.json.decode(raw)
            if isinstance(obj, dict) and isinstance(obj.get("data"), dict):
                obj = obj["data"]  # the logs operator's envelope
            full = event_from_dict(spec, layout_of_obj(spec, obj), obj)
        if not full.node and self.node:
            full = msgspec.structs.replace(full, node=self.node)
        return full

    def stats(self) -> dict[str, Any]:
        from edgewatch.detect.state import EVICTIONS

        return {
            "rules": len(self.rules),
            "hits": dict(self.hits),
            "alerts": dict(self.alerts_raised),
            "suppressed": dict(self.dedup.suppressed),
            "evictions": {f"{n}/{r}": c for (n, r), c in EVICTIONS.items()},
        }


def rule_names(specs: Iterable[RuleSpec]) -> list[str]:
    return [s.name for s in specs]

"""Wires the simulation together and streams its events.

``generate`` is the public entry point: a lazy iterator of normalized events whose
timestamps strictly increase. All randomness is seeded from ``seed``, so the same
arguments give the same events. Background activity does not depend on how many
events were asked for, so without scenarios a shorter run is a prefix of a longer
one, and the gadget selection only filters it (``events`` counts the events of the
selected gadgets). Scenarios start at fixed fractions of the requested count, so even
short demo runs contain them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from operator import itemgetter

from edgewatch.events import DEFAULT_GADGETS, GADGETS, Event, UnknownGadgetError, resolve
from edgewatch.simulate.clock import Scheduler
from edgewatch.simulate.cluster import build_cluster
from edgewatch.simulate.context import Sim
from edgewatch.simulate.dnsflow import Resolver
from edgewatch.simulate.factory import EventFactory
from edgewatch.simulate.ids import SimRandom
from edgewatch.simulate.netflow import Net
from edgewatch.simulate.scenarios import SCENARIOS, START_AT, inject
from edgewatch.simulate.traffic import Background

#: 2025-06-18T09:00:00Z, the morning of the reference examples.
DEFAULT_START_NS = 1_750_237_200_000_000_000
ALL_GADGETS: tuple[str, ...] = tuple(g.family for g in GADGETS)
#: Node addresses are 192.168.10.11+i and pod ranges 10.244.i.0/24.
MAX_NODES = 200


class SimulationError(ValueError):
    """Bad simulation arguments (unknown scenario or gadget, negative counts)."""


def _split(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def resolve_scenarios(names: Iterable[str]) -> tuple[str, ...]:
    """Expand ``all`` and comma lists, validate, keep catalog order: ``["all"]`` -> all four."""
    wanted = _split(names)
    if "all" in wanted:
        return SCENARIOS
    unknown = [n for n in wanted if n not in SCENARIOS]
    if unknown:
        raise SimulationError(
            f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)} or all"
        )
    return tuple(s for s in SCENARIOS if s in wanted)


def resolve_gadgets(names: Iterable[str]) -> frozenset[str]:
    """Gadget families from any IG spelling (``tcp``, ``trace_tcp``) or ``all``."""
    wanted = _split(names)
    if "all" in wanted:
        return frozenset(ALL_GADGETS)
    try:
        return frozenset(resolve(n).family for n in wanted)
    except UnknownGadgetError as exc:
        raise SimulationError(str(exc)) from exc


def generate_labeled(
    events: int,
    seed: int = 0,
    scenarios: Collection[str] = (),
    gadgets: Collection[str] = DEFAULT_GADGETS,
    start_ns: int = DEFAULT_START_NS,
    nodes: int = 3,
    node_names: bool = False,
) -> Iterator[tuple[str, Event]]:
    """Like :func:`generate`, with each event's ground truth: ``""`` or the scenario name."""
    if events < 0:
        raise SimulationError("events must be >= 0")
    if not 1 <= nodes <= MAX_NODES:
        raise SimulationError(f"nodes must be between 1 and {MAX_NODES}")
    if start_ns <= 0:
        raise SimulationError("start_ns must be a positive epoch time in nanoseconds")
    chosen = resolve_scenarios(scenarios)
    enabled = resolve_gadgets(gadgets)
    if not enabled:
        raise SimulationError("no gadgets selected")
    return _run(events, seed, chosen, enabled, start_ns, nodes, node_names)


def _run(
    events: int,
    seed: int,
    scenarios: tuple[str, ...],
    enabled: frozenset[str],
    start_ns: int,
    nodes: int,
    node_names: bool,
) -> Iterator[tuple[str, Event]]:
    if events == 0:
        return
    rng = SimRandom(seed)
    cluster = build_cluster(rng, nodes, start_ns)
    sched = Scheduler(start_ns)
    sim = Sim(rng, seed, cluster, EventFactory(enriched=node_names), sched, enabled)
    sim.dns = Resolver(sim)
    sim.net = Net(sim)
    background = Background(sim)
    background.install(start_ns)

    triggers = sorted((int(START_AT[name] * events), name) for name in scenarios)
    last = start_ns - 1
    for emitted, (scheduled, label, event) in enumerate(sched.run()):
        while triggers and emitted >= triggers[0][0]:
            inject(sim, triggers.pop(0)[1], scheduled)
        # Strictly increasing: two events in the same nanosecond are nudged apart.
        t = scheduled if scheduled > last else last + 1
        if event.time_ns != t:
            event.time_ns = t
        last = t
        yield label, event
        if emitted + 1 >= events:
            return


def generate(
    events: int,
    seed: int = 0,
    scenarios: Collection[str] = (),
    gadgets: Collection[str] = DEFAULT_GADGETS,
    start_ns: int = DEFAULT_START_NS,
    nodes: int = 3,
    node_names: bool = False,
) -> Iterator[Event]:
    """Stream ``events`` normalized IG events of a simulated edge cluster.

    ``scenarios``: any of :data:`SCENARIOS` or ``"all"`` (comma lists accepted).
    ``gadgets``: gadget families or IG names; default the five the seed deploys.
    ``start_ns``: wall-clock time of the first event (epoch ns, UTC).
    ``nodes``: cluster size. ``node_names``: fill ``k8s.node`` and ``k8s.owner`` as
    ``--enrich-with-k8s-apiserver`` would; plain ``ig`` leaves them empty (default).
    """
    labeled = generate_labeled(events, seed, scenarios, gadgets, start_ns, nodes, node_names)
    return map(itemgetter(1), labeled)

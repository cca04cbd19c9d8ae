"""The state every activity shares: randomness, cluster, event factory, clock, switches.

Background traffic and attack scenarios are written against this one object, so a
scenario can reuse exactly the DNS and TCP flows the background uses (and therefore
looks like real traffic), and the label it sets marks its events as ground truth.

Choosing gadgets filters the run, it does not change it: everything the simulation
decides comes from ``rng``, drawn the same way whichever gadgets are traced, and the
few values that only an optional gadget's events carry (an fd of trace_open, a kernel
stack id) come from that gadget's own ``aux`` generator. So the TCP events of a run
with every gadget are exactly the events of the same run with ``tcp`` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgewatch.events import BY_FAMILY, Event
from edgewatch.simulate.clock import Scheduler
from edgewatch.simulate.cluster import Cluster
from edgewatch.simulate.factory import EventFactory
from edgewatch.simulate.ids import SimRandom

if TYPE_CHECKING:
    from edgewatch.simulate.dnsflow import Resolver
    from edgewatch.simulate.netflow import Net

US = 1_000
MS = 1_000_000
S = 1_000_000_000


@dataclass(eq=False)
class Sim:
    rng: SimRandom
    seed: int
    cluster: Cluster
    factory: EventFactory
    sched: Scheduler
    enabled: frozenset[str]
    label: str = ""
    dns: Resolver = field(init=False)
    net: Net = field(init=False)
    _types: frozenset[type[Event]] = field(init=False)
    _push: Callable[[int, str, Event], None] = field(init=False)
    _aux: dict[str, SimRandom] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._types = frozenset(BY_FAMILY[f].event for f in self.enabled)
        self._push = self.sched.emit

    def on(self, family: str) -> bool:
        """Whether a gadget is traced, so activities can skip building events nobody sees.

        Code under ``if sim.on(...)`` must not draw from ``rng`` (use :meth:`aux`), or
        the gadget selection would change the rest of the run.
        """
        return family in self.enabled

    def emit(self, t: int, event: Event) -> None:
        """Schedule ``event`` at ``t`` unless its gadget is not traced."""
        if type(event) in self._types:
            self._push(t, self.label, event)

    @contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        """Mark every event emitted inside the block (scenario ground truth)."""
        previous, self.label = self.label, label
        try:
            yield
        finally:
            self.label = previous

    def aux(self, family: str) -> SimRandom:
        """The generator for values only ``family``'s events carry (see module doc)."""
        found = self._aux.get(family)
        if found is None:
            found = self._aux[family] = SimRandom(f"{self.seed}:{family}")
        return found

    def between(self, lo_ns: int, hi_ns: int) -> int:
        return self.rng.randint(lo_ns, hi_ns)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

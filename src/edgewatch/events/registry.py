"""The one list of gadget families. Adding a gadget = one module + one line here."""

from __future__ import annotations

from collections.abc import Iterable

from edgewatch.events import (
    bind,
    capabilities,
    dns,
    exec,
    oomkill,
    open,
    seccomp,
    signal,
    sni,
    tcp,
)
from edgewatch.events.base import Event, GadgetSpec

#: Ordered by how specific their markers are: inference tries them in this order, so a
#: gadget whose markers are a subset of another's (sni: ``name``) comes last.
GADGETS: tuple[GadgetSpec, ...] = (
    dns.SPEC,
    exec.SPEC,
    open.SPEC,
    signal.SPEC,
    capabilities.SPEC,
    seccomp.SPEC,
    oomkill.SPEC,
    bind.SPEC,
    tcp.SPEC,
    sni.SPEC,
)

#: The five gadgets the seed deploys; the default everywhere a gadget list is optional.
DEFAULT_GADGETS: tuple[str, ...] = ("tcp", "dns", "sni", "exec", "seccomp")

BY_FAMILY: dict[str, GadgetSpec] = {g.family: g for g in GADGETS}
_LOOKUP: dict[str, GadgetSpec] = {}
for _g in GADGETS:
    for _name in (_g.family, _g.gadget, _g.datasource, *_g.aliases):
        _LOOKUP[_name.lower()] = _g
# trace_oomkill's gadget.yaml names its datasource "events".
_LOOKUP.setdefault("events", oomkill.SPEC)

EVENT_TYPES: tuple[type[Event], ...] = tuple(g.event for g in GADGETS)
AnyEvent = (
    tcp.TcpEvent
    | dns.DnsEvent
    | sni.SniEvent
    | exec.ExecEvent
    | seccomp.SeccompEvent
    | open.OpenEvent
    | bind.BindEvent
    | signal.SignalEvent
    | capabilities.CapabilitiesEvent
    | oomkill.OomkillEvent
)


class UnknownGadgetError(ValueError):
    pass


def image_to_name(image: str) -> str:
    """``ghcr.io/inspektor-gadget/gadget/trace_dns:v0.51.0`` -> ``trace_dns``."""
    name = image.rsplit("/", 1)[-1]
    name = name.split("@", 1)[0]
    return name.split(":", 1)[0]


def lookup(name: str) -> GadgetSpec | None:
    """Find a gadget by family (``tcp``), IG name (``trace_tcp``), datasource or image ref."""
    if not name:
        return None
    key = name.strip().lower()
    found = _LOOKUP.get(key)
    if found is None:
        found = _LOOKUP.get(image_to_name(key))
    return found


def resolve(name: str) -> GadgetSpec:
    spec = lookup(name)
    if spec is None:
        known = ", ".join(sorted({g.gadget for g in GADGETS}))
        raise UnknownGadgetError(f"unknown gadget {name!r}; known gadgets: {known}")
    return spec


def resolve_many(names: Iterable[str]) -> list[GadgetSpec]:
    out: list[GadgetSpec] = []
    for n in names:
        spec = resolve(n)
        if spec not in out:
            out.append(spec)
    return out

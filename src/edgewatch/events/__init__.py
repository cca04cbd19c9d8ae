"""Normalized IG events: one type per gadget family, one module per gadget."""

from edgewatch.events.base import Event, GadgetSpec, Layout, Path
from edgewatch.events.bind import BindEvent
from edgewatch.events.capabilities import CapabilitiesEvent
from edgewatch.events.dns import DnsEvent
from edgewatch.events.exec import ExecEvent
from edgewatch.events.oomkill import OomkillEvent
from edgewatch.events.open import OpenEvent
from edgewatch.events.registry import (
    BY_FAMILY,
    DEFAULT_GADGETS,
    GADGETS,
    AnyEvent,
    UnknownGadgetError,
    lookup,
    resolve,
)
from edgewatch.events.seccomp import SeccompEvent
from edgewatch.events.signal import SignalEvent
from edgewatch.events.sni import SniEvent
from edgewatch.events.tcp import TcpEvent

__all__ = [
    "BY_FAMILY",
    "DEFAULT_GADGETS",
    "GADGETS",
    "AnyEvent",
    "BindEvent",
    "CapabilitiesEvent",
    "DnsEvent",
    "Event",
    "ExecEvent",
    "GadgetSpec",
    "Layout",
    "OomkillEvent",
    "OpenEvent",
    "Path",
    "SeccompEvent",
    "SignalEvent",
    "SniEvent",
    "TcpEvent",
    "UnknownGadgetError",
    "lookup",
    "resolve",
]

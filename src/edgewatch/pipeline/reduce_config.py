"""Config of the stages that make what leaves the node smaller and richer.

``reduce.enrich`` adds what a hunter would otherwise look up by hand (the DNS name behind
an address, what kind of address it is, the workload that owns a pod); ``reduce.aggregate``
folds repeated events into one summary per key and time window. Both are off unless
switched on, because both change what the sinks receive: enrichment adds fields, and
aggregation replaces events with summaries that carry ``EventCount``.

Kept out of ``config.py`` (which imports it) so the stages own their settings.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from edgewatch.cost.prices import PriceTable
from edgewatch.events.registry import lookup
from edgewatch.net import check_networks
from edgewatch.units import parse_duration

Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _families(names: list[str]) -> list[str]:
    out = []
    for name in names:
        spec = lookup(name)
        if spec is None:
            raise ValueError(f"unknown gadget {name!r}")
        out.append(spec.family)
    return out


class EnrichConfig(_Strict):
    """What the enrichment stage adds; each part can be switched off on its own."""

    enabled: bool = False
    #: attach ``dst_name`` to TCP connections and SNI events from the pod's DNS answers
    dns_names: bool = True
    #: how long a DNS answer explains later connections (IG does not print answer TTLs)
    dns_ttl: Duration = dt.timedelta(minutes=10)
    #: (pod, address) answers remembered at most; the oldest are evicted (and counted)
    dns_max_entries: int = Field(200_000, ge=1, le=10_000_000)
    #: ``dst_class``: public, private, cluster, loopback, link-local, multicast …
    ip_class: bool = True
    #: the cluster's pod and service CIDRs (``10.244.0.0/16``, ``10.0.0.0/16``, IPv6 too):
    #: addresses in them are classed ``cluster`` rather than ``private``
    cluster_cidrs: list[str] = []
    #: fill ``owner_kind``/``owner_name`` from the pod name where IG left them empty
    owner: bool = True
    #: give SNI events the address their process connected to just before
    sni_connections: bool = True

    @field_validator("cluster_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return check_networks(value, "a CIDR (e.g. 10.244.0.0/16)")


#: What a summary keeps as its key, per gadget family: everything the bundled hunts group
#: or filter by. Fields constant per container (node, image) or per pod (its address)
#: cost no reduction and keep those queries exact.
DEFAULT_KEYS: dict[str, list[str]] = {
    "tcp": [
        "node", "namespace", "pod", "container", "image", "comm", "pcomm", "type",
        "src_addr", "dst_addr", "dst_name", "service_port", "error",
    ],
    "dns": [
        "node", "namespace", "pod", "container", "image", "comm", "qr", "name", "qtype",
        "rcode", "addresses", "pkt_type", "src_addr", "dst_addr", "service_port",
        "nameserver",
    ],
    "sni": ["node", "namespace", "pod", "container", "image", "comm", "pcomm", "name"],
}  # fmt: skip

#: Fields whose distinct values a summary lists (bounded by ``max_distinct``).
DEFAULT_DISTINCT: dict[str, list[str]] = {
    "tcp": ["pid"],
    "dns": ["pid"],
    "sni": ["pid", "dst_addr"],
}


class AggregateConfig(_Strict):
    """Tumbling windows by event time; one summary per key and window."""

    enabled: bool = False
    window: Duration = dt.timedelta(seconds=60)
    #: gadgets folded into summaries; the others (exec, seccomp …) pass through unchanged
    gadgets: list[str] = ["tcp", "dns", "sni"]
    #: key fields per gadget (default: DEFAULT_KEYS)
    keys: dict[str, list[str]] = {}
    #: fields whose distinct values each summary lists (default: DEFAULT_DISTINCT)
    distinct: dict[str, list[str]] = {}
    #: values kept per distinct-value list; more are counted, not kept
    max_distinct: int = Field(16, ge=0, le=1000)
    #: keys held across open windows; at the limit the oldest window is flushed early
    max_keys: int = Field(50_000, ge=1, le=5_000_000)
    #: how long past its end (event time, or wall time for a quiet stream) a window waits
    #: for late events before it is emitted
    lateness: Duration = dt.timedelta(seconds=5)

    @field_validator("gadgets")
    @classmethod
    def _gadgets(cls, value: list[str]) -> list[str]:
        return _families(value)

    @field_validator("window")
    @classmethod
    def _window(cls, value: dt.timedelta) -> dt.timedelta:
        if value.total_seconds() < 1 or value.total_seconds() > 86_400:
            raise ValueError("window must be between 1s and 24h")
        return value

    @field_validator("keys", "distinct")
    @classmethod
    def _per_gadget(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from edgewatch.events.registry import BY_FAMILY

        out: dict[str, list[str]] = {}
        for name, fields in value.items():
            (family,) = _families([name])
            from edgewatch.pipeline.aggregate.keys import virtual_fields

            known = set(BY_FAMILY[family].event.__struct_fields__) | virtual_fields(family)
            unknown = [f for f in fields if f not in known]
            if unknown:
                raise ValueError(
                    f"{name}: unknown field(s) {', '.join(map(repr, unknown))}; known: "
                    + ", ".join(sorted(known))
                )
            out[family] = fields
        return out

    def keys_for(self, family: str) -> list[str]:
        return self.keys.get(family) or DEFAULT_KEYS.get(family) or ["namespace", "pod", "comm"]

    def distinct_for(self, family: str) -> list[str]:
        if family in self.distinct:
            return self.distinct[family]
        return DEFAULT_DISTINCT.get(family, ["pid"])


class ReduceConfig(_Strict):
    """``reduce:`` in the agent config."""

    enrich: EnrichConfig = EnrichConfig()
    aggregate: AggregateConfig = AggregateConfig()
    #: what ``edgewatch cost`` prices a GB at
    prices: PriceTable = PriceTable()

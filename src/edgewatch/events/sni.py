"""trace_sni: the server name of each TLS ClientHello (datasource ``sni``).

No endpoints: correlate with trace_tcp by pid and network namespace. ``name`` has no
trailing dot. ``proc`` comes from the socket enricher and may be empty.
"""

from __future__ import annotations

from typing import ClassVar

from edgewatch.events.base import Event, GadgetSpec, Path


class SniEvent(Event, tag="sni"):
    gadget_family: ClassVar[str] = "sni"

    netns_id: int = 0
    name: str = ""
    #: Filled by the enrichment stage: the remote address the same process connected to
    #: just before its ClientHello, and the name the pod's DNS answers gave that address
    #: (differing from ``name`` is what domain fronting looks like).
    dst_addr: str = ""
    dst_name: str = ""


SPEC = GadgetSpec(
    family="sni",
    gadget="trace_sni",
    datasource="sni",
    event=SniEvent,
    paths={"netns_id": Path("netns_id"), "name": Path("name")},
    markers=("name", "netns_id"),
    byte_markers=(b'"name":', b'"netns_id":'),
    first_key="k8s",
    description="TLS server names (SNI)",
)

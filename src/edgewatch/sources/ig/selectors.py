"""Exact Kubernetes selectors that can be pushed down into IG's in-kernel filtering.

edgewatch's own filters accept glob patterns; IG's ``--k8s-*`` flags take exact names.
The filter stage extracts the exact part of its configuration into :class:`Selectors`;
the supervisor turns what the running IG version supports into flags. edgewatch
always applies its own filters as well, so a selector IG cannot take is only a missed
optimization, never a missed filter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Selectors:
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    pods: tuple[str, ...] = ()
    exclude_pods: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    exclude_containers: tuple[str, ...] = ()
    #: ``key=value`` pairs that must all match (IG's ``--k8s-selector``).
    labels: tuple[tuple[str, str], ...] = ()

    def is_empty(self) -> bool:
        return not any(
            (
                self.namespaces,
                self.exclude_namespaces,
                self.pods,
                self.exclude_pods,
                self.containers,
                self.exclude_containers,
                self.labels,
            )
        )

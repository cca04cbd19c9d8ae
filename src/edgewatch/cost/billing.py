"""How many bytes Log Analytics bills for a record.

Log Analytics bills the size of what it *stores*: the string representation of every
column of the record, with a few standard columns excluded (``_ResourceId``,
``_SubscriptionId``, ``_ItemId``, ``_IsBillable``, ``_BilledSize``, ``Type``); a GB is
10^9 bytes (MicrosoftDocs ``azure-monitor/logs/cost-logs.md``). That is why billed size is
typically smaller than the JSON that was sent: no key names, no quotes.

The seed's path is IG's JSON on stdout, collected by Container Insights into
``ContainerLogV2``: one row per line, the line in ``LogMessage`` plus the columns that
describe the collecting container. :class:`ContainerLogRow` holds the sizes of those
other columns, so the bill of a line is ``len(line)`` plus a constant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

GB = 1_000_000_000

#: Columns every table has that are not part of the billed size.
EXCLUDED_COLUMNS = frozenset(
    {"_ResourceId", "_SubscriptionId", "_ItemId", "_IsBillable", "_BilledSize", "Type"}
)

_json = msgspec.json.Encoder()


def value_size(value: Any) -> int:
    """Bytes of one stored value as Log Analytics renders it (UTF-8)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 4 if value else 5
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float):
        return len(repr(value))
    return len(_json.encode(value))


def record_size(record: Mapping[str, Any]) -> int:
    """Billed bytes of one record (custom or ASIM table)."""
    return sum(value_size(v) for k, v in record.items() if k not in EXCLUDED_COLUMNS)


def records_size(records: Iterable[Mapping[str, Any]]) -> int:
    return sum(map(record_size, records))


@dataclass(frozen=True)
class ContainerLogRow:
    """The ``ContainerLogV2`` columns around ``LogMessage`` for one IG DaemonSet container.

    Defaults describe the seed's DaemonSet (``ig-tcp`` … in namespace ``gadget``) on an
    AKS-style node; ``KubernetesMetadata`` is empty unless Container Insights is told to
    collect it. Values only matter through their lengths.
    """

    time_generated: str = "2025-06-18T09:12:44.1234567Z"
    computer: str = "aks-nodepool1-12345678-vmss000000"
    container_id: str = "0" * 64
    container_name: str = "ig-tcp"
    pod_name: str = "ig-abcde"
    pod_namespace: str = "gadget"
    log_source: str = "stdout"
    log_level: str = "INFO"
    kubernetes_metadata: str = ""
    source_system: str = "Container"
    tenant_id: str = "00000000-0000-0000-0000-000000000000"

    @property
    def overhead(self) -> int:
        """Billed bytes of one row besides its ``LogMessage``."""
        return sum(
            value_size(v)
            for v in (
                self.time_generated,
                self.computer,
                self.container_id,
                self.container_name,
                self.pod_name,
                self.pod_namespace,
                self.log_source,
                self.log_level,
                self.kubernetes_metadata,
                self.source_system,
                self.tenant_id,
            )
        )


DEFAULT_ROW = ContainerLogRow()


def containerlog_size(line_bytes: int, lines: int, row: ContainerLogRow = DEFAULT_ROW) -> int:
    """Billed bytes of ``lines`` stdout lines totalling ``line_bytes`` (newlines excluded)."""
    return line_bytes + lines * row.overhead

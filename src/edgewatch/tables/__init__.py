"""How normalized events become Microsoft Sentinel rows: custom tables or ASIM tables.

``LAYOUTS["custom"]`` and ``LAYOUTS["asim"]`` (or :func:`make_layout` with configured
table names) answer, per gadget family, the table, the DCR stream the agent posts to, the
stream's columns, and turn a batch of events into records per stream.
"""

from edgewatch.tables.asim import AsimLayout
from edgewatch.tables.custom import CustomLayout
from edgewatch.tables.registry import FACTORIES, LAYOUTS, make_layout
from edgewatch.tables.schema import (
    COLUMN_TYPES,
    Column,
    ColumnType,
    StreamSpec,
    TableLayout,
    event_id,
)

__all__ = [
    "COLUMN_TYPES",
    "FACTORIES",
    "LAYOUTS",
    "AsimLayout",
    "Column",
    "ColumnType",
    "CustomLayout",
    "StreamSpec",
    "TableLayout",
    "event_id",
    "make_layout",
]

"""The table layouts by name, as the config and the deploy generator refer to them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from edgewatch.tables.asim import AsimLayout
from edgewatch.tables.custom import CustomLayout
from edgewatch.tables.schema import TableLayout

LayoutFactory = Callable[..., TableLayout]

#: Constructors by layout name; each takes ``table_names`` and ``families``.
FACTORIES: Mapping[str, LayoutFactory] = {
    "custom": CustomLayout,
    "asim": AsimLayout,
}

#: Each layout with the default table names, routing every registered gadget.
LAYOUTS: Mapping[str, TableLayout] = {name: factory() for name, factory in FACTORIES.items()}


def make_layout(
    name: str,
    table_names: Mapping[str, str] | None = None,
    families: Iterable[str] | None = None,
) -> TableLayout:
    """A layout by name, with configured custom table names and gadget families."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown table layout {name!r}; choose from {', '.join(FACTORIES)}")
    if table_names is None and families is None:
        return LAYOUTS[name]
    return factory(table_names=table_names, families=families)

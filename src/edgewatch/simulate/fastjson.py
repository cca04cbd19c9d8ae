"""Byte-identical to :func:`edgewatch.events.render.to_ig_json`, several times faster.

``to_ig_json`` rebuilds every nested block of every event key by key, which made
rendering the simulator's bottleneck. Here each gadget's layout is compiled once:

* the ``k8s``, ``runtime`` and ``proc`` blocks repeat for every event of a process, so
  they are encoded once and reused as ``msgspec.Raw`` bytes, keyed by the blocks'
  column values (blocks that ``render_extra`` writes into are never cached);
* everything else becomes one generated function that builds the object as a dict
  literal, with ``render_extra``'s values spliced in where its keys go.

The generated function relies on ``render_extra`` returning the same keys for every
event of a gadget; when it does not, that event takes the generic path, which is the
same algorithm as ``to_ig``. The column-to-path mapping comes from the same gadget
specs ``to_ig`` uses, and the tests compare both renderers on every generated event.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import msgspec

from edgewatch.events import BY_FAMILY, Event, Layout
from edgewatch.events.base import GadgetSpec
from edgewatch.events.convert import format_timestamp

_encoder = msgspec.json.Encoder(order="sorted")
_encode = _encoder.encode
_CACHE_LIMIT = 4096

Members = list[tuple[tuple[str, ...], str]]
#: A node of the output tree: ("attr", column) | ("extra", dotted key) | ("raw", index) | dict.
Tree = dict[str, Any]


def _set(obj: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    node = obj
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """An attrgetter that always returns a tuple (attrgetter of one name does not)."""
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return operator.attrgetter(*names)


class _Plan:
    """How to render one gadget family in one layout."""

    def __init__(self, spec: GadgetSpec, layout: Layout) -> None:
        self.layout = layout
        self.columns: Members = []
        groups: dict[str, Members] = {}
        for name, path in spec.column_paths().items():
            dotted = path.path(layout)
            if dotted is None:
                continue
            parts = tuple(dotted.split("."))
            self.columns.append((parts, name))
            if len(parts) > 1:
                groups.setdefault(parts[0], []).append((parts[1:], name))
        self.proc_parent = layout is Layout.CURRENT and spec.process_block == "proc"
        self.extra: Callable[[Event, Layout], Any] | None = spec.render_extra
        self.extra_keys: frozenset[str] = frozenset()
        if self.extra is not None:
            self.extra_keys = frozenset(self.extra(spec.event(), layout))
        extra_tops = {k.split(".", 1)[0] for k in self.extra_keys}
        self.cached = [(top, members) for top, members in groups.items() if top not in extra_tops]
        self.cache_get = _getter([n for _, members in self.cached for _, n in members])
        self.cache: dict[tuple[Any, ...], tuple[msgspec.Raw, ...]] = {}
        self.fast = self._compile()

    # -- cached blocks ----------------------------------------------------------------

    def _blocks(self, values: tuple[Any, ...]) -> tuple[msgspec.Raw, ...]:
        raws = []
        i = 0
        for top, members in self.cached:
            block: dict[str, Any] = {}
            for parts, _ in members:
                _set(block, parts, values[i])
                i += 1
            if top == "proc" and self.proc_parent:
                block.setdefault("parent", {})
            raws.append(msgspec.Raw(_encode(block)))
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()
        out = self.cache[values] = tuple(raws)
        return out

    # -- generic path (to_ig's algorithm) -----------------------------------------------

    def generic(self, event: Event) -> bytes:
        obj: dict[str, Any] = {}
        for parts, name in self.columns:
            _set(obj, parts, getattr(event, name))
        if self.proc_parent:
            obj.setdefault("proc", {}).setdefault("parent", {})
        if self.extra is not None:
            for dotted, value in self.extra(event, self.layout).items():
                _set(obj, tuple(dotted.split(".")), value)
        obj["timestamp"] = format_timestamp(event.time_ns)
        return _encode(obj)

    # -- compiled path --------------------------------------------------------------------

    def _tree(self) -> Tree | None:
        tree: Tree = {}
        cached_tops = {top for top, _ in self.cached}
        for index, (top, _) in enumerate(self.cached):
            tree[top] = ("raw", index)
        for parts, name in self.columns:
            if parts[0] in cached_tops:
                continue
            if not self._place(tree, parts, ("attr", name)):
                return None
        if self.proc_parent and "proc" not in tree:
            tree["proc"] = {"parent": {}}
        elif self.proc_parent and isinstance(tree["proc"], dict):
            tree["proc"].setdefault("parent", {})
        for dotted in sorted(self.extra_keys):
            parts = tuple(dotted.split("."))
            if parts[0] in cached_tops or not self._place(tree, parts, ("extra", dotted)):
                return None
        if "timestamp" in tree:
            return None
        return tree

    @staticmethod
    def _place(tree: Tree, parts: tuple[str, ...], leaf: tuple[str, Any]) -> bool:
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                return False  # a path through a leaf: leave it to the generic path
            node = child
        if isinstance(node.get(parts[-1]), dict):
            return False
        node[parts[-1]] = leaf
        return True

    def _literal(self, node: Tree) -> str:
        items = []
        for key, value in node.items():
            if isinstance(value, dict):
                code = self._literal(value)
            elif value[0] == "attr":
                if not value[1].isidentifier():
                    raise ValueError(value[1])
                code = f"ev.{value[1]}"
            elif value[0] == "extra":
                code = f"x[{value[1]!r}]"
            else:
                code = f"raws[{value[1]}]"
            items.append(f"{key!r}: {code}")
        return "{" + ", ".join(items) + "}"

    def _compile(self) -> Callable[[Event], bytes] | None:
        tree = self._tree()
        if tree is None:
            return None
        literal = self._literal(tree)[:-1] + ", 'timestamp': ts(ev.time_ns)}"
        lines = [
            "def render(ev):",
            "    values = cache_get(ev)",
            "    raws = cache.get(values)",
            "    if raws is None:",
            "        raws = blocks(values)",
        ]
        if self.extra is not None:
            lines += [
                "    x = extra(ev, layout)",
                "    if x.keys() != extra_keys:",
                "        return generic(ev)",
            ]
        lines.append(f"    return encode({literal})")
        namespace: dict[str, Any] = {
            "cache_get": self.cache_get,
            "cache": self.cache,
            "blocks": self._blocks,
            "extra": self.extra,
            "layout": self.layout,
            "extra_keys": self.extra_keys,
            "generic": self.generic,
            "ts": format_timestamp,
            "encode": _encode,
        }
        exec(
            compile("\n".join(lines), f"<edgewatch.simulate.fastjson {id(self):x}>", "exec"),
            namespace,
        )
        return namespace["render"]  # type: ignore[no-any-return]


class Renderer:
    """``Renderer(layout)(event)`` == ``to_ig_json(event, layout)``, with block caches."""

    def __init__(self, layout: Layout = Layout.CURRENT) -> None:
        self.layout = layout
        self._plans: dict[type[Event], Callable[[Event], bytes]] = {}

    def __call__(self, event: Event) -> bytes:
        render = self._plans.get(type(event))
        if render is None:
            render = self.function(type(event))
        return render(event)

    def function(self, event_type: type[Event]) -> Callable[[Event], bytes]:
        """The render function for one event type (hot loops look it up once per type)."""
        render = self._plans.get(event_type)
        if render is None:
            plan = _Plan(BY_FAMILY[event_type.gadget_family], self.layout)
            render = self._plans[event_type] = plan.fast or plan.generic
        return render

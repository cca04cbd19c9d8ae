"""Decode plans: typed msgspec readers generated from the gadgets' column paths.

The hot path is data, not objects. For each (gadget, layout, columns wanted) we build
once a tree of msgspec Structs that declares exactly the JSON keys those columns need;
msgspec parses a line in C and skips every other key. Two ways to hand the result on:

* **events** (``decode_line``): a function generated from the same paths reads the
  values out of the nested structs and calls the event constructor positionally, with
  the columns that were not wanted passed as constants. That is the only per-event
  Python work (about half the cost of ``operator.attrgetter`` over dotted paths).
* **views** (``decode_view``): the decoded struct itself, whose class carries one
  property per wanted column (``namespace`` reads ``k8s.namespace``). Nothing is built
  per event at all; a column costs something only when a stage reads it. Used when
  every stage and sink only *reads* a known set of columns — filter-and-forward.

The generated source is built only from the gadget modules' own column declarations
(identifiers checked, constants ``repr``-ed), never from input data.

Every plan requires ``timestamp_raw``, which IG prints on every event (a line without
it goes to the generic decoder, which falls back to the formatted ``timestamp``), and the layout's
process block (``proc``, or the flat ``comm``), so a line of the other layout fails and
is retried with the other plan instead of becoming a silently empty event. A *strict*
plan also requires the gadget's marker keys: lines whose gadget was only guessed must
prove it.
"""

from __future__ import annotations

import keyword
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Any

import msgspec

from edgewatch.events.base import COMMON_PATHS, Event, GadgetSpec, Layout

#: Cheap and wanted by every consumer (ordering, windows, retention): never projected away.
ALWAYS_DECODED = frozenset({"time_ns"})

#: The Kubernetes/runtime context of an event: IG's ``k8s`` and ``runtime`` blocks. They
#: are the same for every event of a container, so full events take them from a cache
#: keyed by container id instead of decoding (and later freeing) a dozen strings per
#: event. The columns are contiguous in every event type, right after ``time_ns``.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "node",
    "namespace",
    "pod",
    "container",
    "pod_labels",
    "owner_kind",
    "owner_name",
    "host_network",
    "container_id",
    "runtime_container",
    "image",
    "image_digest",
    "runtime",
    "container_pid",
    "container_started_at",
)

#: A container's labels can change while it runs; cached contexts are dropped this often.
CONTEXT_TTL = 30.0
_CONTEXT_LIMIT = 20_000
_context_caches: list[dict[str, tuple[Any, ...]]] = []
_context_cleared = [time.monotonic()]


def clear_context_caches() -> None:
    """Forget every cached context (tests that reuse container ids across contexts)."""
    for cache in _context_caches:
        cache.clear()


def expire_contexts(now: float | None = None) -> None:
    """Drop cached contexts older than CONTEXT_TTL (called by decoders once per batch)."""
    now = time.monotonic() if now is None else now
    if now - _context_cleared[0] < CONTEXT_TTL:
        return
    _context_cleared[0] = now
    clear_context_caches()


# msgspec raises UnicodeDecodeError, not DecodeError, for invalid UTF-8 inside a string.
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)


def _zero_of(decode_type: Any) -> Any:
    if decode_type is str:
        return ""
    if decode_type is bool:
        return False
    if decode_type is int:
        return 0
    args = getattr(decode_type, "__args__", ())
    if str in args:
        return ""
    if int in args:
        return 0
    return None


def _column_default(field: msgspec.structs.FieldInfo) -> str:
    """Source text for a column's default value (a constant, or a fresh empty list)."""
    if field.default is not msgspec.NODEFAULT:
        return repr(field.default)
    if field.default_factory is list:
        return "[]"
    raise TypeError(f"column {field.name} has no usable default")


@dataclass(frozen=True)
class DecodePlan:
    """A compiled reader for one gadget in one layout."""

    spec: GadgetSpec
    layout: Layout
    strict: bool
    columns: tuple[str, ...]
    struct: type[msgspec.Struct]
    #: line -> event (all wanted columns filled, node filled where IG left it empty)
    decode_line: Callable[[bytes], Event]
    #: line -> view (the decoded struct; wanted columns are properties)
    decode_view: Callable[[bytes], Any]
    source: str


class _Node:
    """One JSON object level of the decode tree."""

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.leaves: dict[str, Any] = {}  # key -> decode type
        self.attrs: dict[str, str] = {}  # key -> struct attribute name
        self._taken: set[str] = set()

    def attr(self, key: str, prefer: str | None = None) -> str:
        """The struct attribute for a JSON key: ``j_<key>`` unless the caller asks for
        the key itself (a top-level column with the same name and meaning)."""
        if key not in self.attrs:
            if prefer is not None and prefer not in self._taken:
                name = prefer
            else:
                name = "j_" + "".join(c if c.isalnum() or c == "_" else "_" for c in key)
                base, n = name, 0
                while name in self._taken:
                    n += 1
                    name = f"{base}_{n}"
            self._taken.add(name)
            self.attrs[key] = name
        return self.attrs[key]


_Sources = dict[str, tuple[tuple[str, ...], Callable[[Any], Any] | None]]


def _tree(spec: GadgetSpec, layout: Layout, columns: Iterable[str]) -> tuple[_Node, _Sources]:
    """The JSON key tree the columns need, and each column's attribute path in it."""
    fields = msgspec.structs.fields(spec.event)
    paths = spec.column_paths()
    wanted = set(columns)
    root = _Node()
    sources: _Sources = {}
    for field in fields:
        path_spec = paths.get(field.name)
        dotted = path_spec.path(layout) if path_spec is not None else None
        if dotted is None or field.name not in wanted:
            continue
        assert path_spec is not None
        conv = path_spec.converter(layout, typed=True)
        node = root
        attrs: list[str] = []
        parts = dotted.split(".")
        for part in parts[:-1]:
            if part in node.leaves:
                raise ValueError(f"{spec.family}: path {dotted} crosses a leaf")
            attrs.append(node.attr(part))
            node = node.children.setdefault(part, _Node())
        leaf = parts[-1]
        if leaf in node.children:
            raise ValueError(f"{spec.family}: path {dotted} ends on an object")
        node.leaves.setdefault(leaf, path_spec.decode_type(layout, field.type))
        same = (
            node is root
            and leaf == field.name
            and conv is None
            and field.name != "node"
            and not keyword.iskeyword(leaf)
        )
        attrs.append(node.attr(leaf, prefer=leaf if same else None))
        sources[field.name] = (tuple(attrs), conv)
    if "timestamp" in root.leaves or "timestamp" in root.children:
        raise ValueError("column paths must not use the reserved key 'timestamp'")
    return root, sources


def _struct(
    name: str, root: _Node, required: set[str], namespace: dict[str, Any] | None
) -> type[msgspec.Struct]:
    counter = iter(range(1_000_000))

    def make(name: str, node: _Node, top: bool) -> type[msgspec.Struct]:
        req: list[tuple[Any, ...]] = []
        opt: list[tuple[Any, ...]] = []
        for key in sorted(set(node.leaves) | set(node.children)):
            attr = node.attr(key)
            if key in node.children:
                typ: Any = make(f"{name}_{attr}", node.children[key], False)
                zero: Any = typ()
            else:
                typ = node.leaves[key]
                zero = _zero_of(typ)
            if top and key in required:
                req.append((attr, typ, msgspec.field(name=key)))
            else:
                opt.append((attr, typ, msgspec.field(default=zero, name=key)))
        if top:
            for key in sorted(required):
                if key not in node.leaves and key not in node.children:
                    # A required key no wanted column reads: declared so it is checked.
                    req.append((node.attr(key), msgspec.Raw, msgspec.field(name=key)))
        return msgspec.defstruct(
            f"{name}_{next(counter)}",
            [*req, *opt],
            frozen=True,
            gc=False,
            module=__name__,
            namespace=namespace if top else None,
        )

    return make(name, root, True)


def _required(spec: GadgetSpec, layout: Layout, strict: bool) -> set[str]:
    required: set[str] = {"timestamp_raw"}
    if layout is Layout.CURRENT:
        required.add(spec.process_block)
    else:
        required.add("fcomm" if spec.process_block == "fprocess" else "comm")
    if strict:
        required.update(spec.markers)
    return required


def _uses_context_cache(spec: GadgetSpec, layout: Layout, wanted: set[str]) -> bool:
    if not set(CONTEXT_COLUMNS) <= wanted:
        return False
    paths = spec.column_paths()
    names = [f.name for f in msgspec.structs.fields(spec.event)]
    start = names.index(CONTEXT_COLUMNS[0])
    return tuple(names[start : start + len(CONTEXT_COLUMNS)]) == CONTEXT_COLUMNS and all(
        paths[c].path(layout) == COMMON_PATHS[c].path(layout) for c in CONTEXT_COLUMNS
    )


def _context_builder(
    spec: GadgetSpec, layout: Layout, node_name: str
) -> tuple[dict[str, tuple[Any, ...]], Callable[[bytes, str], tuple[Any, ...]]]:
    """The context cache of one plan, and how to read a context on a miss (rare: once
    per container per CONTEXT_TTL). Events without a container id (host processes,
    events IG could not enrich) are read every time: nothing identifies their context."""
    root, sources = _tree(spec, layout, CONTEXT_COLUMNS)
    decode = msgspec.json.Decoder(_struct(f"IGC_{spec.family}_{layout.value}", root, set(), None))
    getter = attrgetter(*(".".join(sources[c][0]) for c in CONTEXT_COLUMNS))
    cache: dict[str, tuple[Any, ...]] = {}
    _context_caches.append(cache)

    def miss(line: bytes, container_id: str) -> tuple[Any, ...]:
        ctx: tuple[Any, ...] = getter(decode.decode(line))
        if node_name and not ctx[0]:
            ctx = (node_name, *ctx[1:])
        if container_id:
            if len(cache) > _CONTEXT_LIMIT:
                cache.clear()
            cache[container_id] = ctx
        return ctx

    return cache, miss


def _compile(
    spec: GadgetSpec,
    layout: Layout,
    wanted: Iterable[str],
    strict: bool,
    node_name: str,
) -> DecodePlan:
    fields = msgspec.structs.fields(spec.event)
    field_names = {f.name for f in fields}
    wanted_set = set(wanted)
    required = _required(spec, layout, strict)
    root, sources = _tree(spec, layout, wanted_set)

    # -- the event constructor ---------------------------------------------------------
    env: dict[str, Any] = {"Event": spec.event, "NODE": node_name}
    use_context = _uses_context_cache(spec, layout, wanted_set)
    if use_context:
        # decode everything but the context; read the container id for the cache key
        ev_root, ev_sources = _tree(spec, layout, wanted_set - set(CONTEXT_COLUMNS))
        runtime = ev_root.children.setdefault("runtime", _Node())
        runtime.leaves["containerId"] = str
        cid_path = f"d.{ev_root.attr('runtime')}.{runtime.attr('containerId')}"
        cache, miss = _context_builder(spec, layout, node_name)
        env["_ctx_get"] = cache.get
        env["_ctx_miss"] = miss
        ev_struct = _struct(f"IGE_{spec.family}_{layout.value}", ev_root, required, None)
    else:
        ev_sources = sources
    hoisted: dict[tuple[str, ...], str] = {(): "d"}
    lines: list[str] = []
    args: list[str] = []

    def ref(prefix: tuple[str, ...]) -> str:
        if prefix not in hoisted:
            parent = ref(prefix[:-1])
            var = f"_o{len(hoisted)}"
            lines.append(f"    {var} = {parent}.{prefix[-1]}")
            hoisted[prefix] = var
        return hoisted[prefix]

    for field in fields:
        if use_context and field.name in CONTEXT_COLUMNS:
            if field.name == CONTEXT_COLUMNS[0]:
                args.append("*_ctx")
            continue
        if field.name in ev_sources:
            attrs, conv = ev_sources[field.name]
            expr = f"{ref(attrs[:-1])}.{attrs[-1]}"
            if conv is not None:
                fn = f"_conv_{field.name}"
                env[fn] = conv
                expr = f"{fn}({expr})"
            if field.name == "node" and node_name:
                expr = f"({expr} or NODE)"
            args.append(expr)
        elif field.name == "node" and node_name and "node" in wanted_set:
            args.append("NODE")
        else:
            args.append(_column_default(field))
    body = ["def decode_line(line):", "    d = _decode_event(line)"]
    if use_context:
        body += [
            f"    _cid = {cid_path}",
            "    _ctx = _ctx_get(_cid)",
            "    if _ctx is None:",
            "        _ctx = _ctx_miss(line, _cid)",
        ]
    body += lines
    body.append("    ev = Event(" + ", ".join(args) + ")")
    if spec.finish is not None:
        env["_finish"] = spec.finish
        body.append("    _finish(ev)")
    body.append("    return ev")
    source = "\n".join(body) + "\n"

    # -- the view's properties ---------------------------------------------------------
    # ``ew_paths`` maps plain columns to their attribute path in the nested fields. The
    # attribute names depend only on IG's keys, so the path of a column is the same in
    # every view type that has it: a stage can read a column of a whole mixed batch with
    # one ``attrgetter`` and skip the property layer (see pipeline.columns).
    view_namespace: dict[str, Any] = {"gadget_family": spec.family}
    direct: dict[str, str] = {}
    view_namespace["ew_paths"] = direct
    for field in fields:
        if field.name not in wanted_set:
            continue
        if field.name in sources:
            attrs, conv = sources[field.name]
            if len(attrs) == 1 and attrs[0] == field.name:
                continue  # the struct field itself is the column
            getter = attrgetter(".".join(attrs))
            if conv is None and field.name != "node":
                direct[field.name] = ".".join(attrs)
            if field.name == "node" and node_name:
                view_namespace["node"] = property(lambda self, _g=getter: _g(self) or node_name)
            elif conv is not None:
                view_namespace[field.name] = property(lambda self, _g=getter, _c=conv: _c(_g(self)))
            else:
                view_namespace[field.name] = property(getter)
        elif field.name == "node" and node_name:
            view_namespace["node"] = property(lambda self: node_name)
        elif field.default_factory is list:
            view_namespace[field.name] = property(lambda self: [])
        else:
            view_namespace[field.name] = property(lambda self, _v=field.default: _v)
    if spec.finish is not None and "cmdline" in wanted_set and "args" in field_names:
        view_namespace["cmdline"] = property(lambda self: " ".join(self.args))

    struct = _struct(f"IG_{spec.family}_{layout.value}", root, required, view_namespace)
    decoder = msgspec.json.Decoder(struct)
    env["_decode_event"] = msgspec.json.Decoder(ev_struct).decode if use_context else decoder.decode
    exec(compile(source, f"<edgewatch plan {spec.family}/{layout.value}>", "exec"), env)
    return DecodePlan(
        spec=spec,
        layout=layout,
        strict=strict,
        columns=tuple(f.name for f in fields if f.name in wanted_set),
        struct=struct,
        decode_line=env["decode_line"],
        decode_view=decoder.decode,
        source=source,
    )


@lru_cache(maxsize=512)
def plan_for(
    spec: GadgetSpec,
    layout: Layout,
    columns: frozenset[str] | None = None,
    strict: bool = False,
    node: str = "",
) -> DecodePlan:
    """The (cached) decode plan for ``spec`` in ``layout``.

    ``columns`` limits decoding to the columns a pipeline actually reads (None = all);
    the other columns keep their defaults, which is what makes filter-and-forward fast.
    ``node`` fills the node column where IG left it empty (plain ``ig`` never knows it).
    """
    all_columns = tuple(f.name for f in msgspec.structs.fields(spec.event))
    if columns is not None:
        columns = columns | ALWAYS_DECODED
        if "cmdline" in columns:
            columns = columns | {"args"}  # derived from it (see events.exec)
    wanted = all_columns if columns is None else tuple(c for c in all_columns if c in columns)
    return _compile(spec, layout, wanted, strict, node)

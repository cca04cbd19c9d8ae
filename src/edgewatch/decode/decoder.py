"""Lines in, normalized events out: every IG output shape, detected per line.

A :class:`LineDecoder` belongs to one source (it keeps that source's partial CRI and
Docker lines). ``decode`` takes a batch of raw lines and returns the events in arrival
order, the IG JSON object behind each event (for sinks that forward IG's shape
unchanged), the lines it had to reject with a reason, and counts of lines that were
deliberately not events (blank lines, IG's stderr, empty array emissions).

The work is organized for speed. A plain IG line goes through one dict lookup on its
first bytes (IG sorts keys, so ``{"accept`` means trace_tcp) and one generated msgspec
reader; nothing else runs per event. Everything unusual takes the slow path: framing
(envelopes, CRI, Docker) is unwrapped, the other IG layout is tried, and a line that
no typed reader accepts goes to the generic dict decoder, which still makes an event of
anything with a clear meaning and rejects the rest with a reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import call, itemgetter
from typing import Any

import msgspec

from edgewatch.decode import classify, framing
from edgewatch.decode.generic import event_from_dict
from edgewatch.decode.plan import DECODE_ERRORS, DecodePlan, expire_contexts, plan_for
from edgewatch.events.base import Event, GadgetSpec, Layout
from edgewatch.events.registry import lookup

log = logging.getLogger("edgewatch.decode")

_PREFIX = itemgetter(slice(0, classify.PREFIX_LEN))
ig_log = logging.getLogger("edgewatch.ig")

#: A joined CRI/Docker partial line larger than this is rejected, not buffered forever.
MAX_JOINED_LINE = 4 * 1024 * 1024

_DECODE_ERRORS = DECODE_ERRORS


@dataclass(slots=True)
class Reject:
    """A line that could not become an event, with why."""

    reason: str
    detail: str
    line: bytes


@dataclass(slots=True)
class Decoded:
    events: list[Event] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def extend(self, other: Decoded) -> None:
        self.events.extend(other.events)
        self.raws.extend(other.raws)
        self.rejects.extend(other.rejects)
        self.skipped.update(other.skipped)


class LineDecoder:
    """Decodes the lines of one source.

    ``gadget`` is what the source knows (an ``ig run trace_dns`` child, a CRI file of
    the ``ig-dns`` container, ``--gadget``); it overrides inference. ``columns`` limits
    decoding to what the pipeline reads. ``views`` hands out decoded views instead of
    event objects (see ``decode.plan``); only for pipelines that just read ``columns``.
    ``node`` fills ``node`` where IG left it empty (plain ``ig`` never knows it).
    """

    def __init__(
        self,
        gadget: GadgetSpec | None = None,
        columns: frozenset[str] | None = None,
        node: str = "",
        views: bool = False,
    ) -> None:
        if views and columns is None:
            raise ValueError("views need the set of columns the pipeline reads")
        self.gadget = gadget
        self.columns = columns
        self.node = node
        self.views = views
        self._partials: dict[str, list[bytes]] = {}
        self._partial_size: dict[str, int] = {}
        # Per gadget, the layout last seen: a stream rarely changes IG version mid-way,
        # so the fast path tries that layout first.
        self._layout: dict[GadgetSpec, Layout] = {}
        self._fast: dict[bytes, Callable[[bytes], Any]] = {}
        self._hinted: dict[GadgetSpec, Callable[[bytes], Any]] = {}
        self._rebuild_fast()

    def reconfigure(self, columns: frozenset[str] | None, views: bool) -> None:
        """Decode other columns from the next line on, keeping partial lines (hot reload)."""
        if views and columns is None:
            raise ValueError("views need the set of columns the pipeline reads")
        self.columns = columns
        self.views = views
        self._rebuild_fast()

    # -- plans --------------------------------------------------------------------------

    def _plan(self, spec: GadgetSpec, layout: Layout, strict: bool) -> DecodePlan:
        return plan_for(spec, layout, self.columns, strict, self.node)

    def _reader(self, spec: GadgetSpec, layout: Layout, strict: bool) -> Callable[[bytes], Any]:
        plan = self._plan(spec, layout, strict)
        return plan.decode_view if self.views else plan.decode_line

    def _rebuild_fast(self) -> None:
        """Prefix -> reader for lines whose first key names the gadget (IG sorts keys)."""
        fast: dict[bytes, Callable[[bytes], Any]] = {}
        for prefix, spec in classify.FIRST_KEY_PREFIXES.items():
            fast[prefix] = self._reader(spec, self._layout.get(spec, Layout.CURRENT), True)
        open_spec, signal_spec = classify.ERROR_PREFIX_GADGETS
        read_open = self._reader(open_spec, self._layout.get(open_spec, Layout.CURRENT), True)
        read_signal = self._reader(signal_spec, self._layout.get(signal_spec, Layout.CURRENT), True)
        marker = classify.OPEN_MARKER

        def open_or_signal(line: bytes) -> Any:
            return read_open(line) if marker in line else read_signal(line)

        fast[classify.ERROR_PREFIX] = open_or_signal
        self._fast = fast
        self._hinted = {}

    def _hinted_reader(self, spec: GadgetSpec) -> Callable[[bytes], Any]:
        reader = self._hinted.get(spec)
        if reader is None:
            layout = self._layout.get(spec, Layout.CURRENT)
            reader = self._hinted[spec] = self._reader(spec, layout, False)
        return reader

    def _learn(self, spec: GadgetSpec, layout: Layout) -> None:
        if self._layout.get(spec, Layout.CURRENT) is not layout:
            log.info("%s: switching to IG's %s JSON layout", spec.gadget, layout.value)
            self._layout[spec] = layout
            self._rebuild_fast()

    # -- public -------------------------------------------------------------------------

    def decode(self, lines: list[bytes]) -> Decoded:
        out = Decoded()
        if not lines:
            return out
        expire_contexts()
        hint = self.gadget
        # The common case, all in C: every line is a plain IG object whose reader is
        # known (from the source, or from its first bytes) and decodes without error.
        if hint is not None:
            readers: list[Callable[[bytes], Any] | None] | None = None
            reader = self._hinted_reader(hint)
            try:
                out.events = list(map(reader, lines))
                out.raws = lines
                return out
            except DECODE_ERRORS:
                pass
        else:
            readers = list(map(self._fast.get, map(_PREFIX, lines)))
            if None not in readers:
                try:
                    out.events = list(map(call, readers, lines))
                    out.raws = lines
                    return out
                except DECODE_ERRORS:
                    pass
        self._decode_one_by_one(lines, readers, out)
        return out

    def _decode_one_by_one(
        self,
        lines: list[bytes],
        readers: list[Callable[[bytes], Any] | None] | None,
        out: Decoded,
    ) -> None:
        """The batch had something unusual in it: go line by line, slow path as needed."""
        events = out.events
        raws = out.raws
        hint = self.gadget
        if readers is None:
            readers = [None] * len(lines)
        fixed = self._hinted_reader(hint) if hint is not None else None
        for line, guess in zip(lines, readers, strict=True):
            reader = fixed if fixed is not None else guess
            if reader is not None:
                try:
                    ev = reader(line)
                except DECODE_ERRORS:
                    pass
                else:
                    events.append(ev)
                    raws.append(line)
                    continue
            self._slow(line, hint, out)
            if hint is not None:
                fixed = self._hinted_reader(hint)  # a layout switch may have changed it

    def flush(self) -> Decoded:
        """End of input: partial lines that never saw their final chunk are rejected."""
        out = Decoded()
        for stream, chunks in self._partials.items():
            if chunks:
                out.rejects.append(
                    Reject("incomplete_partial", f"{stream} line ended without F", b"".join(chunks))
                )
        self._partials.clear()
        self._partial_size.clear()
        return out

    # -- the slow path: framing, other layouts, odd values ---------------------------------

    def _slow(self, line: bytes, hint: GadgetSpec | None, out: Decoded) -> None:
        items: list[tuple[GadgetSpec | None, bytes]] = []
        self._dispatch(line, hint, items, out, depth=0)
        for item_hint, item in items:
            self._decode_object(item_hint, item, out)

    def _decode_object(self, hint: GadgetSpec | None, line: bytes, out: Decoded) -> None:
        """One JSON object line, by every means: fast guess, both layouts, generic."""
        spec = hint if hint is not None else classify.sniff(line)
        if spec is not None:
            strict = hint is None
            first = self._layout.get(spec, Layout.CURRENT)
            for layout in (first, Layout.FLAT if first is Layout.CURRENT else Layout.CURRENT):
                try:
                    ev = self._reader(spec, layout, strict)(line)
                except DECODE_ERRORS:
                    continue
                self._learn(spec, layout)
                out.events.append(ev)
                out.raws.append(line)
                return
        self._generic(hint, line, out)

    # -- unwrapping -----------------------------------------------------------------

    def _dispatch(
        self,
        line: bytes,
        hint: GadgetSpec | None,
        items: list[tuple[GadgetSpec | None, bytes]],
        out: Decoded,
        depth: int,
    ) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        first = line[:1]
        if first == b"{":
            if line.startswith(framing.ENVELOPE_PREFIX):
                self._envelope(line, items, out)
            elif line.startswith(framing.DOCKER_PREFIX) and depth == 0:
                self._docker(line, hint, items, out, depth)
            else:
                items.append((hint, line))
            return
        if not line.strip():
            out.skipped["blank"] += 1
            return
        if depth == 0 and framing.looks_like_cri(line):
            self._cri(line, hint, items, out, depth)
            return
        stripped = line.strip()
        if stripped[:1] == b"{" and depth < 2:
            self._dispatch(stripped, hint, items, out, depth + 1)
            return
        # Not an object: the generic decoder names the problem precisely.
        items.append((hint, line))

    def _join(self, stream: str, partial: bool, content: bytes, out: Decoded) -> bytes | None:
        chunks = self._partials.get(stream)
        if partial:
            size = self._partial_size.get(stream, 0) + len(content)
            if size > MAX_JOINED_LINE:
                joined = b"".join([*(chunks or []), content])
                self._partials.pop(stream, None)
                self._partial_size.pop(stream, None)
                detail = f"partial line exceeds {MAX_JOINED_LINE} bytes"
                out.rejects.append(Reject("oversized_line", detail, joined))
                return None
            self._partials.setdefault(stream, []).append(content)
            self._partial_size[stream] = size
            out.skipped["partial_chunk"] += 1
            return None
        if chunks:
            self._partials.pop(stream, None)
            self._partial_size.pop(stream, None)
            return b"".join([*chunks, content])
        return content

    def _cri(
        self,
        line: bytes,
        hint: GadgetSpec | None,
        items: list[tuple[GadgetSpec | None, bytes]],
        out: Decoded,
        depth: int,
    ) -> None:
        try:
            cri = framing.parse_cri(line)
        except framing.CriFormatError as exc:
            out.rejects.append(Reject("invalid_cri", str(exc), line))
            return
        self._framed("cri", cri.stream, cri.partial, cri.content, hint, items, out, depth)

    def _docker(
        self,
        line: bytes,
        hint: GadgetSpec | None,
        items: list[tuple[GadgetSpec | None, bytes]],
        out: Decoded,
        depth: int,
    ) -> None:
        try:
            doc = framing.DOCKER_DECODER.decode(line)
        except _DECODE_ERRORS:
            items.append((hint, line))  # not Docker after all; let the JSON path judge it
            return
        text = doc.log.encode()
        partial = not text.endswith(b"\n")  # Docker marks a partial line by the missing \n
        self._framed("docker", doc.stream, partial, text.rstrip(b"\n"), hint, items, out, depth)

    def _framed(
        self,
        framing_kind: str,
        stream: str,
        partial: bool,
        content: bytes,
        hint: GadgetSpec | None,
        items: list[tuple[GadgetSpec | None, bytes]],
        out: Decoded,
        depth: int,
    ) -> None:
        """A log line's content: joined with its partial predecessors, then decoded."""
        joined = self._join(f"{framing_kind}:{stream}", partial, content, out)
        if joined is None:
            return
        if stream == "stderr":
            # ig's own warnings; never events.
            out.skipped["stderr"] += 1
            ig_log.debug("ig stderr: %s", joined[:500].decode("utf-8", "replace"))
            return
        self._dispatch(joined, hint, items, out, depth + 1)

    def _envelope(
        self, line: bytes, items: list[tuple[GadgetSpec | None, bytes]], out: Decoded
    ) -> None:
        try:
            env = framing.ENVELOPE_DECODER.decode(line)
        except _DECODE_ERRORS as exc:
            out.rejects.append(Reject("invalid_envelope", str(exc), line))
            return
        self._unwrap_envelope(env, line, items, out)

    def _unwrap_envelope(
        self,
        env: framing.Envelope,
        line: bytes,
        items: list[tuple[GadgetSpec | None, bytes]],
        out: Decoded,
    ) -> None:
        if env.type == "gadget-data-empty":
            out.skipped["empty_array"] += 1
            return
        if env.type == "gadget-log":
            out.skipped["gadget_log"] += 1
            ig_log.info("%s: %s", env.gadget, env.msg or env.message)
            return
        if env.type != "gadget-data":
            out.rejects.append(Reject("invalid_envelope", f"unknown type {env.type!r}", line))
            return
        spec = self.gadget or lookup(env.gadget) or lookup(env.datasource)
        if spec is None:
            out.rejects.append(
                Reject(
                    "unknown_gadget",
                    f"envelope gadget {env.gadget!r} datasource {env.datasource!r}",
                    line,
                )
            )
            return
        data = bytes(env.data)
        if data[:1] == b"[":
            try:
                elements = framing.RAW_LIST_DECODER.decode(data)
            except _DECODE_ERRORS as exc:
                out.rejects.append(Reject("invalid_envelope", str(exc), line))
                return
            if not elements:
                out.skipped["empty_array"] += 1
            for element in elements:
                items.append((spec, bytes(element)))
        elif data[:1] == b"{":
            items.append((spec, data))
        else:
            out.rejects.append(Reject("invalid_envelope", "data is neither object nor array", line))

    def _generic(self, hint: GadgetSpec | None, line: bytes, out: Decoded) -> None:
        """The authority: parse to a dict, then judge. Appends an event or a reject."""
        try:
            obj: Any = msgspec.json.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            out.rejects.append(Reject("invalid_json", str(exc), line))
            return
        if not isinstance(obj, dict):
            out.rejects.append(Reject("not_an_object", f"JSON {type(obj).__name__}", line))
            return
        kind = obj.get("type")
        if isinstance(kind, str) and kind.startswith("gadget-"):
            self._generic_envelope(obj, line, out)
            return
        spec = hint
        if spec is None:
            spec = classify.infer(obj)
            if spec is None:
                out.rejects.append(Reject("unknown_gadget", "no gadget's keys match", line))
                return
        elif not classify.looks_like_ig(obj):
            out.rejects.append(Reject("unknown_gadget", f"not an IG {spec.gadget} object", line))
            return
        event = event_from_dict(spec, classify.layout_of_obj(spec, obj), obj)
        if self.node and not event.node:
            event.node = self.node
        out.events.append(event)
        out.raws.append(line)

    def _generic_envelope(self, obj: dict[str, Any], line: bytes, out: Decoded) -> None:
        if obj.get("type") == "gadget-log":
            # IG's instance manager logs through logrus, whose JSON sorts "gadget" first.
            out.skipped["gadget_log"] += 1
            ig_log.info("%s: %s", obj.get("gadget", ""), obj.get("msg", ""))
            return
        # An envelope whose keys were reordered by something on the way.
        try:
            env = msgspec.convert(
                {**obj, "data": msgspec.Raw(msgspec.json.encode(obj.get("data")))},
                framing.Envelope,
            )
        except (msgspec.ValidationError, TypeError) as exc:
            out.rejects.append(Reject("invalid_envelope", str(exc), line))
            return
        items: list[tuple[GadgetSpec | None, bytes]] = []
        self._unwrap_envelope(env, line, items, out)
        for hint, item in items:
            self._decode_object(hint, item, out)

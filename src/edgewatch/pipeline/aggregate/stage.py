"""The aggregation stage: one summary per key and tumbling window instead of every event.

Edge nodes repeat themselves: the same pod connects to the same service on the same port
thousands of times an hour. A summary keeps what hunting needs — the key fields (see
``reduce_config.DEFAULT_KEYS``), ``event_count``, the first and last event time — plus
the distinct values of chosen fields left out of the key (bounded), and stands for all of
them. Queries that ``sum(EventCount)`` where they used to ``count()`` give the same answer.

Windows are tumbling, by event time (``time_ns // window``), per gadget family. A window
is emitted on the pipeline's flush tick once it is ``lateness`` past its end — by the
newest event time seen, or by the wall clock for a stream that went quiet — and on close.
An event arriving for a window already emitted starts a new summary for it: counts stay
right, there are just two rows.

Memory is bounded: at most ``max_keys`` keys are held across open windows; beyond that
the oldest windows are emitted early, and each early summary is counted
(``aggregate:early_flush:max_keys/<gadget>`` in the pipeline's stage figures).

Per event the work is C-level: key reads (``attrgetter``), ``Counter`` over the keys, and
dict builds that pick the first and last event of each key. Python runs per *key* in a
batch, which for real traffic is a small fraction of the events.

A summary is its first event: as a line, IG's own JSON of that event with edgewatch's
keys added at the top level (``EventCount``, ``EventStartTime``, ``EventEndTime``,
``EventDistinct``, and the enrichment's ``dst_name`` …), so nothing is re-rendered; as an
event object (for the store and Sentinel tables), a copy with the aggregation fields set.
A pipeline that only forwards lines decodes read-only views of the key columns, and
the summary's enrichment comes from :meth:`EnrichStage.annotate`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from itertools import compress, count, repeat
from operator import attrgetter, eq, floordiv, le, not_
from typing import Any

import msgspec

from edgewatch.events.base import Event
from edgewatch.events.convert import format_timestamp
from edgewatch.events.registry import BY_FAMILY
from edgewatch.pipeline.aggregate.keys import key_reader, real_fields, value_reader
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.reduce_config import AggregateConfig
from edgewatch.pipeline.stats import Stats

#: events keyed in one go (fewer when ``max_keys`` is smaller): the memory this costs is
#: references to events the pipeline already holds
BUFFER_EVENTS = 4096
_json = msgspec.json.Encoder(order="sorted")
_NO_PATH_DEFAULTS: dict[type, dict[str, Any]] = {}


class _Summary:
    __slots__ = ("count", "distinct", "end", "extras", "first", "more", "raw", "start")

    def __init__(
        self, first: Any, raw: bytes, extras: dict[str, Any], count: int, start: int, end: int
    ) -> None:
        self.first = first
        self.raw = raw
        self.extras = extras
        self.count = count
        self.start = start
        self.end = end
        self.distinct: dict[str, list[Any]] | None = None
        self.more: dict[str, int] | None = None


class _Window:
    __slots__ = ("family", "index", "opened", "summaries")

    def __init__(self, family: str, index: int, opened: float) -> None:
        self.family = family
        self.index = index
        self.opened = opened
        self.summaries: dict[tuple[Any, ...], _Summary] = {}


class _Family:
    """How one event type is keyed."""

    def __init__(self, event_type: type[Event], cfg: AggregateConfig) -> None:
        family = event_type.gadget_family
        self.family = family
        self.key = key_reader(event_type, cfg.keys_for(family))
        self.distinct = [(f, value_reader(event_type, f)) for f in cfg.distinct_for(family)]
        self.time = attrgetter(getattr(event_type, "ew_paths", {}).get("time_ns", "time_ns"))


def _with_keys(raw: bytes, extra: dict[str, Any]) -> bytes:
    """IG's JSON object with ``extra`` added at the top level, without re-encoding it."""
    line = raw.rstrip()
    body = _json.encode(extra)
    if line == b"{}" or not line.endswith(b"}"):
        return body if line in (b"{}", b"") else line
    return line[:-1] + b"," + body[1:]


def _extras(event_type: type[Event]) -> dict[str, Any]:
    """Fields IG never prints (enrichment) with their defaults: rendered when set."""
    found = _NO_PATH_DEFAULTS.get(event_type)
    if found is None:
        spec = BY_FAMILY[event_type.gadget_family]
        printed = spec.column_paths()
        found = {
            f.name: f.default
            for f in msgspec.structs.fields(event_type)
            if f.name not in printed
            and f.name not in ("event_count", "event_start_ns", "event_end_ns", "distinct_values")
            and f.default is not msgspec.NODEFAULT
        }
        _NO_PATH_DEFAULTS[event_type] = found
    return found


_EMPTY_OWNER = b'"owner":{"kind":"",'


class AggregateStage:
    name = "aggregate"

    def __init__(
        self, cfg: AggregateConfig, stats: Stats | None = None, enrich: Any = None
    ) -> None:
        self.cfg = cfg
        self.stats = stats or Stats()
        #: the enrichment stage, if any: asked for the fields of summaries of views
        self.enrich = enrich
        self.window_ns = int(cfg.window.total_seconds() * 1e9)
        self.lateness_ns = int(cfg.lateness.total_seconds() * 1e9)
        self.families = frozenset(cfg.gadgets)
        #: event or view type -> aggregated here?
        self._aggregated: dict[type, bool] = {}
        self._kinds: dict[type, _Family] = {}
        #: (family, window index) -> window, oldest first (insertion order)
        self._windows: dict[tuple[str, int], _Window] = {}
        self._keys = 0
        self._watermark: dict[str, int] = {}
        #: events taken but not yet keyed, per type: keyed in bulk, so the per-key Python
        #: runs once per distinct key in a few thousand events rather than per batch
        self._pending: dict[type, tuple[list[Any], list[bytes]]] = {}
        self._pending_n = 0
        self._pending_since = 0.0
        self._buffer = min(BUFFER_EVENTS, cfg.max_keys)

    @property
    def columns(self) -> frozenset[str] | None:
        """What keys and distinct values read (a forwarding pipeline decodes just these)."""
        out = {"time_ns"}
        for family in self.cfg.gadgets:
            out |= real_fields(family, self.cfg.keys_for(family))
            out |= set(self.cfg.distinct_for(family))
        return frozenset(out)

    @property
    def held_keys(self) -> int:
        return self._keys

    def take_over(self, old_stages: Sequence[Any]) -> None:
        """Carry open windows across a config reload when the aggregation is unchanged.

        Called before the old stages' final flush: windows moved here are not emitted
        early, so a reload that changes only filters, routes or rules leaves one summary
        per key and window, not two. A changed aggregation (window, keys, gadgets …)
        takes nothing: its windows could not be continued, and the old stage emits them.
        """
        for old in old_stages:
            if not isinstance(old, AggregateStage) or old is self or old.cfg != self.cfg:
                continue
            old._drain()
            self._windows, old._windows = old._windows, {}
            self._keys, old._keys = old._keys, 0
            self._watermark, old._watermark = old._watermark, {}
            return

    # -- the stage --------------------------------------------------------------------

    def process(self, batch: EventBatch) -> EventBatch:
        events = batch.events
        if not events:
            return batch
        types = batch.types
        known = self._aggregated
        for t in set(types) - known.keys():
            known[t] = t.gadget_family in self.families
        first = types[0]
        if types.count(first) == len(types):
            if not known[first]:
                self._count_passthrough(batch)
                return batch
            self._take(first, events, batch.raws)
            passthrough = EventBatch([], [], batch.stream, batch.meta)
        else:
            mask = list(map(known.__getitem__, types))
            if not any(mask):
                self._count_passthrough(batch)
                return batch
            for t in [t for t in set(types) if known[t]]:
                select = list(map(eq, types, repeat(t)))
                self._take(t, list(compress(events, select)), list(compress(batch.raws, select)))
            keep = list(map(not_, mask))
            passthrough = EventBatch(
                list(compress(events, keep)),
                list(compress(batch.raws, keep)),
                batch.stream,
                batch.meta,
                list(compress(types, keep)),
            )
            self._count_passthrough(passthrough)
        if self._keys > self.cfg.max_keys:
            early = self._emit(self._over_limit(), "max_keys")
            passthrough.events.extend(early.events)
            passthrough.raws.extend(early.raws)
            passthrough._types = None
        return passthrough

    def flush(self, final: bool = False) -> EventBatch | None:
        """Summaries of the windows that are due (all of them when ``final``)."""
        self._drain()
        if not self._windows:
            return None
        if final:
            due = list(self._windows)
        else:
            now = time.monotonic()
            wall_ns = self.window_ns + self.lateness_ns
            due = []
            for key, w in self._windows.items():
                end = (w.index + 1) * self.window_ns
                if (
                    end + self.lateness_ns <= self._watermark.get(w.family, 0)
                    or (now - w.opened) * 1e9 >= wall_ns
                ):
                    due.append(key)
        if not due:
            return None
        return self._emit(due, None)

    def _count_passthrough(self, batch: EventBatch) -> None:
        """Events handed on unaggregated, and their bytes: what filtering left of them."""
        if not batch.events:
            return
        raws = batch.raws
        size = sum(map(len, raws)) + len(raws)
        with self.stats._lock:
            stages = self.stats.stages
            stages["aggregate:passthrough_events"] += len(raws)
            stages["aggregate:passthrough_bytes"] += size

    # -- absorbing --------------------------------------------------------------------

    def _take(self, t: type, events: list[Any], raws: list[bytes]) -> None:
        if not self._pending_n:
            self._pending_since = time.monotonic()
        pending = self._pending.get(t)
        if pending is None:
            self._pending[t] = (list(events), list(raws))
        else:
            pending[0].extend(events)
            pending[1].extend(raws)
        self._pending_n += len(events)
        if self._pending_n >= self._buffer:
            self._drain()

    def _drain(self) -> None:
        if not self._pending_n:
            return
        pending, self._pending, self._pending_n = self._pending, {}, 0
        for t, (events, raws) in pending.items():
            self._absorb(t, events, raws, self._pending_since)

    def _kind(self, t: type) -> _Family:
        kind = self._kinds.get(t)
        if kind is None:
            kind = self._kinds[t] = _Family(t, self.cfg)
        return kind

    def _absorb(self, t: type, events: list[Event], raws: list[bytes], opened: float) -> None:
        kind = self._kind(t)
        family = kind.family
        times = list(map(kind.time, events))
        wins = list(map(floordiv, times, repeat(self.window_ns)))
        # Each key tuple is hashed once, into a small int; counting, first and last
        # occurrence and distinct values then work on ints (a tuple's hash is not cached).
        local: dict[tuple[Any, ...], int] = {}
        ids = list(map(local.setdefault, zip(wins, map(kind.key, events), strict=True), count()))
        counts = Counter(ids)
        firsts = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))
        if all(map(le, times, times[1:])):
            starts = None
            ends = dict(zip(ids, times, strict=True))
        else:
            starts, ends = {}, {}
            for k, when in zip(ids, times, strict=True):
                s = starts.get(k)
                if s is None or when < s:
                    starts[k] = when
                if when > ends.get(k, when - 1):
                    ends[k] = when
        windows = self._windows
        new_keys = 0
        touched: dict[int, _Summary] = {}
        for key, i in local.items():
            n = counts[i]
            wkey = (family, key[0])
            window = windows.get(wkey)
            if window is None:
                window = windows[wkey] = _Window(family, key[0], opened)
            summary = window.summaries.get(key)
            at = firsts[i]
            start = times[at] if starts is None else starts[i]
            if summary is None:
                first, raw = events[at], raws[at]
                summary = window.summaries[key] = _Summary(
                    first, raw, self._extras(first, raw), n, start, ends[i]
                )
                new_keys += 1
            else:
                summary.count += n
                summary.start = min(summary.start, start)
                summary.end = max(summary.end, ends[i])
            touched[i] = summary
        self._keys += new_keys
        limit = self.cfg.max_distinct
        for field, read in kind.distinct:
            for k, value in dict.fromkeys(zip(ids, map(read, events), strict=True)):
                summary = touched[k]
                lists = summary.distinct
                if lists is None:
                    lists = summary.distinct = {}
                values = lists.get(field)
                if values is None:
                    values = lists[field] = []
                if value in values:
                    continue
                if len(values) < limit:
                    values.append(value)
                else:
                    more = summary.more
                    if more is None:
                        more = summary.more = {}
                    more[field] = more.get(field, 0) + 1
        if times:
            top = max(times)
            if top > self._watermark.get(family, 0):
                self._watermark[family] = top
        with self.stats._lock:
            stages = self.stats.stages
            stages[f"aggregate:events_in/{family}"] += len(events)
            stages[f"aggregate:bytes_in/{family}"] += sum(map(len, raws)) + len(raws)

    def _extras(self, first: Any, raw: bytes) -> dict[str, Any]:
        """edgewatch's own fields of a summary's first event (enrichment), for its line."""
        if not isinstance(first, Event):
            return self.enrich.annotate(first) if self.enrich is not None else {}
        extra: dict[str, Any] = {}
        for name, default in _extras(type(first)).items():
            value = getattr(first, name)
            if value != default:
                extra[name] = value
        if first.owner_kind and _EMPTY_OWNER in raw:  # filled in by the enrichment
            extra["owner_kind"], extra["owner_name"] = first.owner_kind, first.owner_name
        return extra

    def _over_limit(self) -> list[tuple[str, int]]:
        """The oldest windows whose emission brings the held keys under the limit."""
        due = []
        left = self._keys
        for key, w in self._windows.items():
            if left <= self.cfg.max_keys:
                break
            due.append(key)
            left -= len(w.summaries)
        return due

    # -- emitting ---------------------------------------------------------------------

    def _emit(self, due: list[tuple[str, int]], reason: str | None) -> EventBatch:
        events: list[Event] = []
        raws: list[bytes] = []
        counted: Counter[str] = Counter()
        out_bytes: Counter[str] = Counter()
        replace = msgspec.structs.replace
        for wkey in due:
            window = self._windows.pop(wkey)
            self._keys -= len(window.summaries)
            family = window.family
            for summary in window.summaries.values():
                distinct = ""
                extra: dict[str, Any] = {
                    "EventCount": summary.count,
                    "EventStartTime": format_timestamp(summary.start),
                    "EventEndTime": format_timestamp(summary.end),
                }
                if summary.distinct:
                    values: dict[str, Any] = dict(summary.distinct)
                    if summary.more:
                        values["more"] = summary.more
                    distinct = _json.encode(values).decode()
                    extra["EventDistinct"] = values
                first = summary.first
                if isinstance(first, Event):
                    ev = replace(
                        first,
                        time_ns=summary.start,
                        event_count=summary.count,
                        event_start_ns=summary.start,
                        event_end_ns=summary.end,
                        distinct_values=distinct,
                    )
                else:
                    ev = first  # a view: only its line is read downstream
                extra.update(summary.extras)
                raw = _with_keys(summary.raw, extra)
                events.append(ev)
                raws.append(raw)
                counted[family] += 1
                out_bytes[family] += len(raw) + 1
        with self.stats._lock:
            stages = self.stats.stages
            for family, n in counted.items():
                stages[f"aggregate:summaries_out/{family}"] += n
                stages[f"aggregate:bytes_out/{family}"] += out_bytes[family]
                if reason is not None:
                    stages[f"aggregate:early_flush:{reason}/{family}"] += n
        return EventBatch(events, raws, "aggregate")

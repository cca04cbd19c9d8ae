"""The time window and pod filter every page query is scoped by.

A node's store is often looked at after the fact (a copy taken from a site, a demo, a
store an agent stopped writing), so "the last 24 hours" means the 24 hours up to the
newest event in the store, not up to the wall clock.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from edgewatch.units import parse_duration

NS = 1_000_000_000
#: What the window selector offers; any other ``parse_duration`` text is accepted too.
WINDOWS: tuple[str, ...] = ("5m", "15m", "1h", "6h", "24h", "7d", "30d", "all")
DEFAULT_WINDOW = "24h"
#: Chart buckets per window: enough to see a shape, few enough to draw instantly.
TARGET_BUCKETS = 60
_STEPS_S = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
#: A namespace or pod name as Kubernetes allows them (DNS-1123), plus the empty string.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$|^$"
_NAME = re.compile(NAME_PATTERN)


class WindowError(ValueError):
    """A ``since`` value that is not a duration; the message says what is accepted."""


def window_ns(since: str) -> int | None:
    """``since`` as nanoseconds, None for ``all``."""
    text = since.strip().lower()
    if text == "all":
        return None
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as exc:
        raise WindowError(f"{exc}; or 'all'") from None
    if seconds <= 0:
        raise WindowError("since must be a positive duration, e.g. 1h, 24h, 7d, or 'all'")
    return int(seconds * NS)


def valid_name(value: str) -> bool:
    return bool(_NAME.match(value))


@dataclass(frozen=True, slots=True)
class Scope:
    """What a page looks at: [start_ns, end_ns] and optionally one namespace / pod."""

    start_ns: int
    end_ns: int
    since: str
    namespace: str = ""
    pod: str = ""

    def where(self, alias: str = "") -> str:
        """The SQL condition for this scope (parameters ``$start``, ``$end``, ``$ns``, ``$pod``)."""
        p = f"{alias}." if alias else ""
        parts = [f"{p}time_ns BETWEEN $start AND $end"]
        if self.namespace:
            parts.append(f"{p}namespace = $ns")
        if self.pod:
            parts.append(f"{p}pod = $pod")
        return " AND ".join(parts)

    def params(self) -> dict[str, object]:
        out: dict[str, object] = {"start": self.start_ns, "end": self.end_ns}
        if self.namespace:
            out["ns"] = self.namespace
        if self.pod:
            out["pod"] = self.pod
        return out

    def bucket_ns(self) -> int:
        """A round chart bucket giving about ``TARGET_BUCKETS`` buckets over the window."""
        span_s = max(1, (self.end_ns - self.start_ns) // NS)
        for step in _STEPS_S:
            if span_s / step <= TARGET_BUCKETS:
                return step * NS
        return _STEPS_S[-1] * NS * max(1, span_s // (_STEPS_S[-1] * TARGET_BUCKETS))


def scope_for(since: str, newest_ns: int | None, oldest_ns: int | None, **names: str) -> Scope:
    """The scope of ``since`` ending at the newest event (an empty store: now)."""
    length = window_ns(since)
    end = newest_ns if newest_ns is not None else int(dt.datetime.now(dt.UTC).timestamp() * NS)
    oldest = oldest_ns if oldest_ns is not None else end
    # never before the oldest event: the counts are the same, the charts are not empty
    start = oldest if length is None else max(end - length, min(oldest, end))
    return Scope(start, end, since.strip().lower(), **names)


def iso(ns: int | None) -> str | None:
    """Nanoseconds as ISO 8601 UTC with millisecond precision (what the pages show)."""
    if ns is None:
        return None
    moment = dt.datetime.fromtimestamp(ns / NS, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

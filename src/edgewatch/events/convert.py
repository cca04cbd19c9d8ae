"""Value conversions between IG's printed forms and edgewatch's columns.

Each function is total: it never raises on odd input, because a decoder that throws
on one unexpected value would dead-letter an otherwise good event.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

#: IG joins argv with U+00A0 since v0.45.0 (a plain space before).
ARGS_SEPARATOR = "\u00a0"

_PROTO_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"}
PROTO_NUMBERS = {v: k for k, v in _PROTO_NAMES.items()}


def proto_name(value: Any) -> str:
    """IG printed ``proto`` as a number until v0.34.0 and as a name since."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        return ""
    return _PROTO_NAMES.get(value, f"proto#{value}")


def split_args(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, str):
        return []
    return split_nbsp_or_space(value)


def split_comma(value: str) -> list[str]:
    """``addresses`` as the typed decoders see it: always a string (kept lean: per DNS event)."""
    return value.split(",") if value else []


def split_nbsp_or_space(value: str) -> list[str]:
    """``args`` as the typed decoders see it: always a string."""
    if not value:
        return []
    return value.split(ARGS_SEPARATOR) if ARGS_SEPARATOR in value else value.split(" ")


def split_addresses(value: Any) -> list[str]:
    """``addresses`` is a comma-separated string today and was a JSON array before v0.31."""
    if isinstance(value, list):
        return [str(v) for v in value if v]
    if not isinstance(value, str) or not value:
        return []
    return [a for a in value.split(",") if a]


_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\d*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(value: Any) -> int:
    """RFC 3339 (any fraction, ``Z`` or offset) or integer ns -> ns since epoch; 0 if unusable."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if value > 0 else 0
    if not isinstance(value, str) or not value:
        return 0
    m = _TS.match(value.strip())
    if not m:
        return 0
    year, month, day, hour, minute, sec, frac, tz = m.groups()
    try:
        secs = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(sec), 0, 0, 0)
        )
    except (OverflowError, ValueError):
        return 0
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    nanos = int((frac or "0").ljust(9, "0")[:9])
    return max(0, secs * 1_000_000_000 + nanos)


class TimestampFormatter:
    """Formats epoch ns the way IG does (9 fractional digits, ``Z``), caching the second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ns: int) -> str:
        second, frac = divmod(ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{frac:09d}Z"


format_timestamp = TimestampFormatter()


def format_duration(ns: int) -> str:
    """Mirror of IG's ``formatDuration``: ``0ns``, ``812.35µs``, ``3.42ms``, Go's ``1m1.5s``."""
    if ns < 1_000:
        return f"{max(ns, 0)}ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs, frac = divmod(rest, 1_000_000_000)
    sec_text = str(secs) + (f".{frac:09d}".rstrip("0") if frac else "")
    if hours:
        return f"{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{minutes}m{sec_text}s"
    return f"{sec_text}s"

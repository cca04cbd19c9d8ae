"""Threat intelligence: indicator files loaded, matched in the stream, reloaded on change.

Three file shapes, picked by content and extension:

* **plain lists** (``.txt``, ``.list``): one indicator per line (an IP, a CIDR, a domain
  or a TLS host name), ``#`` comments;
* **CSV** (``.csv``): a header naming an ``indicator`` (or ``value``/``ioc``) column and
  optionally ``type``, ``description`` (or ``threat``/``comment``) and ``source``;
* **STIX 2.1 bundles** (``.json``): every ``indicator`` object with ``pattern_type: stix``
  whose pattern compares ``ipv4-addr:value``, ``ipv6-addr:value``, ``domain-name:value``,
  ``url:value`` (its host) or ``x509-certificate`` subjects; parsed with the OASIS
  ``stix2-patterns`` library. Revoked and expired indicators are skipped.

Matching: addresses by exact set lookup, then by network (CIDRs grouped by prefix
length, so a lookup is one dict probe per distinct prefix length); domains match the
name and every parent (``a.b.evil.com`` hits ``evil.com``). Results are cached per
value and the cache is dropped on reload. Files are polled for a changed mtime/size at
most every ``poll_s`` seconds from the pipeline thread: no watcher thread, no restart.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("edgewatch.detect.intel")

_CACHE_LIMIT = 100_000


class IntelError(ValueError):
    """An indicator file that cannot be read; names the file and the line or object."""


@dataclass(frozen=True, slots=True)
class Indicator:
    value: str
    kind: str  # ip, cidr, domain
    description: str = ""
    source: str = ""

    def __str__(self) -> str:
        what = f" ({self.description})" if self.description else ""
        return f"indicator {self.value}{what} from {self.source}"


def classify_value(value: str) -> str | None:
    """``ip``, ``cidr``, ``domain`` or None for something that is none of these."""
    v = value.strip()
    if not v:
        return None
    try:
        ipaddress.ip_address(v)
        return "ip"
    except ValueError:
        pass
    if "/" in v:
        try:
            ipaddress.ip_network(v, strict=False)
            return "cidr"
        except ValueError:
            return None
    host = v.rstrip(".").lower()
    if "." in host and all(p and len(p) <= 63 for p in host.split(".")) and " " not in host:
        return "domain"
    return None


def _make(value: str, description: str, source: str) -> Indicator | None:
    value = value.strip()
    if value.startswith(("http://", "https://")):
        value = urlsplit(value).hostname or ""
    kind = classify_value(value)
    if kind is None:
        return None
    if kind == "domain":
        value = value.rstrip(".").lower()
    if kind == "cidr":
        value = str(ipaddress.ip_network(value, strict=False))
    return Indicator(value, kind, description, source)


# -- file formats -----------------------------------------------------------------------


def parse_list(text: str, source: str) -> list[Indicator]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        ind = _make(value, "", source)
        if ind is None:
            raise IntelError(f"{source}:{n}: {value!r} is not an IP, CIDR or domain")
        out.append(ind)
    return out


_VALUE_COLUMNS = ("indicator", "value", "ioc", "ip", "domain")
_DESC_COLUMNS = ("description", "threat", "comment", "malware")


def parse_csv(text: str, source: str) -> list[Indicator]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    col = next((c for c in _VALUE_COLUMNS if c in fields), None)
    if col is None:
        raise IntelError(
            f"{source}: no indicator column; name one of {', '.join(_VALUE_COLUMNS)} in the header"
        )
    out = []
    for n, raw_row in enumerate(reader, 2):
        row = {(k or "").strip().lower(): (v or "") for k, v in raw_row.items()}
        value = row.get(col, "").strip()
        if not value or value.startswith("#"):
            continue
        desc = next((row[c] for c in _DESC_COLUMNS if row.get(c)), "")
        ind = _make(value, desc.strip(), row.get("source", "").strip() or source)
        if ind is None:
            raise IntelError(f"{source}:{n}: {value!r} is not an IP, CIDR, domain or URL")
        out.append(ind)
    return out


_STIX_PATHS = {
    "ipv4-addr": {("value",)},
    "ipv6-addr": {("value",)},
    "domain-name": {("value",)},
    "url": {("value",)},
}


def _expired(obj: dict[str, Any], now: datetime) -> bool:
    until = obj.get("valid_until")
    if not until:
        return False
    try:
        return datetime.fromisoformat(str(until).replace("Z", "+00:00")) < now
    except ValueError:
        return False


def parse_stix(text: str, source: str, now: datetime | None = None) -> list[Indicator]:
    """Indicators of a STIX 2.1 bundle (or a single indicator object, or a list)."""
    from stix2patterns.pattern import ParseException, Pattern

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntelError(f"{source}: not JSON: {exc}") from None
    objects = data.get("objects", [data]) if isinstance(data, dict) else data
    now = now or datetime.now(UTC)
    out: list[Indicator] = []
    for obj in objects if isinstance(objects, list) else []:
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        if obj.get("revoked") or _expired(obj, now):
            continue
        if obj.get("pattern_type", "stix") != "stix":
            continue
        pattern = obj.get("pattern", "")
        try:
            inspected = Pattern(pattern).inspect()
        except (ParseException, Exception) as exc:
            raise IntelError(
                f"{source}: indicator {obj.get('id', '?')}: bad pattern: {exc}"
            ) from None
        desc = str(obj.get("name") or obj.get("description") or "")
        for object_type, comparisons in inspected.comparisons.items():
            for path, op, value in comparisons:
                if object_type == "x509-certificate" and path and "subject" in str(path[-1]):
                    raw = str(value).strip("'")
                    cn = raw.split("CN=", 1)[-1].split(",", 1)[0]
                    ind = _make(cn, desc, source)
                elif object_type in _STIX_PATHS and tuple(path) in _STIX_PATHS[object_type]:
                    if op not in ("=", "ISSUBSET"):
                        continue
                    ind = _make(str(value).strip("'"), desc, source)
                else:
                    continue
                if ind is not None:
                    out.append(ind)
    return out


def parse_file(path: Path) -> list[Indicator]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    source = path.name
    if suffix == ".json" or text.lstrip().startswith("{"):
        return parse_stix(text, source)
    if suffix == ".csv":
        return parse_csv(text, source)
    return parse_list(text, source)


# -- matching -----------------------------------------------------------------------------


class IntelSet:
    """Indicators indexed for the hot path."""

    def __init__(self, indicators: Iterable[Indicator]) -> None:
        self.ips: dict[str, Indicator] = {}
        self.domains: dict[str, Indicator] = {}
        self.networks: dict[tuple[int, int], dict[int, Indicator]] = {}
        n = 0
        for ind in indicators:
            n += 1
            if ind.kind == "ip":
                self.ips[str(ipaddress.ip_address(ind.value))] = ind
            elif ind.kind == "domain":
                self.domains[ind.value] = ind
            else:
                net = ipaddress.ip_network(ind.value)
                self.networks.setdefault((net.version, net.prefixlen), {})[
                    int(net.network_address)
                ] = ind
        self.size = n
        self._ip_cache: dict[str, Indicator | None] = {}
        self._name_cache: dict[str, Indicator | None] = {}

    def match_ip(self, addr: str) -> Indicator | None:
        cache = self._ip_cache
        if addr in cache:
            return cache[addr]
        hit = self.ips.get(addr)
        if hit is None and self.networks:
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                ip = None
            if ip is not None:
                if ip.version == 6 and ip.ipv4_mapped is not None:
                    ip = ip.ipv4_mapped
                    hit = self.ips.get(str(ip))
                value, bits = int(ip), ip.max_prefixlen
                for (version, prefix), nets in self.networks.items():
                    if version != ip.version or hit is not None:
                        continue
                    hit = nets.get(value >> (bits - prefix) << (bits - prefix))
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        cache[addr] = hit
        return hit

    def match_domain(self, name: str) -> Indicator | None:
        cache = self._name_cache
        if name in cache:
            return cache[name]
        hit = None
        if self.domains:
            labels = name.rstrip(".").lower().split(".")
            for i in range(len(labels) - 1):
                hit = self.domains.get(".".join(labels[i:]))
                if hit is not None:
                    break
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        cache[name] = hit
        return hit


class IntelStore:
    """The configured files, loaded into one :class:`IntelSet`, reloaded when they change.

    A file that fails to parse on reload keeps the previous indicators (and the error is
    logged and counted): a half-written feed must not blind the rules.
    """

    def __init__(self, paths: Sequence[str | Path], poll_s: float = 10.0) -> None:
        self.paths = [Path(p) for p in paths]
        self.poll_s = poll_s
        self.reloads = 0
        self.errors = 0
        self.last_error = ""
        self._stamps: dict[Path, tuple[float, int] | None] = {}
        self._next_poll = 0.0
        self.current = IntelSet(())
        self._load(initial=True)

    def _stamp(self, path: Path) -> tuple[float, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for p in self.paths:
            if p.is_dir():
                out.extend(
                    sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
                )
            else:
                out.append(p)
        return out

    def _load(self, initial: bool = False) -> None:
        indicators: list[Indicator] = []
        stamps: dict[Path, tuple[float, int] | None] = {}
        for path in self._files():
            stamps[path] = self._stamp(path)
            if stamps[path] is None:
                if initial:
                    raise IntelError(f"{path}: no such indicator file")
                continue
            try:
                indicators.extend(parse_file(path))
            except (IntelError, OSError, UnicodeDecodeError) as exc:
                if initial:
                    raise IntelError(str(exc)) from None
                self.errors += 1
                self.last_error = str(exc)
                log.warning("threat intel not reloaded: %s", exc)
                self._stamps = stamps
                return
        self.current = IntelSet(indicators)
        self._stamps = stamps
        if not initial:
            self.reloads += 1
            log.info("threat intel reloaded: %d indicators", self.current.size)

    def maybe_reload(self, now: float | None = None) -> bool:
        """Reload if a file changed since the last look (at most every ``poll_s``)."""
        now = time.monotonic() if now is None else now
        if now < self._next_poll:
            return False
        self._next_poll = now + self.poll_s
        files = self._files()
        if set(files) == set(self._stamps) and all(
            self._stamp(f) == self._stamps[f] for f in files
        ):
            return False
        self._load()
        return True

    def match_ip(self, addr: str) -> Indicator | None:
        return self.current.match_ip(addr)

    def match_domain(self, name: str) -> Indicator | None:
        return self.current.match_domain(name)

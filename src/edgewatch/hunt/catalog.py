"""The hunting queries that ship with edgewatch, and how a QUERY argument becomes KQL.

Each bundled query is one ``.kql`` file in ``edgewatch/hunt/queries``. It is plain KQL over
``ContainerLogV2``, so the same file runs unchanged in Microsoft Sentinel, and it opens
with a header of comment lines that the catalogue reads::

    // name: public_outbound_tcp
    // title: Outbound TCP to public IPs
    // finds: What it finds and why that matters; longer values continue on
    //   comment lines indented by at least two spaces.
    // mitre: T1071 (Application Layer Protocol)      (or "none")
    // gadgets: trace_tcp

The header ends at the first line that is not a ``//`` comment. Keeping the metadata in
KQL comments rather than in a side file means a query copied into the Sentinel portal
carries its own documentation, and the file cannot drift from its description.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType

from edgewatch.events import lookup as lookup_gadget

__all__ = [
    "HEADER_KEYS",
    "CatalogError",
    "HuntQuery",
    "Technique",
    "UnknownQueryError",
    "bundled",
    "by_name",
    "get",
    "names",
    "parse_header",
    "parse_query",
    "resolve",
]

#: Every header must carry all of these, in any order.
HEADER_KEYS: tuple[str, ...] = ("name", "title", "finds", "mitre", "gadgets")
QUERY_SUFFIX = ".kql"

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_KEY_LINE = re.compile(r"//\s?([A-Za-z_]+)\s*:\s*(.*)")
#: A continuation line: ``//`` then at least two spaces, so a wrapped sentence can never
#: be mistaken for a ``key: value`` line that happens to contain a colon.
_CONTINUATION = re.compile(r"//\s{2,}(\S.*)")
_TECHNIQUE = re.compile(r"(T\d{4}(?:\.\d{3})?) \(([^()]+)\)")
_TECHNIQUES = re.compile(rf"{_TECHNIQUE.pattern}(?:, {_TECHNIQUE.pattern})*")
#: What a user types when they mean a query by name (and, sadly, a bare table name too).
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class CatalogError(ValueError):
    """A query file whose header is missing, incomplete or malformed."""


class UnknownQueryError(LookupError):
    """A QUERY argument that names a bundled query or a ``.kql`` file that does not exist."""

    def __init__(self, message: str, name: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.suggestions = suggestions


@dataclass(frozen=True, slots=True)
class Technique:
    """One MITRE ATT&CK technique a query helps to find, e.g. ``T1071.004``."""

    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"


@dataclass(frozen=True, slots=True)
class HuntQuery:
    """A bundled query with its header already checked.

    ``text`` is the whole file, header included: the comments cost nothing to run and keep
    the description attached when the query is printed or pasted elsewhere. ``body`` is the
    KQL without the header. ``gadgets`` are IG's names (``trace_tcp``), whichever spelling
    the header used.
    """

    name: str
    title: str
    finds: str
    mitre: tuple[Technique, ...]
    gadgets: tuple[str, ...]
    text: str
    path: Traversable

    @property
    def body(self) -> str:
        return _split_header(self.text)[1]

    @property
    def container_names(self) -> tuple[str, ...]:
        """The ``ContainerLogV2.ContainerName`` values the query reads (``ig-tcp`` …)."""
        out = []
        for gadget in self.gadgets:
            spec = lookup_gadget(gadget)
            assert spec is not None  # checked when the header was parsed
            out.append(f"ig-{spec.family}")
        return tuple(out)


def _split_header(text: str) -> tuple[list[tuple[int, str]], str]:
    """The leading ``//`` lines (with 1-based line numbers) and the rest, blank lines trimmed."""
    lines = text.splitlines(keepends=True)
    header: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith("//"):
            break
        header.append((number, line.rstrip("\r\n")))
    rest = lines[len(header) :]
    while rest and not rest[0].strip():
        rest.pop(0)
    return header, "".join(rest)


def parse_header(text: str, source: str) -> dict[str, str]:
    """The ``key: value`` pairs of a query file's header; ``source`` names it in errors."""
    header, _ = _split_header(text)
    if not header:
        raise CatalogError(
            f"{source}: no header; a query file must start with '// name: ...' comment lines "
            f"for {', '.join(HEADER_KEYS)}"
        )
    values: dict[str, str] = {}
    last: str | None = None
    for number, line in header:
        if not line[2:].strip():
            continue
        continued = _CONTINUATION.fullmatch(line)
        if continued and last is not None:
            values[last] = f"{values[last]} {continued.group(1).rstrip()}"
            continue
        keyed = _KEY_LINE.fullmatch(line)
        if keyed is None:
            raise CatalogError(
                f"{source}:{number}: expected '// key: value' or a continuation line "
                f"indented by two spaces, got {line!r}"
            )
        key, value = keyed.group(1), keyed.group(2).strip()
        if key not in HEADER_KEYS:
            close = difflib.get_close_matches(key, HEADER_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CatalogError(
                f"{source}:{number}: unknown header key {key!r}{hint}; "
                f"the keys are {', '.join(HEADER_KEYS)}"
            )
        if key in values:
            raise CatalogError(f"{source}:{number}: header key {key!r} given twice")
        values[key] = value
        last = key
    missing = [key for key in HEADER_KEYS if key not in values]
    if missing:
        raise CatalogError(
            f"{source}: header is missing {', '.join(repr(k) for k in missing)} "
            f"(every query needs {', '.join(HEADER_KEYS)})"
        )
    empty = [key for key in HEADER_KEYS if not values[key]]
    if empty:
        raise CatalogError(f"{source}: header key {empty[0]!r} has no value")
    return values


def _parse_mitre(value: str, source: str) -> tuple[Technique, ...]:
    if value.lower() == "none":
        return ()
    if not _TECHNIQUES.fullmatch(value):
        raise CatalogError(
            f"{source}: mitre must be 'none' or a comma-separated list like "
            f"'T1071 (Application Layer Protocol), T1105 (Ingress Tool Transfer)', "
            f"got {value!r}"
        )
    return tuple(Technique(m.group(1), m.group(2)) for m in _TECHNIQUE.finditer(value))


def _parse_gadgets(value: str, source: str) -> tuple[str, ...]:
    out: list[str] = []
    for raw in value.split(","):
        name = raw.strip()
        spec = lookup_gadget(name)
        if spec is None:
            raise CatalogError(f"{source}: unknown gadget {name!r} in 'gadgets'")
        if spec.gadget not in out:
            out.append(spec.gadget)
    return tuple(out)


def parse_query(text: str, path: Traversable, source: str | None = None) -> HuntQuery:
    """Check a query file's header and build its record; the file stem must be its name."""
    where = source or str(path)
    values = parse_header(text, where)
    name = values["name"]
    if not _NAME.fullmatch(name):
        raise CatalogError(f"{where}: name {name!r} must be lower_snake_case")
    stem = path.name.removesuffix(QUERY_SUFFIX)
    if name != stem:
        raise CatalogError(f"{where}: header name {name!r} does not match the file name {stem!r}")
    return HuntQuery(
        name=name,
        title=values["title"],
        finds=values["finds"],
        mitre=_parse_mitre(values["mitre"], where),
        gadgets=_parse_gadgets(values["gadgets"], where),
        text=text,
        path=path,
    )


def _queries_dir() -> Traversable:
    return files("edgewatch") / "hunt" / "queries"


@cache
def bundled() -> tuple[HuntQuery, ...]:
    """Every bundled query, sorted by name. Raises :class:`CatalogError` on a bad file."""
    found = []
    for entry in _queries_dir().iterdir():
        if entry.is_file() and entry.name.endswith(QUERY_SUFFIX):
            text = entry.read_text(encoding="utf-8")
            found.append(parse_query(text, entry, f"hunt/queries/{entry.name}"))
    return tuple(sorted(found, key=lambda q: q.name))


@cache
def by_name() -> Mapping[str, HuntQuery]:
    return MappingProxyType({q.name: q for q in bundled()})


def names() -> list[str]:
    return [q.name for q in bundled()]


def _normalize(name: str) -> str:
    """``Public-Outbound-TCP`` finds ``public_outbound_tcp``: shells make hyphens easier."""
    return name.strip().lower().replace("-", "_")


def _unknown(arg: str) -> UnknownQueryError:
    known = names()
    suggestions = tuple(difflib.get_close_matches(_normalize(arg), known, n=3, cutoff=0.6))
    if suggestions:
        hint = "did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
    else:
        hint = "bundled queries: " + ", ".join(known)
    return UnknownQueryError(f"no bundled query named {arg!r}; {hint}", arg, suggestions)


def get(name: str) -> HuntQuery:
    """The bundled query called ``name`` (hyphens and case forgiven)."""
    query = by_name().get(_normalize(name))
    if query is None:
        raise _unknown(name)
    return query


def resolve(arg: str, tables: Collection[str] = ()) -> str:
    """Turn a user's QUERY argument into KQL text.

    In order: the name of a bundled query gives its text; a path ending in ``.kql`` gives
    the file's content; anything else is KQL already. A single identifier that is none of
    these is almost always a mistyped query name, so it raises :class:`UnknownQueryError`
    with close names, unless it could be a bare table reference: pass the store's
    ``tables`` so that ``ContainerLogV2`` on its own still runs as KQL. Without them, only
    identifiers that resemble a query name (close matches, or ``snake_case``) are refused.
    """
    text = arg.strip()
    query = by_name().get(_normalize(text))
    if query is not None:
        return query.text
    if text.lower().endswith(QUERY_SUFFIX) and not any(c in text for c in "\n|"):
        path = Path(text).expanduser()
        if path.is_file():
            return path.read_text(encoding="utf-8")
        stem = _normalize(path.name.removesuffix(path.suffix))
        hint = f" (the bundled query is just {stem!r})" if stem in by_name() else ""
        raise UnknownQueryError(f"no such query file: {text}{hint}", text)
    if _IDENTIFIER.fullmatch(text) and text not in tables:
        error = _unknown(text)
        snake = ("_" in text or "-" in text) and text.islower()
        if tables or error.suggestions or snake:
            raise error
    return arg

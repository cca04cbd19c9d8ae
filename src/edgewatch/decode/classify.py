"""Which gadget printed this line? Answered from the JSON's keys, cheaply.

``sniff`` looks at raw bytes before any parsing. IG sorts keys, so the first few bytes
of a line (``{"accept_fd"``, ``{"addresses"``, ``{"args":``) name the gadget in one dict
lookup. Lines that do not start that way are matched against the gadgets' marker keys;
that relies on a property of JSON: inside a string every ``"`` is escaped, so the byte
sequence ``"qr":`` can only be a key. Either way the guess is only a guess: the strict
decode plan that follows requires the gadget's marker keys, and ``infer`` — the same
rules on a parsed dict — is the authority for anything the fast path refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgewatch.events.base import GadgetSpec, Layout
from edgewatch.events.registry import BY_FAMILY, GADGETS

PREFIX_LEN = 7


def _prefix(key: str) -> bytes:
    return (b'{"' + key.encode() + b'":')[:PREFIX_LEN]


#: First bytes of a current-layout line -> the gadget that prints that first key.
FIRST_KEY_PREFIXES: dict[bytes, GadgetSpec] = {
    _prefix(g.first_key): g for g in GADGETS if g.first_key is not None
}
# trace_open and trace_signal both start with "error"; one key tells them apart.
ERROR_PREFIX = _prefix("error")
ERROR_PREFIX_GADGETS = (BY_FAMILY["open"], BY_FAMILY["signal"])
OPEN_MARKER = b'"fname":'
_BY_PREFIX = FIRST_KEY_PREFIXES
_ERROR_PREFIX = ERROR_PREFIX
_OPEN, _SIGNAL = ERROR_PREFIX_GADGETS
_OPEN_MARKER = OPEN_MARKER


def sniff(line: bytes) -> GadgetSpec | None:
    """Guess the gadget of one JSON object line from its bytes; None if nothing matches."""
    prefix = line[:PREFIX_LEN]
    spec = _BY_PREFIX.get(prefix)
    if spec is not None:
        return spec
    if prefix == _ERROR_PREFIX:
        return _OPEN if _OPEN_MARKER in line else _SIGNAL
    for candidate in GADGETS:
        for marker in candidate.byte_markers:
            if marker not in line:
                break
        else:
            return candidate
    return None


def infer(obj: Mapping[str, Any]) -> GadgetSpec | None:
    """The gadget whose marker keys are all top-level keys of ``obj``."""
    for spec in GADGETS:
        if all(m in obj for m in spec.markers):
            if spec.family == "tcp" and not isinstance(obj.get("dst"), dict):
                continue
            if spec.family == "bind" and not isinstance(obj.get("addr"), dict):
                continue
            return spec
    return None


def looks_like_ig(obj: Mapping[str, Any]) -> bool:
    """True when an object carries IG's common blocks, for lines of an already-known gadget."""
    return any(k in obj for k in ("k8s", "runtime", "proc", "fprocess", "timestamp_raw", "comm"))


def layout_of_obj(spec: GadgetSpec, obj: Mapping[str, Any]) -> Layout:
    return Layout.CURRENT if isinstance(obj.get(spec.process_block), dict) else Layout.FLAT

"""Alerts are events too: one record per detection, the same whichever sink takes it.

An alert names the rule (with severity and MITRE ATT&CK), the entity it is about (the
pod, or the host process), what was seen (``detail``) and the ids of the evidence
events (:func:`edgewatch.tables.schema.event_id`, the ``EventId`` column of the event
tables in Sentinel), so an analyst can pivot from the alert to the raw events in either
place. ``alert_id`` is stable for the same rule, entity and first evidence: an alert
delivered twice is recognisable as one.

Repeats are deduplicated per rule and entity within the rule's suppression window;
what was suppressed is counted, never silently lost.
"""

from __future__ import annotations

from collections import Counter
from hashlib import blake2b

import msgspec

from edgewatch.detect.state import BoundedMap


class Alert(msgspec.Struct, kw_only=True, gc=False):
    """One detection. Field names are the store's columns; Sentinel's are PascalCase."""

    alert_id: str
    time_ns: int
    rule: str
    title: str
    severity: str
    tactic: str
    technique: str
    technique_name: str = ""
    origin: str = "builtin"
    detail: str = ""
    entity: str = ""
    node: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    container_id: str = ""
    image: str = ""
    comm: str = ""
    pid: int = 0
    pcomm: str = ""
    gadget: str = ""
    evidence_ids: list[str] = msgspec.field(default_factory=list)
    #: hits that made this alert (a threshold rule's count; 1 otherwise)
    event_count: int = 1
    first_ns: int = 0
    last_ns: int = 0


def alert_id(rule: str, entity: str, first_evidence: str, time_ns: int) -> str:
    h = blake2b(digest_size=16)
    h.update(f"{rule}\0{entity}\0{first_evidence}\0{time_ns}".encode())
    return h.hexdigest()


class Deduplicator:
    """Lets the first alert per (rule, entity) through, then suppresses for ``window``."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self.last: BoundedMap[tuple[str, str], int] = BoundedMap("alert_dedup", max_keys)
        self.suppressed: Counter[str] = Counter()

    def suppressing(self, rule: str, entity: str, now_ns: int, window_ns: int) -> bool:
        """Whether an alert for (rule, entity) now would be suppressed (counted if so)."""
        last = self.last.peek((rule, entity))
        if last is not None and 0 <= now_ns - last < window_ns:
            self.suppressed[rule] += 1
            return True
        return False

    def admit(self, rule: str, entity: str, now_ns: int, window_ns: int) -> bool:
        key = (rule, entity)
        last = self.last.peek(key)
        if last is not None and 0 <= now_ns - last < window_ns:
            self.suppressed[rule] += 1
            return False
        self.last.put(key, now_ns, now_ns)
        return True


_encoder = msgspec.json.Encoder()


def to_json(alert: Alert) -> bytes:
    return _encoder.encode(alert)

"""The agent's own figures: drops by reason and destination health, from status.json.

The store holds events, not what the agent dropped on the way; the agent rewrites
``<state_dir>/status.json`` every few seconds (``edgewatch status`` reads the same file).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from edgewatch.web.models import AgentStatus, Table

DROP_COLUMNS = ["reason", "gadget", "events"]
DESTINATION_COLUMNS = [
    "destination",
    "queued",
    "bytes_on_disk",
    "oldest_unsent_s",
    "sent",
    "last_success_s_ago",
    "last_error",
]


def _empty(note: str, path: Path | None = None) -> AgentStatus:
    return AgentStatus(
        present=False,
        path=str(path) if path else None,
        drops=Table(columns=DROP_COLUMNS, rows=[]),
        destinations=Table(columns=DESTINATION_COLUMNS, rows=[]),
        note=note,
    )


def read_status(path: Path | None) -> AgentStatus:
    if path is None:
        return _empty(
            "no agent status file given: start the dashboard with --status "
            "<state_dir>/status.json (or --config) to see drops and destination health"
        )
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return _empty(f"no status file at {path}: is the agent running?", path)
    except (OSError, ValueError) as exc:
        return _empty(f"cannot read {path}: {exc}", path)
    if not isinstance(doc, dict):
        return _empty(f"{path} is not an agent status file", path)
    now = time.time()
    stats = doc.get("stats") if isinstance(doc.get("stats"), dict) else {}
    drops: list[list[str | int | float | bool | None]] = []
    for key, count in sorted((stats.get("dropped") or {}).items(), key=lambda kv: -kv[1]):
        reason, _, gadget = str(key).partition("/")
        drops.append([reason, gadget, int(count)])
    for reason, count in sorted((stats.get("rejected") or {}).items()):
        drops.append([f"rejected: {reason}", "", int(count)])
    destinations: list[list[str | int | float | bool | None]] = []
    for name, d in sorted((doc.get("destinations") or {}).items()):
        if not isinstance(d, dict):
            continue
        last = d.get("last_success")
        destinations.append(
            [
                name,
                int(d.get("queued_events", 0) or 0),
                int(d.get("bytes_on_disk", 0) or 0),
                round(float(d.get("oldest_unsent_age_s", 0) or 0), 1),
                int(d.get("records_sent", 0) or 0),
                None if not last else round(now - float(last), 1),
                str(d.get("last_error") or ""),
            ]
        )
    written = doc.get("written_at")
    return AgentStatus(
        present=True,
        path=str(path),
        age_s=None if written is None else round(now - float(written), 1),
        drops=Table(columns=DROP_COLUMNS, rows=drops),
        destinations=Table(columns=DESTINATION_COLUMNS, rows=destinations),
    )

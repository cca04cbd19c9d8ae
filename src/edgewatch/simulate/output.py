"""Events to the bytes a collector would read, in each shape IG output reaches us in.

``current``
    ``ig run <gadget> -o json`` of IG >= 0.35: one object per line, nested ``proc``.
``flat``
    The same from the image-based gadgets of v0.31-v0.34 (``comm``/``pid`` on top).
``envelope``
    ``ig daemon``'s logs operator (v0.51+): ``{"type":"gadget-data","seq":N,
    "gadget":…,"datasource":…,"timestamp":…,"data":{…}}`` with the key order IG's
    ``pkg/operators/logs/logs.go`` writes, ``seq`` counted per datasource from 0 and
    ``timestamp`` the (slightly later) time of logging in Go's RFC3339Nano.
``cri``
    The container log file kubelet/containerd keeps for an ``ig`` container:
    ``<RFC3339Nano> stdout F <json>``, lines longer than the runtime's limit split
    into ``P`` chunks and a final ``F``. With ``stderr_noise`` the file also carries
    ig's own warnings on ``stderr``, in the logfmt form logrus uses when stderr is a
    pipe rather than a terminal (the ``WARN[0000] …`` form is terminal-only).

Log-line times (envelope, CRI) are the event time plus a small deterministic delay,
never decreasing, so the same events always give the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import BinaryIO

from edgewatch.events import BY_FAMILY, Event, Layout
from edgewatch.simulate.fastjson import Renderer

FORMATS: tuple[str, ...] = ("current", "flat", "envelope", "cri")
#: containerd's default ``max_container_log_line_size``.
DEFAULT_MAX_LINE = 16384
_FLUSH_EVERY = 2048

#: What ig prints on stderr when it starts on a containerd node (older releases warn).
STARTUP_WARNINGS: tuple[str, ...] = (
    'Ignoring runtime "docker" with non-existent socketPath "/run/docker.sock"',
    'Ignoring runtime "cri-o" with non-existent socketPath "/run/crio/crio.sock"',
    'Ignoring runtime "podman" with non-existent socketPath "/run/podman/podman.sock"',
)
#: Warnings ig logs now and then while running (short-lived containers racing enrichment).
RUNTIME_WARNINGS: tuple[str, ...] = (
    "container not found or mismatch in mntns lookup map",
    "container netns not found in netns lookup map",
)
#: Events between two sprinkled runtime warnings.
WARNING_EVERY = 25_000


class GoTime:
    """Go's ``time.RFC3339Nano`` in UTC: trailing zeros of the fraction are dropped."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ns: int) -> str:
        second, frac = divmod(ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        if not frac:
            return self._prefix + "Z"
        return f"{self._prefix}.{frac:09d}".rstrip("0") + "Z"


def _log_delay(event_ns: int) -> int:
    """Time from the event to its log line: 0.1-2.5 ms, derived from the event itself."""
    return 100_000 + (event_ns * 2654435761 >> 9) % 2_400_000


def cri_lines(stamp: str, stream: str, content: bytes, max_line: int) -> list[bytes]:
    """One logical line as CRI log lines: ``P`` chunks of ``max_line`` bytes, then ``F``."""
    head_p = f"{stamp} {stream} P ".encode()
    head_f = f"{stamp} {stream} F ".encode()
    if len(content) <= max_line:
        return [head_f + content + b"\n"]
    out = []
    for start in range(0, len(content), max_line):
        chunk = content[start : start + max_line]
        last = start + max_line >= len(content)
        out.append((head_f if last else head_p) + chunk + b"\n")
    return out


def _logfmt_warning(ns: int, message: str) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))
    escaped = message.replace("\\", "\\\\").replace('"', '\\"')
    return f'time="{stamp}" level=warning msg="{escaped}"'.encode()


def write(
    events: Iterable[Event],
    out: BinaryIO,
    format: str = "current",
    *,
    max_line: int = DEFAULT_MAX_LINE,
    stderr_noise: bool = False,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
) -> int:
    """Write ``events`` to ``out`` in ``format``; returns the number of events written.

    ``max_line`` and ``stderr_noise`` apply to ``cri`` only. ``progress`` is called with
    the running event count every ``progress_every`` events and once at the end.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    if max_line < 1:
        raise ValueError("max_line must be >= 1")
    if progress_every < 1:
        raise ValueError("progress_every must be >= 1")
    renderer = Renderer(Layout.FLAT if format == "flat" else Layout.CURRENT)
    if format in ("current", "flat"):
        line: _LineMaker = _plain_line
    elif format == "envelope":
        line = _EnvelopeLine()
    else:
        line = _CriLine(max_line, stderr_noise)
    functions: dict[type[Event], Callable[[Event], bytes]] = {}
    buf: list[bytes] = []
    count = 0
    next_progress = progress_every if progress is not None else -1
    for event in events:
        render = functions.get(type(event))
        if render is None:
            render = functions[type(event)] = renderer.function(type(event))
        line(buf, event, render(event), count)
        count += 1
        if len(buf) >= _FLUSH_EVERY:
            out.write(b"".join(buf))
            buf.clear()
        if count == next_progress:
            assert progress is not None
            progress(count)
            next_progress += progress_every
    if buf:
        out.write(b"".join(buf))
    if progress is not None:
        progress(count)
    return count


#: Appends the output line(s) of one rendered event: (buffer, event, payload, index).
_LineMaker = Callable[[list[bytes], Event, bytes, int], None]


def _plain_line(buf: list[bytes], event: Event, payload: bytes, index: int) -> None:
    buf.append(payload + b"\n")


class _LogClock:
    """When a log line about an event is written: a little later, and never backwards."""

    def __init__(self) -> None:
        self.last = 0
        self.gotime = GoTime()

    def stamp(self, event_ns: int) -> tuple[int, str]:
        logged = max(event_ns + _log_delay(event_ns), self.last)
        self.last = logged
        return logged, self.gotime(logged)


class _EnvelopeLine:
    """The logs operator's envelope, ``seq`` counted per datasource."""

    def __init__(self) -> None:
        self.clock = _LogClock()
        self.seqs: dict[str, int] = {}
        self.heads: dict[str, bytes] = {}

    def __call__(self, buf: list[bytes], event: Event, payload: bytes, index: int) -> None:
        _, stamp = self.clock.stamp(event.time_ns)
        family = event.gadget_family
        seq = self.seqs.get(family, 0)
        self.seqs[family] = seq + 1
        head = self.heads.get(family)
        if head is None:
            spec = BY_FAMILY[family]
            head = self.heads[family] = (
                f',"gadget":"{spec.gadget}","datasource":"{spec.datasource}","timestamp":"'
            ).encode()
        buf.append(
            b'{"type":"gadget-data","seq":'
            + str(seq).encode()
            + head
            + stamp.encode()
            + b'","data":'
            + payload
            + b"}\n"
        )


class _CriLine:
    """kubelet's CRI log format, with ig's stderr warnings when asked."""

    def __init__(self, max_line: int, stderr_noise: bool) -> None:
        self.clock = _LogClock()
        self.max_line = max_line
        self.stderr_noise = stderr_noise

    def __call__(self, buf: list[bytes], event: Event, payload: bytes, index: int) -> None:
        logged, stamp = self.clock.stamp(event.time_ns)
        if self.stderr_noise:
            gotime = self.clock.gotime
            if index == 0:
                for i, message in enumerate(STARTUP_WARNINGS):
                    at = logged - (800 - 3 * i) * 1_000_000
                    buf.extend(
                        cri_lines(gotime(at), "stderr", _logfmt_warning(at, message), self.max_line)
                    )
            elif index % WARNING_EVERY == 0:
                message = RUNTIME_WARNINGS[(index // WARNING_EVERY) % len(RUNTIME_WARNINGS)]
                buf.extend(
                    cri_lines(stamp, "stderr", _logfmt_warning(logged, message), self.max_line)
                )
        if len(payload) <= self.max_line:
            buf.append(f"{stamp} stdout F ".encode() + payload + b"\n")
        else:
            buf.extend(cri_lines(stamp, "stdout", payload, self.max_line))

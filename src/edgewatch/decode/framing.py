"""What wraps IG's JSON on the way to us: the logs-operator envelope, CRI and Docker logs.

* ``ig daemon`` with the logs operator writes ``{"type":"gadget-data","gadget":…,
  "data":{…}}`` (``data`` may be an array; ``gadget-data-empty`` carries none).
* kubelet's CRI log files prefix each line with ``<RFC3339Nano> <stream> <tag> `` and
  split lines longer than the runtime's buffer into ``P`` chunks ending with an ``F``.
* Docker's json-file driver writes ``{"log":"…\\n","stream":…,"time":…}`` and marks
  a partial line by the missing trailing newline.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class Envelope(msgspec.Struct, frozen=True, gc=False):
    type: str
    gadget: str = ""
    datasource: str = ""
    instanceID: str = ""  # noqa: N815 - IG's key
    seq: int = 0
    data: msgspec.Raw = msgspec.Raw(b"")
    # gadget-log records carry a message; IG has used both names.
    msg: str = ""
    message: str = ""
    level: str = ""


class DockerLine(msgspec.Struct, frozen=True, gc=False):
    log: str
    stream: str = "stdout"
    time: str = ""


ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)
DOCKER_DECODER = msgspec.json.Decoder(DockerLine)
RAW_LIST_DECODER = msgspec.json.Decoder(list[msgspec.Raw])

ENVELOPE_PREFIX = b'{"type":"gadget-'
DOCKER_PREFIX = b'{"log":'


@dataclass(slots=True)
class CriLine:
    stream: str
    partial: bool
    content: bytes


class CriFormatError(ValueError):
    pass


def parse_cri(line: bytes) -> CriLine:
    """Split ``2016-10-06T00:17:09.669794202Z stdout F {...}`` into its parts."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        raise CriFormatError("CRI line needs '<time> <stream> <tag> <content>'")
    ts, stream, tag = parts[0], parts[1], parts[2]
    if len(ts) < 20 or ts[4:5] != b"-" or b"T" not in ts:
        raise CriFormatError(f"CRI time {ts[:40]!r} is not RFC 3339")
    if stream not in (b"stdout", b"stderr"):
        raise CriFormatError(f"CRI stream {stream[:20]!r} is neither stdout nor stderr")
    flag = tag.split(b":", 1)[0]
    if flag not in (b"F", b"P"):
        raise CriFormatError(f"CRI tag {tag[:20]!r} is neither F nor P")
    content = parts[3] if len(parts) == 4 else b""
    return CriLine(stream.decode(), flag == b"P", content)


def looks_like_cri(line: bytes) -> bool:
    return line[:1].isdigit() and line[4:5] == b"-"

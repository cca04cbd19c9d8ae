"""The Logs Ingestion API as documented: ``POST /dataCollectionRules/{id}/streams/{stream}``.

Checks run in the order a request meets them at the real front door — route and api
version, bearer token (signature, expiry, audience ``https://monitor.azure.com``), DCR,
role assignment, stream, content type, size, gzip, JSON shape — and each failure gets the
documented status with the documented error body ``{"error": {"code", "message"}}`` plus
the ``x-ms-error-code`` header. A 400 is all-or-nothing: nothing from a refused call is
stored. Accepted rows are read back as the workspace would show them: columns not
declared by the stream dropped, string values cut at 64 KB.

Cheap enough not to be what a delivery benchmark measures: the body is validated as a
JSON array of objects in one C pass (msgspec, into field-less structs) and kept as the
decompressed bytes; rows are only built, filtered and truncated when a test asks for
them. Only a ``reject`` predicate, which needs the records, makes a call decode them.

Error *codes* other than ``ContentLengthLimitExceeded`` (seen in real 413 answers) are
not published by Microsoft; the ones used here are descriptive stand-ins.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from isal import isal_zlib

from tests.fake_azure.server import Request, Response
from tests.fake_azure.tokens import InvalidTokenError, TokenIssuer

API_VERSION = "2023-01-01"
ROUTE = re.compile(r"^/dataCollectionRules/(?P<dcr>[^/]+)/streams/(?P<stream>[^/]+)/?$")
#: Token audiences Azure Monitor accepts (public cloud).
AUDIENCES = {"https://monitor.azure.com", "https://monitor.azure.com/"}
MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour, applied to the next ingestion request."""

    kind: Literal["status", "slow", "stall", "drop"]
    status: int = 0
    code: str = ""
    retry_after: float | None = None
    seconds: float = 0.0

    @classmethod
    def throttle(cls, retry_after: float | None = 1) -> Fault:
        return cls("status", 429, "TooManyRequests", retry_after)

    @classmethod
    def unavailable(cls, retry_after: float | None = None) -> Fault:
        return cls("status", 503, "ServiceUnavailable", retry_after)

    @classmethod
    def server_error(cls) -> Fault:
        return cls("status", 500, "InternalServerError")

    @classmethod
    def forbidden(cls) -> Fault:
        return cls("status", 403, "Forbidden")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally, after a delay."""
        return cls("slow", seconds=seconds)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Hold the request, then drop the connection without having stored anything."""
        return cls("stall", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Read the request, store nothing, close the connection without a response."""
        return cls("drop")


@dataclass(frozen=True)
class IngestCall:
    """What one ingestion request looked like on the wire, and how it was answered."""

    dcr: str
    stream: str
    status: int
    code: str
    wire_bytes: int
    raw_bytes: int
    records: int
    content_encoding: str
    content_type: str
    client_request_id: str
    user_agent: str
    appid: str


class _Object(msgspec.Struct):
    """Any JSON object: decoding into it checks the shape and skips the fields."""


_objects = msgspec.json.Decoder(list[_Object]).decode


@dataclass(frozen=True)
class Accepted:
    """The decompressed body of one accepted call and the stream's declared columns."""

    #: None when the stand-in was told not to keep bodies (long benchmarks)
    body: bytes | None
    records: int
    columns: frozenset[str] | None

    def rows(self) -> list[dict[str, Any]]:
        if self.body is None:
            raise RuntimeError("rows were not kept (keep_rows=False); only counts are")
        columns = self.columns
        return [
            {k: _truncate(v) for k, v in rec.items() if columns is None or k in columns}
            for rec in msgspec.json.decode(self.body)
        ]


@dataclass
class DcrState:
    #: stream -> declared columns (None: accept any column)
    streams: dict[str, frozenset[str] | None]
    #: recent (time, bytes) for the per-minute limits
    window: deque[tuple[float, int]] = field(default_factory=deque)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json(
        status,
        {"error": {"code": code, "message": message}},
        {"x-ms-error-code": code, **(headers or {})},
    )


def _truncate(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_BYTES // 4:
        raw = value.encode("utf-8")
        if len(raw) > MAX_FIELD_BYTES:
            return raw[:MAX_FIELD_BYTES].decode("utf-8", "ignore")
    return value


class Ingestion:
    """State and behaviour of the ingestion endpoint."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self.lock = threading.Lock()
        #: the documented limit on one call, applied to the bytes on the wire
        self.max_body_bytes = 1024 * 1024
        #: tolerance for the decompressed array (the SDK's own chunks reach ~1.05 MB)
        self.max_uncompressed_bytes = 1_101_004
        self.max_requests_per_minute = 12_000
        self.max_bytes_per_minute = 2 * 1000**3
        self.dcrs: dict[str, DcrState] = {}
        #: (appid, dcr) pairs holding Monitoring Metrics Publisher
        self.roles: set[tuple[str, str]] = set()
        self.faults: deque[Fault] = deque()
        self.reject: Callable[[dict[str, Any]], bool] | None = None
        #: accepted calls per (dcr, stream), in order
        self.accepted: dict[tuple[str, str], list[Accepted]] = defaultdict(list)
        self.calls: list[IngestCall] = []
        #: bumped by ``FakeAzure.reset``: a request that started before (a stalled one
        #: outliving its test) is neither stored nor logged after it
        self.generation = 0
        #: keep accepted bodies for ``rows``; off, only the counts are kept
        self.keep_rows = True

    # -- the endpoint -----------------------------------------------------------------

    def handle(self, req: Request) -> Response | None:
        m = ROUTE.match(req.path)
        if m is None:
            return None
        dcr_id, stream = m["dcr"], m["stream"]
        generation = self.generation
        appid = ""
        resp: Response
        records = 0
        raw = b""
        with self.lock:
            fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.kind in ("slow", "stall"):
            time.sleep(fault.seconds)
        if fault is not None and fault.kind in ("stall", "drop"):
            resp = Response(0, drop=True)
        elif fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            resp = _error(fault.status, fault.code, f"injected {fault.status}", headers)
        else:
            resp, appid, records, raw = self._ingest(req, dcr_id, stream, generation)
        if generation == self.generation:
            self._log(req, dcr_id, stream, resp, appid, records, len(raw))
        return resp

    def rows(self, dcr_id: str, stream: str) -> list[dict[str, Any]]:
        with self.lock:
            calls = list(self.accepted.get((dcr_id, stream), ()))
        return [row for call in calls for row in call.rows()]

    def row_count(self, dcr_id: str, stream: str) -> int:
        with self.lock:
            return sum(call.records for call in self.accepted.get((dcr_id, stream), ()))

    def _ingest(
        self, req: Request, dcr_id: str, stream: str, generation: int
    ) -> tuple[Response, str, int, bytes]:
        nothing = 0
        if req.method != "POST":
            return _error(405, "MethodNotAllowed", "only POST is supported"), "", nothing, b""
        if req.query.get("api-version") != API_VERSION:
            msg = f"api-version must be {API_VERSION}"
            return _error(400, "InvalidApiVersion", msg), "", nothing, b""
        auth = req.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            resp = _error(401, "InvalidToken", "Authorization: Bearer token is required")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp, "", nothing, b""
        try:
            claims = self.issuer.verify(auth[7:], AUDIENCES)
        except InvalidTokenError as exc:
            resp = _error(401, "InvalidToken", str(exc))
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp, "", nothing, b""
        appid = str(claims.get("appid", ""))
        with self.lock:
            dcr = self.dcrs.get(dcr_id)
            allowed = (appid, dcr_id) in self.roles
        if dcr is None:
            msg = f"Data collection rule with immutable Id '{dcr_id}' not found."
            return _error(404, "NotFound", msg), appid, nothing, b""
        if not allowed:
            msg = (
                "The authentication token provided does not have access to ingest data for "
                f"the data collection rule with immutable Id '{dcr_id}'."
            )
            return _error(403, "OperationFailed", msg), appid, nothing, b""
        if stream not in dcr.streams:
            msg = f"Stream '{stream}' is not declared in data collection rule '{dcr_id}'."
            return _error(404, "InvalidStream", msg), appid, nothing, b""
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            msg = "Content-Type must be application/json"
            return _error(415, "UnsupportedMediaType", msg), appid, nothing, b""
        if len(req.body) > self.max_body_bytes:
            msg = (
                f"Maximum allowed content length: {self.max_body_bytes} bytes (1 MB). "
                f"Provided content length: {len(req.body)} bytes."
            )
            return _error(413, "ContentLengthLimitExceeded", msg), appid, nothing, b""
        encoding = (req.headers.get("Content-Encoding") or "").strip().lower()
        raw = req.body
        if encoding == "gzip":
            # ISA-L's inflate: the same result as zlib's, several times faster
            d = isal_zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                raw = d.decompress(req.body, self.max_uncompressed_bytes + 1)
            except (zlib.error, isal_zlib.error) as exc:
                msg = f"Content-Encoding is gzip but the body is not: {exc}"
                return _error(400, "InvalidContentEncoding", msg), appid, nothing, b""
            if len(raw) > self.max_uncompressed_bytes:
                msg = f"Uncompressed content exceeds {self.max_uncompressed_bytes} bytes."
                return _error(413, "ContentLengthLimitExceeded", msg), appid, nothing, b""
            if not d.eof:
                msg = "Content-Encoding is gzip but the gzip stream is truncated"
                return _error(400, "InvalidContentEncoding", msg), appid, nothing, b""
        elif encoding:
            msg = f"Content-Encoding {encoding!r} is not supported"
            return _error(415, "UnsupportedContentEncoding", msg), appid, nothing, b""
        try:
            if not raw.isascii():
                raw.decode("utf-8")  # skipped fields are not checked for it by msgspec
            count = len(_objects(raw))
        except msgspec.ValidationError:
            msg = "Request body must be a JSON array of objects."
            return _error(400, "InvalidRequestFormat", msg), appid, nothing, raw
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            msg = f"Request body is not valid JSON: {exc}"
            return _error(400, "InvalidJson", msg), appid, nothing, raw
        reject = self.reject
        if reject is not None:
            for i, rec in enumerate(msgspec.json.decode(raw)):
                if reject(rec):
                    msg = f"Record at index {i} does not match the stream declaration."
                    return _error(400, "InvalidRecord", msg), appid, nothing, raw
        throttled = self._rate_limit(dcr, len(req.body))
        if throttled is not None:
            return throttled, appid, nothing, raw
        call = Accepted(raw if self.keep_rows else None, count, dcr.streams[stream])
        with self.lock:
            if generation == self.generation:
                self.accepted[(dcr_id, stream)].append(call)
        return Response(204), appid, count, raw

    def _rate_limit(self, dcr: DcrState, size: int) -> Response | None:
        now = time.monotonic()
        with self.lock:
            win = dcr.window
            while win and win[0][0] <= now - 60:
                win.popleft()
            count = len(win)
            volume = sum(b for _, b in win)
            if count < self.max_requests_per_minute and volume + size <= self.max_bytes_per_minute:
                win.append((now, size))
                return None
            wait = max(1, math.ceil(win[0][0] + 60 - now)) if win else 1
        return _error(
            429,
            "TooManyRequests",
            "Request rate or data volume per minute for this data collection rule exceeded.",
            {"Retry-After": str(wait)},
        )

    def _log(
        self,
        req: Request,
        dcr: str,
        stream: str,
        resp: Response,
        appid: str,
        records: int,
        raw_bytes: int,
    ) -> None:
        code = ""
        if resp.body:
            try:
                code = json.loads(resp.body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = ""
        call = IngestCall(
            dcr=dcr,
            stream=stream,
            status=resp.status if not resp.drop else 0,
            code=code,
            wire_bytes=len(req.body),
            raw_bytes=raw_bytes,
            records=records if resp.status == 204 else 0,
            content_encoding=req.headers.get("Content-Encoding") or "",
            content_type=req.headers.get("Content-Type") or "",
            client_request_id=req.headers.get("x-ms-client-request-id") or "",
            user_agent=req.headers.get("User-Agent") or "",
            appid=appid,
        )
        with self.lock:
            self.calls.append(call)

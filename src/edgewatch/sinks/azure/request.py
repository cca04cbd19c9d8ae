"""One Logs Ingestion request: call the SDK, turn whatever happens into an Outcome.

Retries are split cleanly: the SDK client is built with ``retry_total=0`` (see
``config.build_client``), so each ``upload`` is exactly one HTTP attempt, and every
"when to try again" decision is made here — ``Retry-After`` when the service sends it
(429, 503), jittered exponential back-off for other transient failures, a slow fixed
pace for failures only an operator can fix (401/403/404, untrusted TLS). Waiting is the
caller's job: this module never sleeps, so a throttled destination never holds a thread
and the durable buffer keeps the records meanwhile.

A 400 means the service refused the whole call because of something in it. The chunk is
bisected — halves re-sent, the failing half halved again — until the offending records
stand alone; they come back as ``Rejected`` for the dead-letter file while everything
around them is delivered. This relies on a 400 being all-or-nothing for the call, which
is how the API documents it (the body is one JSON array, validated as a whole).
"""

from __future__ import annotations

import io
import json
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from edgewatch.sinks.azure.batch import Chunk
from edgewatch.sinks.azure.config import INGESTION_ROLE, AzureLogsIngestionConfig, RetryConfig
from edgewatch.sinks.azure.outcome import (
    INVALID_RECORD,
    RECORD_TOO_LARGE,
    Outcome,
    Record,
    Rejected,
    Retry,
)

if TYPE_CHECKING:
    from azure.monitor.ingestion import LogsIngestionClient

#: Reasons for which waiting alone will not help; retried at the slow pace, never dropped.
SLOW_REASONS = frozenset({"unauthorized", "forbidden", "not_found", "tls", "client_error"})


class Backoff:
    """Exponential back-off with "equal jitter": half fixed, half random.

    The fixed half keeps a flapping link from being hammered; the random half keeps a
    fleet of nodes that lost the uplink together from coming back in lock-step.
    """

    def __init__(
        self, initial: float, cap: float, rand: Callable[[], float] = random.random
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.failures = 0
        self._rand = rand

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * 2 ** min(self.failures, 32))
        self.failures += 1
        return ceiling / 2 + self._rand() * ceiling / 2

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, classified."""

    reason: str
    message: str
    status: int | None = None
    retry_after: float | None = None
    #: the service refused the content (400) or its size (413): bisect, don't wait
    split: bool = False


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait per the response, as azure-core reads them (ms headers first)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        if name in lowered:
            try:
                return max(0.0, float(lowered[name]) / 1000)
            except ValueError:
                pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_details(exc: HttpResponseError) -> tuple[str, str]:
    """(code, message) from the documented error body, else from the exception."""
    code, message = "", ""
    response = exc.response
    if response is not None:
        code = response.headers.get("x-ms-error-code", "") or ""
        try:
            body = json.loads(response.text() or "{}")
        except (ValueError, TypeError):
            body = {}
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code = str(err.get("code") or code)
            message = str(err.get("message") or "")
    if not message:
        message = str(getattr(exc, "reason", "") or exc.message or "").strip()
    return code, message


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest several layers)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen or len(seen) > 50:
            continue
        seen.add(id(e))
        yield e
        for nxt in (
            getattr(e, "inner_exception", None),
            getattr(e, "reason", None),
            e.__cause__,
            e.__context__,
            *e.args,
        ):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _tls_problem(exc: BaseException) -> str | None:
    for e in _causes(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return e.verify_message or str(e)
        if isinstance(e, ssl.SSLError):
            return str(e)
    return None


class RequestSender:
    """Sends chunks to one DCR and classifies the result. Not thread-safe (holds back-off)."""

    def __init__(
        self,
        client: LogsIngestionClient,
        cfg: AzureLogsIngestionConfig,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.policy: RetryConfig = cfg.retry
        self.backoff = Backoff(
            self.policy.initial_backoff_seconds, self.policy.max_backoff_seconds, rand
        )
        self._rand = rand
        self._level = cfg.batch.gzip_level
        self._ingest_prefix = f"{cfg.endpoint}/dataCollectionRules/"

    # -- one chunk, with bisection --------------------------------------------------

    def send(self, stream: str, chunk: Chunk) -> Outcome:
        """Deliver a chunk; isolate records the service refuses; stop at the first
        failure that needs waiting and report what is still owed."""
        work: deque[Chunk] = deque([chunk])
        delivered = sent_bytes = requests = 0
        rejected: list[Rejected] = []
        budget = self.policy.max_bisect_requests
        while work:
            part = work.popleft()
            requests += 1
            failure = self.post(stream, part)
            if failure is None:
                delivered += len(part)
                sent_bytes += len(part.body)
                self.backoff.reset()
                continue
            if failure.split:
                if len(part) == 1:
                    reason = RECORD_TOO_LARGE if failure.status == 413 else INVALID_RECORD
                    rejected.append(Rejected(part.records, reason, failure.message))
                elif failure.status == 413 or budget >= 2:
                    # a 413 halves the size each time, so it ends quickly on its own
                    if failure.status != 413:
                        budget -= 2
                    work.extendleft(reversed(part.halves(self._level)))
                else:
                    detail = (
                        f"{failure.message} (isolating the bad records took more than "
                        f"max_bisect_requests={self.policy.max_bisect_requests} requests; "
                        f"these {len(part)} records are set aside together)"
                    )
                    rejected.append(Rejected(part.records, INVALID_RECORD, detail))
                continue
            owed: list[Record] = [*part.records]
            for rest in work:
                owed.extend(rest.records)
            retry = Retry(
                self.wait_for(failure), failure.reason, owed, failure.message, failure.status
            )
            return Outcome(delivered, sent_bytes, requests, tuple(rejected), retry)
        return Outcome(delivered, sent_bytes, requests, tuple(rejected))

    def wait_for(self, failure: Failure) -> float:
        if failure.retry_after is not None:
            return min(failure.retry_after, self.policy.max_retry_after_seconds)
        if failure.reason in SLOW_REASONS:
            return self.policy.slow_retry_seconds * (0.9 + 0.2 * self._rand())
        return self.backoff.next()

    # -- one HTTP attempt -----------------------------------------------------------

    def post(self, stream: str, chunk: Chunk) -> Failure | None:
        """One POST through the SDK; None on 204.

        The body goes in as a gzip stream: ``upload()`` passes a readable stream through
        untouched and marks it ``Content-Encoding: gzip`` from its magic bytes.
        """
        try:
            self.client.upload(
                rule_id=self.cfg.dcr_immutable_id,
                stream_name=stream,
                logs=io.BytesIO(chunk.body),
            )
        except Exception as exc:
            return self.classify(exc, stream)
        return None

    def classify(self, exc: BaseException, stream: str) -> Failure:
        dcr = self.cfg.dcr_immutable_id
        where = f"DCR {dcr} stream {stream} at {self.cfg.endpoint}"
        if isinstance(exc, HttpResponseError) and self._from_ingestion(exc):
            return self._http_failure(exc, where)
        tls = _tls_problem(exc)
        if tls is not None:
            return Failure(
                "tls",
                f"TLS certificate verification failed talking to {where}: {tls}. If a proxy "
                "inspects TLS on this network, set ca_bundle to its CA certificate (PEM); "
                "verification is never turned off",
            )
        if isinstance(exc, ClientAuthenticationError):
            # raised by the credential while getting a token: no request reached Azure Monitor
            return Failure(
                "credential",
                f"could not get a token for {self.cfg.audience} ({self.cfg.credential.type} "
                f"identity) to send to {where}: {_first_line(exc)}",
            )
        if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
            return Failure("timeout", f"request to {where} timed out: {_first_line(exc)}")
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return Failure("connection", f"connection to {where} failed: {_first_line(exc)}")
        return Failure("unexpected", f"unexpected {type(exc).__name__} sending to {where}: {exc}")

    def _from_ingestion(self, exc: HttpResponseError) -> bool:
        # a credential can raise an HttpResponseError for *its* token request too
        response = exc.response
        if response is None or exc.status_code is None:
            return False
        url = getattr(getattr(response, "request", None), "url", "") or ""
        return str(url).startswith(self._ingest_prefix)

    def _http_failure(self, exc: HttpResponseError, where: str) -> Failure:
        status = int(exc.status_code or 0)
        code, text = _error_details(exc)
        headers = exc.response.headers if exc.response is not None else {}
        after = parse_retry_after(headers)
        said = f"HTTP {status}" + (f" {code}" if code else "") + (f": {text}" if text else "")
        role = (
            f"the identity needs the '{INGESTION_ROLE}' role on data collection rule "
            f"{self.cfg.dcr_immutable_id}"
        )
        if status == 400:
            return Failure("bad_request", said, status, after, split=True)
        if status == 413:
            return Failure("too_large", said, status, after, split=True)
        if status == 401:
            return Failure(
                "unauthorized",
                f"{where} refused the token ({said}). Check that the token is for "
                f"{self.cfg.audience} in the DCR's tenant and that {role}; retrying slowly, "
                "nothing is dropped",
                status,
                after,
            )
        if status == 403:
            return Failure(
                "forbidden",
                f"{where} denied ingestion ({said}): {role} (a new role assignment can take "
                "up to 30 minutes to apply); retrying slowly, nothing is dropped",
                status,
                after,
            )
        if status == 404:
            return Failure(
                "not_found",
                f"{where} not found ({said}): check dcr_immutable_id, the stream name in "
                "the DCR's streamDeclarations, and that the endpoint is in the DCR's region",
                status,
                after,
            )
        if status == 429:
            return Failure("throttled", f"{where} throttled the request ({said})", status, after)
        if status == 408:
            return Failure("timeout", f"{where} timed out the request ({said})", status, after)
        if status == 503:
            return Failure(
                "unavailable",
                f"{where} unavailable ({said}); if this persists, check that {role} "
                "(the service also answers 503 while a role assignment propagates)",
                status,
                after,
            )
        if status >= 500:
            return Failure("server_error", f"{where} failed ({said})", status, after)
        return Failure("client_error", f"{where} refused the request ({said})", status, after)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]

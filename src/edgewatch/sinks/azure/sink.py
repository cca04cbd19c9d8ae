"""Delivery to one Logs Ingestion destination: batch, send, account — no buffering, no sleeping.

``AzureDelivery.send(stream, records)`` is called by the delivery loop that drains the
durable buffer. It returns an ``Outcome``: what was delivered, which records to
dead-letter, and — when something needs waiting — which records are still owed and how
long to wait. The loop sleeps and calls ``send`` again with exactly the owed records, so
a throttle in the middle of a batch never re-sends the part Azure already has.

Health is kept here because only here is the detail known: the last success, the last
error as an operator-readable sentence, and counters by reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from edgewatch.sinks.azure.batch import Batcher, Plan
from edgewatch.sinks.azure.config import (
    AzureLogsIngestionConfig,
    build_client,
    build_credential,
)
from edgewatch.sinks.azure.outcome import Outcome, Record, Rejected, Retry
from edgewatch.sinks.azure.request import SLOW_REASONS, RequestSender

log = logging.getLogger("edgewatch.sinks.azure")


@dataclass(frozen=True, slots=True)
class Health:
    """A snapshot; safe to hand to the web UI or the metrics exporter."""

    destination: str
    last_success: float | None
    last_error: str | None
    last_error_time: float | None
    records_sent: int
    bytes_sent: int
    requests: int
    retries: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    #: failures in a row since the last accepted request
    consecutive_failures: int = 0


class AzureDelivery:
    """Sends record lists to one DCR through the Azure Monitor Logs Ingestion API.

    One delivery thread per instance (the back-off state is per destination);
    ``health()`` may be called from any thread.
    """

    def __init__(self, cfg: AzureLogsIngestionConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        # built here, not per request: the credential caches its token and the client
        # keeps its connections alive across sends
        self._credential = build_credential(cfg)
        self._client = build_client(cfg, self._credential)
        self._batcher = Batcher(cfg.batch.limits())
        self._sender = RequestSender(self._client, cfg)
        self._lock = threading.Lock()
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._last_error_time: float | None = None
        self._records_sent = 0
        self._bytes_sent = 0
        self._requests = 0
        self._retries: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._consecutive = 0

    def __repr__(self) -> str:
        return (
            f"AzureDelivery(name={self.name!r}, endpoint={self.cfg.endpoint!r}, "
            f"dcr={self.cfg.dcr_immutable_id!r}, identity={self.cfg.credential.type!r})"
        )

    def stream_for(self, family: str) -> str | None:
        return self.cfg.stream_for(family)

    def send(self, stream: str, records: Sequence[Record]) -> Outcome:
        """Send ``records`` to ``stream``; never raises for delivery problems.

        Chunks go out in order; the first one that must wait stops the call, and its
        records plus all later ones are returned as owed in ``outcome.retry``.
        """
        return self._send(stream, self._batcher.plan(records))

    def send_encoded(self, stream: str, records: Sequence[bytes]) -> Outcome:
        """As ``send``, for records that are already their compact JSON (as the disk
        buffer keeps them): nothing is encoded again, and the records in the outcome's
        ``rejected`` and ``retry`` are the same byte strings."""
        return self._send(stream, self._batcher.plan_encoded(records))

    def _send(self, stream: str, plan: Plan) -> Outcome:
        delivered = sent_bytes = requests = 0
        rejected: list[Rejected] = list(plan.rejected)
        retry: Retry | None = None
        for i, chunk in enumerate(plan.chunks):
            got = self._sender.send(stream, chunk)
            delivered += got.delivered
            sent_bytes += got.bytes_sent
            requests += got.requests
            rejected.extend(got.rejected)
            if got.retry is not None:
                owed = list(got.retry.records)
                for later in plan.chunks[i + 1 :]:
                    owed.extend(later.records)
                r = got.retry
                retry = Retry(r.after_seconds, r.reason, owed, r.message, r.status)
                break
        outcome = Outcome(delivered, sent_bytes, requests, tuple(rejected), retry)
        self._account(stream, outcome)
        return outcome

    def health(self) -> Health:
        with self._lock:
            return Health(
                destination=self.name,
                last_success=self._last_success,
                last_error=self._last_error,
                last_error_time=self._last_error_time,
                records_sent=self._records_sent,
                bytes_sent=self._bytes_sent,
                requests=self._requests,
                retries=dict(self._retries),
                rejected=dict(self._rejected),
                consecutive_failures=self._consecutive,
            )

    def close(self) -> None:
        self._client.close()
        close = getattr(self._credential, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> AzureDelivery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounting -------------------------------------------------------------------

    def _account(self, stream: str, outcome: Outcome) -> None:
        now = time.time()
        with self._lock:
            self._records_sent += outcome.delivered
            self._bytes_sent += outcome.bytes_sent
            self._requests += outcome.requests
            if outcome.delivered:
                self._last_success = now
            for rej in outcome.rejected:
                self._rejected[rej.reason] += len(rej.records)
            if outcome.retry is not None:
                self._retries[outcome.retry.reason] += 1
                self._last_error = outcome.retry.message
                self._last_error_time = now
                self._consecutive += 1
            elif outcome.requests:
                self._consecutive = 0
        for rej in outcome.rejected:
            log.warning(
                "%s: %d record(s) for %s rejected (%s): %s",
                self.name,
                len(rej.records),
                stream,
                rej.reason,
                rej.detail,
            )
        retry = outcome.retry
        if retry is not None:
            loud = retry.reason in SLOW_REASONS or retry.reason == "credential"
            level = logging.ERROR if loud else logging.WARNING
            log.log(
                level,
                "%s: %s; %d record(s) kept, retry in %.1fs",
                self.name,
                retry.message,
                len(retry.records),
                retry.after_seconds,
            )

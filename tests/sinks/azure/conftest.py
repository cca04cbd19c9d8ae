"""One fake Azure per session; each test gets it reset and the node's identity env set.

The sink is always built from an ``AzureLogsIngestionConfig`` the way the agent builds
it: https endpoint, ``ca_bundle`` to trust the fake's CA, a managed identity found by
azure-identity through its environment. Tests only shorten the back-off *settings*.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from edgewatch.sinks.azure import AzureDelivery, AzureLogsIngestionConfig
from edgewatch.sinks.azure.outcome import Record, Rejected, Retry
from tests.fake_azure import FakeAzure, random_dcr_id

DCR = random_dcr_id()
OTHER_DCR = random_dcr_id()
STREAM = "Custom-EdgeWatchNetwork"
DNS_STREAM = "Custom-EdgeWatchDns"
MI_CLIENT_ID = "6d7a4e0c-1b0e-4a51-9c7e-5f0d1f3f0a01"
USER_MI_CLIENT_ID = "0c2d6b4e-7f51-4d0a-8a3b-3e7c9d1e2f02"

#: Environment variables azure-identity reads to pick a managed-identity flow. Cleared
#: for every test so only the flow the test sets is visible.
MI_ENV = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_TOKEN_CREDENTIALS",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
)

FAST_RETRY = {
    "initial_backoff_seconds": 0.01,
    "max_backoff_seconds": 0.05,
    "slow_retry_seconds": 0.05,
}


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "fake-azure-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def fake_session(ca: trustme.CA) -> Iterator[FakeAzure]:
    with FakeAzure(ca) as fake:
        fake.add_dcr(DCR, [STREAM, DNS_STREAM])
        fake.add_dcr(OTHER_DCR, [STREAM])
        fake.system_identity(MI_CLIENT_ID, grant=[DCR])
        yield fake


@pytest.fixture
def fake(fake_session: FakeAzure, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAzure]:
    """The fake, reset, with this node's managed identity reachable the IMDS way.

    After every test, every request the fake saw is checked against the size limits.
    """
    fake_session.reset()
    fake_session.set_limits(requests_per_minute=12_000, bytes_per_minute=2 * 1000**3)
    fake_session.grant(MI_CLIENT_ID, DCR)
    for name in MI_ENV:
        monkeypatch.delenv(name, raising=False)
    for k, v in fake_session.imds_env().items():
        monkeypatch.setenv(k, v)
    yield fake_session
    for call in fake_session.calls:
        assert call.wire_bytes <= 1_000_000, call
        assert call.raw_bytes <= 1024 * 1024, call


@pytest.fixture
def make_cfg(fake: FakeAzure, ca_bundle: Path) -> Callable[..., AzureLogsIngestionConfig]:
    def make(**overrides: Any) -> AzureLogsIngestionConfig:
        data: dict[str, Any] = {
            "type": "azure_logs_ingestion",
            "name": "sentinel",
            "endpoint": fake.endpoint,
            "dcr_immutable_id": DCR,
            "ca_bundle": str(ca_bundle),
            "retry": dict(FAST_RETRY),
            "timeouts": {"connect_seconds": 5, "read_seconds": 5},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return AzureLogsIngestionConfig.model_validate(data)

    return make


@pytest.fixture
def delivery(make_cfg: Callable[..., AzureLogsIngestionConfig]) -> Iterator[AzureDelivery]:
    with AzureDelivery(make_cfg()) as dlv:
        yield dlv


@dataclass
class Drive:
    """What a delivery loop saw while pushing one batch through to the end."""

    delivered: int = 0
    sends: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    @property
    def rejected_records(self) -> list[Record]:
        return [r for rej in self.rejected for r in rej.records]


def drive(
    dlv: AzureDelivery,
    stream: str,
    records: Sequence[Record],
    *,
    max_sends: int = 100,
    sleep: Callable[[float], None] = time.sleep,
) -> Drive:
    """The delivery loop in miniature: send, wait as told, resend exactly what is owed."""
    seen = Drive()
    pending: Sequence[Record] = records
    while True:
        if seen.sends >= max_sends:
            raise AssertionError(f"not done after {max_sends} sends; last: {seen.retries[-1:]}")
        out = dlv.send(stream, pending)
        seen.sends += 1
        seen.delivered += out.delivered
        seen.rejected.extend(out.rejected)
        if out.retry is None:
            return seen
        seen.retries.append(out.retry)
        seen.waits.append(out.retry.after_seconds)
        sleep(out.retry.after_seconds)
        pending = out.retry.records


def records(n: int, *, start: int = 0, pad: int = 0) -> list[dict[str, Any]]:
    """Network-session rows as the mapper would shape them, each with a unique ``Seq``."""
    out = []
    for i in range(start, start + n):
        out.append(
            {
                "TimeGenerated": f"2026-11-27T01:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
                "Seq": i,
                "Computer": f"edge-node-{i % 7}",
                "PodNamespace": ("shop", "kube-system", "payments")[i % 3],
                "PodName": f"checkout-7d9f{i % 97:02d}-x{i % 13}",
                "ContainerName": "app",
                "SrcIpAddr": f"10.42.{i % 256}.{(i * 7) % 256}",
                "DstIpAddr": f"20.{(i * 3) % 256}.{(i * 11) % 256}.{(i * 13) % 256}",
                "DstPortNumber": (443, 53, 8080, 5432)[i % 4],
                "NetworkProtocol": "TCP",
                "ProcessName": ("curl", "python3", "java", "nginx")[i % 4],
                "ProcessId": 1000 + i % 30000,
                "Note": "x" * pad,
            }
        )
    return out


def seqs(rows: Sequence[Record]) -> list[int]:
    return [int(r["Seq"]) for r in rows]

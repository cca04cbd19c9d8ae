"""TLS is verified on every hop, and a failure says how to fix it instead of going insecure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from edgewatch.sinks.azure import AzureConfigError, AzureDelivery, AzureLogsIngestionConfig
from tests.fake_azure import DEFAULT_TENANT, FakeAzure
from tests.sinks.azure.conftest import DCR, STREAM, records, seqs

MakeCfg = Callable[..., AzureLogsIngestionConfig]


@pytest.fixture
def stranger_bundle(tmp_path: Path) -> Path:
    """A CA bundle that does not contain the fake's CA."""
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_a_certificate_outside_the_bundle_is_refused_with_a_clear_error(
    fake: FakeAzure, make_cfg: MakeCfg, stranger_bundle: Path
) -> None:
    with AzureDelivery(make_cfg(ca_bundle=str(stranger_bundle))) as dlv:
        out = dlv.send(STREAM, records(5))
    assert out.retry is not None and out.retry.reason == "tls"
    assert "certificate verify failed" in out.retry.message.lower() or (
        "certificate" in out.retry.message.lower()
    )
    assert "ca_bundle" in out.retry.message
    assert len(out.retry.records) == 5
    assert fake.calls == [] and fake.rows(DCR, STREAM) == []
    assert dlv.health().retries == {"tls": 1}


def test_without_a_bundle_the_system_store_is_used_not_no_verification(
    fake: FakeAzure, make_cfg: MakeCfg
) -> None:
    with AzureDelivery(make_cfg(ca_bundle=None)) as dlv:
        out = dlv.send(STREAM, records(5))
    assert out.retry is not None and out.retry.reason == "tls"
    assert fake.calls == []


def test_the_bundle_also_protects_the_token_request(
    fake: FakeAzure, make_cfg: MakeCfg, stranger_bundle: Path
) -> None:
    """Behind a TLS-inspecting proxy Entra ID is reached through the same proxy."""
    fake.add_app("9a8b7c6d-0000-4000-8000-000000000001", secret="pw", grant=[DCR])
    cred = {
        "type": "client_secret",
        "tenant_id": DEFAULT_TENANT,
        "client_id": "9a8b7c6d-0000-4000-8000-000000000001",
        "client_secret": "pw",
        "authority_host": fake.authority_host,
        "disable_instance_discovery": True,
    }
    with AzureDelivery(make_cfg(credential=cred, ca_bundle=str(stranger_bundle))) as dlv:
        out = dlv.send(STREAM, records(2))
    assert out.retry is not None and out.retry.reason == "tls"
    with AzureDelivery(make_cfg(credential=cred)) as dlv:
        assert dlv.send(STREAM, records(2)).complete
    assert seqs(fake.rows(DCR, STREAM)) == [0, 1]


def test_a_missing_bundle_file_fails_at_startup(make_cfg: MakeCfg, tmp_path: Path) -> None:
    with pytest.raises(AzureConfigError, match="ca_bundle"):
        AzureDelivery(make_cfg(ca_bundle=str(tmp_path / "nope.pem")))

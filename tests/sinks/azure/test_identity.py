"""Every credential type, end to end: token from the fake's identity flow, then ingestion.

Nothing here hands the sink a token: each test sets what a real node would have (the
environment variables azure-identity reads, or a secret/certificate/federated token on
disk) and the sink's own ``build_credential`` takes it from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import msal.managed_identity
import pytest
import trustme

from edgewatch.sinks.azure import AzureDelivery, AzureLogsIngestionConfig
from tests.fake_azure import DEFAULT_TENANT, FakeAzure
from tests.fake_azure.tokens import b64url
from tests.sinks.azure.conftest import DCR, MI_CLIENT_ID, STREAM, USER_MI_CLIENT_ID, records, seqs

MakeCfg = Callable[..., AzureLogsIngestionConfig]
APP_ID = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"


def deliver_one(fake: FakeAzure, cfg: AzureLogsIngestionConfig) -> None:
    with AzureDelivery(cfg) as dlv:
        out = dlv.send(STREAM, records(3))
    assert out.retry is None, out.retry.message if out.retry else ""
    assert seqs(fake.rows(DCR, STREAM)) == [0, 1, 2]


def test_managed_identity_via_imds(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    deliver_one(fake, make_cfg())
    grant = fake.grants[-1]
    assert (grant.flow, grant.client_id) == ("imds", MI_CLIENT_ID)
    assert grant.resource == "https://monitor.azure.com"
    assert fake.calls[-1].appid == MI_CLIENT_ID


def test_user_assigned_managed_identity(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    fake.user_identity(USER_MI_CLIENT_ID, grant=[DCR])
    cfg = make_cfg(credential={"type": "managed_identity", "client_id": USER_MI_CLIENT_ID})
    deliver_one(fake, cfg)
    assert fake.calls[-1].appid == USER_MI_CLIENT_ID


def test_token_is_fetched_once_and_reused(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    before = len(fake.grants)
    with AzureDelivery(make_cfg()) as dlv:
        for i in range(5):
            assert dlv.send(STREAM, records(2, start=2 * i)).complete
    assert len(fake.grants) == before + 1


def test_managed_identity_app_service_style(
    fake: FakeAzure, make_cfg: MakeCfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_POD_IDENTITY_AUTHORITY_HOST")
    for k, v in fake.app_service_env().items():
        monkeypatch.setenv(k, v)
    deliver_one(fake, make_cfg())
    assert fake.grants[-1].flow == "app_service"


def test_managed_identity_azure_arc_challenge(
    fake: FakeAzure, make_cfg: MakeCfg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """HIMDS answers 401 naming a key file; the client proves itself with its contents.

    MSAL only reads key files from /var/opt/azcmagent/tokens; that one constant is
    pointed at a temporary directory, the rest of the flow is MSAL's own.
    """
    monkeypatch.setitem(
        msal.managed_identity._supported_arc_platforms_and_their_prefixes, "linux", str(tmp_path)
    )
    fake.enable_arc(tmp_path)
    monkeypatch.delenv("AZURE_POD_IDENTITY_AUTHORITY_HOST")
    for k, v in fake.arc_env().items():
        monkeypatch.setenv(k, v)
    deliver_one(fake, make_cfg())
    assert fake.grants[-1].flow == "arc"
    assert list(tmp_path.glob("*.key"))  # the challenge really went through a key file


def test_default_credential_finds_the_managed_identity(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    deliver_one(fake, make_cfg(credential={"type": "default"}))
    assert fake.grants[-1].flow == "imds"


def _entra(fake: FakeAzure, **extra: object) -> dict[str, object]:
    return {
        "tenant_id": DEFAULT_TENANT,
        "client_id": APP_ID,
        "authority_host": fake.authority_host,
        "disable_instance_discovery": True,
        **extra,
    }


def test_client_secret_never_shows_in_logs_or_reprs(
    fake: FakeAzure,
    make_cfg: MakeCfg,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s3cr3t-Value~that.must.never.leak"
    fake.add_app(APP_ID, secret=secret, grant=[DCR])
    monkeypatch.setenv("EDGEWATCH_TEST_SECRET", secret)
    cfg = make_cfg(credential={"type": "client_secret", **_entra(fake), "client_secret": secret})
    caplog.set_level(logging.DEBUG)
    with AzureDelivery(cfg) as dlv:
        assert dlv.send(STREAM, records(3)).complete
        fake.revoke(APP_ID, DCR)
        failed = dlv.send(STREAM, records(3, start=3))
        fake.grant(APP_ID, DCR)
        texts = [repr(cfg), str(cfg), cfg.model_dump_json(), repr(dlv), repr(dlv.health())]
    assert failed.retry is not None and failed.retry.reason == "forbidden"
    assert fake.grants[-1].flow == "secret"
    assert caplog.records, "expected the SDK and the sink to log something"
    everything = caplog.text + "".join(texts) + repr(failed)
    assert secret not in everything
    for rec in caplog.records:
        assert secret not in str(rec.args)
    # nor the access tokens the secret bought (the fake's JWT header, base64url)
    assert b64url(b'{"alg": "HS256"')[:16] not in everything
    assert "**********" in repr(cfg)


def test_client_secret_from_a_file(fake: FakeAzure, make_cfg: MakeCfg, tmp_path: Path) -> None:
    fake.add_app(APP_ID, secret="from-a-mounted-secret", grant=[DCR])
    path = tmp_path / "secret"
    path.write_text("from-a-mounted-secret\n")
    cred = {"type": "client_secret", **_entra(fake), "client_secret_file": str(path)}
    deliver_one(fake, make_cfg(credential=cred))


def test_wrong_client_secret_is_a_credential_retry(fake: FakeAzure, make_cfg: MakeCfg) -> None:
    fake.add_app(APP_ID, secret="right", grant=[DCR])
    cred = {"type": "client_secret", **_entra(fake), "client_secret": "wrong"}
    with AzureDelivery(make_cfg(credential=cred)) as dlv:
        out = dlv.send(STREAM, records(3))
    assert out.retry is not None and out.retry.reason == "credential"
    assert "AADSTS7000215" in out.retry.message
    assert "wrong" not in out.retry.message.replace("wrong_", "")
    assert fake.calls == []


def test_workload_identity_federated_token(
    fake: FakeAzure, make_cfg: MakeCfg, tmp_path: Path
) -> None:
    sa_token = "eyJhbGciOiJSUzI1NiJ9.service-account-token.sig"
    fake.add_app(APP_ID, federated_token=sa_token, grant=[DCR])
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(sa_token)
    cred = {"type": "workload_identity", **_entra(fake), "token_file": str(token_file)}
    deliver_one(fake, make_cfg(credential=cred))
    assert fake.grants[-1].flow == "federated"


def test_workload_identity_from_webhook_env(
    fake: FakeAzure, make_cfg: MakeCfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sa_token = "eyJhbGciOiJSUzI1NiJ9.injected.sig"
    fake.add_app(APP_ID, federated_token=sa_token, grant=[DCR])
    token_file = tmp_path / "token"
    token_file.write_text(sa_token)
    monkeypatch.setenv("AZURE_TENANT_ID", DEFAULT_TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", APP_ID)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    cred = {
        "type": "workload_identity",
        "authority_host": fake.authority_host,
        "disable_instance_discovery": True,
    }
    deliver_one(fake, make_cfg(credential=cred))


def test_certificate_credential(fake: FakeAzure, make_cfg: MakeCfg, tmp_path: Path) -> None:
    issuer = trustme.CA()
    # RSA: the credential signs its assertion with RS256
    leaf = issuer.issue_cert("edgewatch.example", key_type=trustme.KeyType.RSA)
    fake.add_app(APP_ID, certificate_pem=leaf.cert_chain_pems[0].bytes(), grant=[DCR])
    pem = tmp_path / "client.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    cred = {"type": "certificate", **_entra(fake), "certificate_path": str(pem)}
    deliver_one(fake, make_cfg(credential=cred))
    assert fake.grants[-1].flow == "certificate"

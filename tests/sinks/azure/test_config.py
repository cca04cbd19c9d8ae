"""Destination settings: mistakes are caught with a fix in the message; secrets stay hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)
from pydantic import ValidationError

from edgewatch.sinks.azure import AzureConfigError, AzureLogsIngestionConfig, build_credential
from tests.sinks.azure.conftest import MI_ENV

DCR_ID = "dcr-000a00a000a00000a000000aa000a0aa"
ENDPOINT = "https://my-dce-5kyl.eastus-1.ingest.monitor.azure.com"
SECRET = "Q~very-secret-value.123"


def cfg(**data: Any) -> AzureLogsIngestionConfig:
    return AzureLogsIngestionConfig.model_validate(
        {"type": "azure_logs_ingestion", "endpoint": ENDPOINT, "dcr_immutable_id": DCR_ID, **data}
    )


def errors(**data: Any) -> str:
    with pytest.raises(ValidationError) as info:
        cfg(**data)
    return str(info.value)


@pytest.fixture(autouse=True)
def clean_identity_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MI_ENV:
        monkeypatch.delenv(name, raising=False)


def test_minimal_destination_uses_managed_identity_and_safe_defaults() -> None:
    c = cfg()
    assert c.credential.type == "managed_identity"
    assert c.ca_bundle is None  # system trust store; verification always on
    assert c.batch.max_request_bytes <= 1024 * 1024
    assert c.scope == "https://monitor.azure.com/.default"
    assert c.stream_for("trace_tcp") == "Custom-EdgeWatchNetwork"
    assert c.stream_for("dns") == "Custom-EdgeWatchDns"


def test_sovereign_clouds_change_the_token_audience() -> None:
    assert cfg(cloud="usgov").scope == "https://monitor.azure.us/.default"
    assert cfg(cloud="china").scope == "https://monitor.azure.cn/.default"


def test_asim_layout_and_stream_overrides() -> None:
    c = cfg(layout="asim", streams={"trace_dns": "Custom-MyDns"})
    assert c.streams == {"dns": "Custom-MyDns"}
    assert c.stream_for("dns") == "Custom-MyDns"
    assert c.stream_for("tcp") == "Custom-EdgeWatchAsimNetworkSession"
    assert c.stream_for("open") == "Custom-EdgeWatchFile"  # no ASIM table: custom stream


@pytest.mark.parametrize(
    ("streams", "expect"),
    [
        ({"bogus": "Custom-X"}, "unknown gadget family"),
        ({"tcp": "EdgeWatchNetwork_CL"}, "not a DCR stream name"),
    ],
)
def test_bad_stream_overrides(streams: dict[str, str], expect: str) -> None:
    assert expect in errors(streams=streams)


def test_endpoint_must_be_https() -> None:
    assert "https://" in errors(endpoint="http://my-dce.eastus-1.ingest.monitor.azure.com")


def test_endpoint_is_the_base_uri_only() -> None:
    msg = errors(endpoint=f"{ENDPOINT}/dataCollectionRules/{DCR_ID}/streams/Custom-X")
    assert "base URI" in msg
    assert cfg(endpoint=ENDPOINT + "/").endpoint == ENDPOINT


def test_dcr_id_shape_and_the_resource_id_mistake() -> None:
    assert "32 hex" in errors(dcr_immutable_id="dcr-123")
    msg = errors(
        dcr_immutable_id="/subscriptions/x/resourceGroups/rg/providers/"
        "Microsoft.Insights/dataCollectionRules/edgewatch"
    )
    assert "immutableId" in msg


def test_secret_is_redacted_everywhere_including_errors() -> None:
    c = cfg(
        credential={
            "type": "client_secret",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": SECRET,
        }
    )
    for text in (repr(c), str(c), c.model_dump_json(), repr(c.credential), str(c.model_dump())):
        assert SECRET not in text
    # a mistake next to the secret must not echo it back
    for bad in (
        {"type": "client_secret", "client_id": "c", "client_secret": SECRET},
        {"type": "managed_identity", "client_secret": SECRET},
        {
            "type": "client_secret",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": SECRET,
            "typo": 1,
        },
    ):
        assert SECRET not in errors(credential=bad)
    with pytest.raises(ValidationError) as info:
        AzureLogsIngestionConfig.model_validate(
            {
                "type": "azure_logs_ingestion",
                "credential": {
                    "type": "client_secret",
                    "tenant_id": "t",
                    "client_id": "c",
                    "client_secret": SECRET,
                },
            }
        )
    assert SECRET not in str(info.value)
    # what the config loader reads from each error (it never reads "input")
    assert SECRET not in repr(info.value.errors(include_input=False, include_url=False))


@pytest.mark.parametrize(
    ("credential", "expect"),
    [
        ({"type": "managed_identity", "client_secret": "x"}, "cannot be used with"),
        ({"type": "client_secret", "tenant_id": "t", "client_id": "c"}, "client_secret_file"),
        ({"type": "client_secret", "client_id": "c", "client_secret": "x"}, "needs tenant_id"),
        (
            {
                "type": "client_secret",
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": "x",
                "client_secret_file": "/s",
            },
            "not both",
        ),
        (
            {"type": "client_secret", "tenant_id": "t", "client_id": "c", "client_secret": ""},
            "empty",
        ),
        ({"type": "certificate", "tenant_id": "t", "client_id": "c"}, "certificate_path"),
        ({"type": "workload_identity", "certificate_path": "/c.pem"}, "cannot be used with"),
        ({"type": "kerberos"}, "credential.type"),
    ],
)
def test_credential_mistakes(credential: dict[str, Any], expect: str) -> None:
    assert expect in errors(credential=credential)


def test_backoff_bounds_are_ordered() -> None:
    msg = errors(retry={"initial_backoff_seconds": 10, "max_backoff_seconds": 1})
    assert "max_backoff_seconds" in msg


def test_request_size_cannot_exceed_the_api_limit() -> None:
    assert "batch.max_request_bytes" in errors(batch={"max_request_bytes": 2_000_000})


def test_unknown_keys_are_errors() -> None:
    assert "extra" in errors(endpont=ENDPOINT).lower()


# -- building credentials -----------------------------------------------------------------


def test_each_credential_type_builds_the_matching_azure_identity_class(tmp_path: Path) -> None:
    pem = tmp_path / "c.pem"
    pem.write_text("placeholder")
    token = tmp_path / "token"
    token.write_text("t")
    common = {"tenant_id": "00000000-0000-0000-0000-000000000001", "client_id": "c"}
    cases: list[tuple[dict[str, Any], type]] = [
        ({"type": "managed_identity"}, ManagedIdentityCredential),
        ({"type": "managed_identity", "client_id": "abc"}, ManagedIdentityCredential),
        (
            {"type": "workload_identity", **common, "token_file": str(token)},
            WorkloadIdentityCredential,
        ),
        ({"type": "client_secret", **common, "client_secret": "x"}, ClientSecretCredential),
        ({"type": "default"}, DefaultAzureCredential),
    ]
    for credential, kind in cases:
        assert isinstance(build_credential(cfg(credential=credential)), kind)
    with pytest.raises(AzureConfigError, match="certificate"):
        # a placeholder file is not a certificate: azure-identity's reason is kept
        build_credential(
            cfg(credential={"type": "certificate", **common, "certificate_path": str(pem)})
        )
    assert CertificateCredential  # built end to end in test_identity


def test_workload_identity_without_its_settings_says_which_are_missing() -> None:
    with pytest.raises(AzureConfigError, match="token_file_path"):
        build_credential(cfg(credential={"type": "workload_identity"}))


def test_unreadable_secret_file_fails_at_build(tmp_path: Path) -> None:
    c = cfg(
        credential={
            "type": "client_secret",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret_file": str(tmp_path / "missing"),
        }
    )
    with pytest.raises(AzureConfigError, match="client_secret_file"):
        build_credential(c)
    (tmp_path / "empty").write_text("\n")
    c = cfg(
        credential={
            "type": "client_secret",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret_file": str(tmp_path / "empty"),
        }
    )
    with pytest.raises(AzureConfigError, match="empty"):
        build_credential(c)

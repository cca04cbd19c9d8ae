"""Settings for one Logs Ingestion destination, and building the Azure SDK objects from them.

A destination is one data collection rule (DCR) reached through one endpoint with one
identity. Everything an operator can get wrong here (an ``http://`` endpoint, a DCR
*resource* id where the *immutable* id belongs, a secret pasted into the ConfigMap) is
rejected at load time with a message that says what to write instead.

Secrets are ``SecretStr``: they print as ``**********`` in reprs, dumps and validation
errors, and are unwrapped only at the moment the credential is built. The intended
spelling is ``client_secret: ${AZURE_CLIENT_SECRET}`` (expanded by the config loader) or
``client_secret_file:`` pointing at a mounted Kubernetes secret.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from edgewatch.events.registry import lookup
from edgewatch.sinks.azure.batch import API_MAX_REQUEST_BYTES, DEFAULT_GZIP_LEVEL, Limits

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.monitor.ingestion import LogsIngestionClient

#: The role a principal needs on the DCR to ingest through it.
INGESTION_ROLE = "Monitoring Metrics Publisher"

_DCR_ID = re.compile(r"dcr-[0-9a-fA-F]{32}")
_STREAM = re.compile(r"(Custom|Microsoft)-[A-Za-z0-9_][A-Za-z0-9_\-]*")

#: cloud -> (token audience for Azure Monitor, Entra authority host)
CLOUDS: dict[str, tuple[str, str]] = {
    "public": ("https://monitor.azure.com", "login.microsoftonline.com"),
    "usgov": ("https://monitor.azure.us", "login.microsoftonline.us"),
    "china": ("https://monitor.azure.cn", "login.chinacloudapi.cn"),
}

#: Input stream per gadget family, per layout. They must match the streamDeclarations of
#: the DCR the deploy generator writes; ``streams:`` overrides any of them.
DEFAULT_STREAMS: dict[str, dict[str, str]] = {
    "custom": {
        "tcp": "Custom-EdgeWatchNetwork",
        "sni": "Custom-EdgeWatchNetwork",
        "bind": "Custom-EdgeWatchNetwork",
        "dns": "Custom-EdgeWatchDns",
        "exec": "Custom-EdgeWatchProcess",
        "signal": "Custom-EdgeWatchProcess",
        "oomkill": "Custom-EdgeWatchProcess",
        "capabilities": "Custom-EdgeWatchProcess",
        "seccomp": "Custom-EdgeWatchSeccomp",
        "open": "Custom-EdgeWatchFile",
    },
    "asim": {
        "tcp": "Custom-EdgeWatchAsimNetworkSession",
        "sni": "Custom-EdgeWatchAsimNetworkSession",
        "bind": "Custom-EdgeWatchAsimNetworkSession",
        "dns": "Custom-EdgeWatchAsimDns",
        "exec": "Custom-EdgeWatchAsimProcessEvent",
        "seccomp": "Custom-EdgeWatchAsimAuditEvent",
    },
}


class AzureConfigError(ValueError):
    """The destination cannot be built as configured (missing secret file, bad identity)."""


class _Model(BaseModel):
    # frozen + forbid: a typo must not silently fall back to a default identity;
    # hide_input_in_errors: a validation error must not echo a secret it sits next to.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


CredentialType = Literal[
    "managed_identity", "workload_identity", "client_secret", "certificate", "default"
]

_FIELDS_BY_TYPE: dict[str, frozenset[str]] = {
    "managed_identity": frozenset({"client_id"}),
    "workload_identity": frozenset(
        {"client_id", "tenant_id", "token_file", "authority_host", "disable_instance_discovery"}
    ),
    "client_secret": frozenset(
        {
            "client_id",
            "tenant_id",
            "client_secret",
            "client_secret_file",
            "authority_host",
            "disable_instance_discovery",
        }
    ),
    "certificate": frozenset(
        {
            "client_id",
            "tenant_id",
            "certificate_path",
            "certificate_password",
            "authority_host",
            "disable_instance_discovery",
        }
    ),
    # the chain reads the rest (tenant, secrets, token file) from AZURE_* variables
    "default": frozenset({"client_id", "authority_host"}),
}


class CredentialConfig(_Model):
    """Which identity the agent uses to get tokens for Azure Monitor.

    ``managed_identity`` covers Azure VMs/AKS (IMDS) and Azure Arc-enabled servers
    (HIMDS, found through ``IDENTITY_ENDPOINT``/``IMDS_ENDPOINT``); ``workload_identity``
    is the federated service-account token that AKS and Arc-enabled Kubernetes inject.
    Neither puts a secret on the node, which is why managed identity is the default.
    """

    type: CredentialType = "managed_identity"
    #: user-assigned managed identity's client id, or the app registration's client id
    client_id: str | None = None
    tenant_id: str | None = None
    #: meant to be written as ``${ENV_VAR}``; never printed
    client_secret: SecretStr | None = None
    #: a file holding only the secret (a mounted Kubernetes secret)
    client_secret_file: Path | None = None
    #: PEM or PKCS12 holding the private key and certificate
    certificate_path: Path | None = None
    certificate_password: SecretStr | None = None
    #: federated token file; defaults to ``AZURE_FEDERATED_TOKEN_FILE`` as the webhook sets it
    token_file: Path | None = None
    #: Entra host (``login.microsoftonline.us``...); defaults from ``cloud``
    authority_host: str | None = None
    #: for Entra hosts MSAL does not know (Azure Stack, private authorities)
    disable_instance_discovery: bool = False

    @model_validator(mode="after")
    def _fits_type(self) -> CredentialConfig:
        allowed = _FIELDS_BY_TYPE[self.type] | {"type"}
        stray = sorted(
            name
            for name in type(self).model_fields
            if name not in allowed and getattr(self, name) not in (None, False)
        )
        if stray:
            raise ValueError(
                f"{', '.join(stray)} cannot be used with credential type {self.type!r}"
            )
        if self.type in ("client_secret", "certificate"):
            missing = [k for k in ("tenant_id", "client_id") if not getattr(self, k)]
            if missing:
                raise ValueError(f"credential type {self.type!r} needs {' and '.join(missing)}")
        if self.type == "client_secret":
            if self.client_secret is not None and self.client_secret_file is not None:
                raise ValueError("set either client_secret or client_secret_file, not both")
            if self.client_secret is None and self.client_secret_file is None:
                raise ValueError(
                    "credential type 'client_secret' needs client_secret "
                    "(write it as ${AZURE_CLIENT_SECRET}) or client_secret_file"
                )
            if self.client_secret is not None and not self.client_secret.get_secret_value():
                raise ValueError("client_secret is empty (is its environment variable set?)")
        if self.type == "certificate" and self.certificate_path is None:
            raise ValueError("credential type 'certificate' needs certificate_path")
        return self


class TimeoutConfig(_Model):
    """Per-request network timeouts, in seconds."""

    connect_seconds: float = Field(10.0, gt=0, le=300)
    #: waiting for the answer once the body is sent
    read_seconds: float = Field(30.0, gt=0, le=600)


class RetryConfig(_Model):
    """How long to wait before re-sending. The delivery loop sleeps; this only says how long."""

    #: first back-off after a transient failure (5xx, timeout, dropped connection);
    #: doubles per consecutive failure, with jitter, up to ``max_backoff_seconds``
    initial_backoff_seconds: float = Field(1.0, gt=0, le=600)
    max_backoff_seconds: float = Field(60.0, gt=0, le=3600)
    #: the pace for failures only an operator can fix (401/403/404, TLS trust):
    #: slow enough not to spam, fast enough to resume soon after the fix
    slow_retry_seconds: float = Field(120.0, gt=0, le=3600)
    #: cap on a server-sent Retry-After, against a bogus huge value
    max_retry_after_seconds: float = Field(900.0, gt=0, le=86400)
    #: requests spent isolating bad records after a 400, per chunk; past it the rest of
    #: the failing chunk is dead-lettered whole rather than blocking the queue
    max_bisect_requests: int = Field(64, ge=0, le=100_000)

    @model_validator(mode="after")
    def _order(self) -> RetryConfig:
        if self.max_backoff_seconds < self.initial_backoff_seconds:
            raise ValueError("max_backoff_seconds must be >= initial_backoff_seconds")
        return self


class BatchConfig(_Model):
    """Request body bounds; the defaults already respect the 1 MB API limit."""

    max_request_bytes: int = Field(1_000_000, ge=1024, le=API_MAX_REQUEST_BYTES)
    max_uncompressed_bytes: int = Field(API_MAX_REQUEST_BYTES, ge=1024, le=API_MAX_REQUEST_BYTES)
    #: 1-3: ISA-L's fast deflate levels (1 costs a fifteenth of zlib's 6 for ~35% more
    #: bytes on the wire); 4-9: zlib's levels, smaller and much slower
    gzip_level: int = Field(DEFAULT_GZIP_LEVEL, ge=1, le=9)

    def limits(self) -> Limits:
        return Limits(self.max_request_bytes, self.max_uncompressed_bytes, self.gzip_level)


class AzureLogsIngestionConfig(_Model):
    """One destination: a DCR behind a DCE (or the DCR's own endpoint) and an identity."""

    type: Literal["azure_logs_ingestion"] = "azure_logs_ingestion"
    name: str = "azure"
    #: the DCE's "logs ingestion" URI or the DCR's ``logsIngestion`` endpoint
    endpoint: str
    dcr_immutable_id: str
    layout: Literal["custom", "asim"] = "custom"
    #: gadget family (or gadget name) -> input stream, overriding the layout's default
    streams: dict[str, str] = {}
    credential: CredentialConfig = CredentialConfig()
    cloud: Literal["public", "usgov", "china"] = "public"
    #: extra CA certificates (PEM) to trust, for TLS-inspecting proxies; replaces the
    #: default trust store for both ingestion and token requests
    ca_bundle: Path | None = None
    timeouts: TimeoutConfig = TimeoutConfig()
    retry: RetryConfig = RetryConfig()
    batch: BatchConfig = BatchConfig()

    @field_validator("endpoint")
    @classmethod
    def _https(cls, v: str) -> str:
        parts = urlsplit(v.strip())
        if parts.scheme != "https":
            raise ValueError(
                "endpoint must be an https:// URL (the service and the SDK refuse bearer "
                "tokens over plain http)"
            )
        if not parts.hostname:
            raise ValueError("endpoint has no host name")
        if parts.query or parts.fragment:
            raise ValueError("endpoint must not have a query or fragment")
        if parts.path.rstrip("/"):
            raise ValueError(
                "endpoint must be the base URI only (https://<dce>.<region>-1.ingest.monitor."
                "azure.com); the /dataCollectionRules/... path is added per request"
            )
        return f"https://{parts.netloc}"

    @field_validator("dcr_immutable_id")
    @classmethod
    def _dcr_id(cls, v: str) -> str:
        v = v.strip()
        if not _DCR_ID.fullmatch(v):
            hint = (
                " (that is the DCR's resource id; use its immutableId property)"
                if v.startswith("/subscriptions/")
                else ""
            )
            raise ValueError(f"dcr_immutable_id must be 'dcr-' followed by 32 hex digits{hint}")
        return v

    @field_validator("streams")
    @classmethod
    def _streams(cls, v: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, stream in v.items():
            spec = lookup(key)
            if spec is None:
                raise ValueError(f"streams: unknown gadget family {key!r}")
            if not _STREAM.fullmatch(stream):
                raise ValueError(
                    f"streams.{key}: {stream!r} is not a DCR stream name "
                    "(Custom-<name> or Microsoft-<table>)"
                )
            out[spec.family] = stream
        return out

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, v: Path | None) -> Path | None:
        if v is not None and not str(v).strip():
            raise ValueError("ca_bundle is empty; remove it to use the system trust store")
        return v

    @property
    def audience(self) -> str:
        return CLOUDS[self.cloud][0]

    @property
    def scope(self) -> str:
        return f"{self.audience}/.default"

    def stream_for(self, family: str) -> str | None:
        """The input stream for a gadget family, or None when this layout has none."""
        spec = lookup(family)
        fam = spec.family if spec else family
        if fam in self.streams:
            return self.streams[fam]
        return DEFAULT_STREAMS[self.layout].get(fam) or DEFAULT_STREAMS["custom"].get(fam)


# -- building the SDK objects -----------------------------------------------------------


def _read_secret_file(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AzureConfigError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from exc
    if not value:
        raise AzureConfigError(f"{what} {str(path)!r} is empty")
    return value


def _transport_kwargs(cfg: AzureLogsIngestionConfig) -> dict[str, Any]:
    """TLS trust for any azure-core pipeline; the default (True) is the system store."""
    if cfg.ca_bundle is None:
        return {}
    if not cfg.ca_bundle.is_file():
        raise AzureConfigError(f"ca_bundle {str(cfg.ca_bundle)!r} is not a readable file")
    return {"connection_verify": str(cfg.ca_bundle)}


def build_credential(cfg: AzureLogsIngestionConfig) -> TokenCredential:
    """The azure-identity credential for the destination's identity.

    The CA bundle is handed to the credential too: behind a TLS-inspecting proxy the
    token request to Entra ID goes through the same proxy as the ingestion request.
    (Managed identity endpoints are plain http on the node; the setting is inert there,
    and their own retry policy — IMDS rides out its 410 upgrade window — is left alone.)
    """
    from azure import identity

    cred = cfg.credential
    common = _transport_kwargs(cfg)
    # Token requests to Entra ID keep azure-core's few connect retries (a token is
    # fetched about hourly, so a blip there should not cost a whole delivery round),
    # paced by our back-off and timeout settings rather than azure-core's defaults
    # (which wait up to 300 s for an answer).
    entra: dict[str, Any] = {
        "authority": cred.authority_host or CLOUDS[cfg.cloud][1],
        "retry_backoff_factor": cfg.retry.initial_backoff_seconds,
        "retry_backoff_max": cfg.retry.max_backoff_seconds,
        "connection_timeout": cfg.timeouts.connect_seconds,
        "read_timeout": cfg.timeouts.read_seconds,
    }
    if cred.disable_instance_discovery:
        entra["disable_instance_discovery"] = True
    try:
        if cred.type == "managed_identity":
            return identity.ManagedIdentityCredential(client_id=cred.client_id, **common)
        if cred.type == "workload_identity":
            return identity.WorkloadIdentityCredential(
                tenant_id=cred.tenant_id,
                client_id=cred.client_id,
                token_file_path=str(cred.token_file) if cred.token_file else None,
                **entra,
                **common,
            )
        if cred.type == "client_secret":
            assert cred.tenant_id and cred.client_id  # checked by the model
            if cred.client_secret_file is not None:
                secret = _read_secret_file(cred.client_secret_file, "client_secret_file")
            else:
                assert cred.client_secret is not None
                secret = cred.client_secret.get_secret_value()
            return identity.ClientSecretCredential(
                cred.tenant_id, cred.client_id, secret, **entra, **common
            )
        if cred.type == "certificate":
            assert cred.tenant_id and cred.client_id and cred.certificate_path
            if not cred.certificate_path.is_file():
                raise AzureConfigError(
                    f"certificate_path {str(cred.certificate_path)!r} is not a readable file"
                )
            password = (
                cred.certificate_password.get_secret_value() if cred.certificate_password else None
            )
            return identity.CertificateCredential(
                cred.tenant_id,
                cred.client_id,
                certificate_path=str(cred.certificate_path),
                password=password,
                **entra,
                **common,
            )
        extra: dict[str, Any] = {}
        if cred.client_id:
            extra["managed_identity_client_id"] = cred.client_id
        if cred.authority_host:
            extra["authority"] = cred.authority_host
        return identity.DefaultAzureCredential(**extra, **common)
    except AzureConfigError:
        raise
    except ValueError as exc:
        # azure-identity's own message names the missing setting (e.g. workload
        # identity without AZURE_FEDERATED_TOKEN_FILE); keep it, add whose it is.
        raise AzureConfigError(
            f"destination {cfg.name!r}: cannot build the {cred.type} credential: {exc}"
        ) from exc


def build_client(
    cfg: AzureLogsIngestionConfig, credential: TokenCredential | None = None
) -> LogsIngestionClient:
    """The SDK client for the destination, with retries left to us.

    ``retry_total=0`` makes each ``upload()`` exactly one HTTP attempt. azure-core's
    default policy would otherwise sleep inside the call through up to three
    ``Retry-After`` waits or 5xx back-offs (of up to 120 s each) and three reconnects,
    holding the delivery thread and hiding the throttling from our counters — yet not
    retry a 429 that lacks ``Retry-After`` at all. Every retry decision is made once, in
    ``request.py``, while the durable buffer keeps the records safe.
    """
    from azure.monitor.ingestion import LogsIngestionClient

    from edgewatch import __version__

    return LogsIngestionClient(
        endpoint=cfg.endpoint,
        credential=credential if credential is not None else build_credential(cfg),
        credential_scopes=[cfg.scope],
        retry_total=0,
        connection_timeout=cfg.timeouts.connect_seconds,
        read_timeout=cfg.timeouts.read_seconds,
        user_agent=f"edgewatch/{__version__}",
        **_environment_once(cfg, _transport_kwargs(cfg)),
    )


def _environment_once(cfg: AzureLogsIngestionConfig, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The proxy and CA settings ``requests`` reads from the environment, read once.

    By default ``requests`` looks them up again for every request: it walks the whole
    environment for proxy variables and stats ``~/.netrc``, about a millisecond of the
    delivery thread per request, i.e. a microsecond per record. The same settings are
    resolved here, when the client is built, and handed to azure-core (its proxy
    policy, and ``connection_verify``); the session itself stops reading the
    environment. ``HTTPS_PROXY``/``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` and
    ``CURL_CA_BUNDLE`` keep their meaning; a change to them applies at the next start.
    """
    from requests.utils import get_environ_proxies

    out = {**kwargs, "use_env_settings": False}
    proxies = get_environ_proxies(cfg.endpoint)
    if proxies:
        out["proxies"] = proxies
    if "connection_verify" not in out:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            out["connection_verify"] = bundle
    return out

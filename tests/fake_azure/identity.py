"""Where tokens come from: managed-identity endpoints on the node and Entra ID's token endpoint.

Managed identity (plain http, as on a real node), each selected by azure-identity from
its own environment variables — no code path of ours knows it is talking to a fake:

* IMDS (Azure VMs, AKS nodes): ``GET /metadata/identity/oauth2/token?api-version=2018-02-01``
  with ``Metadata: true``. azure-identity reaches it through
  ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` (the override AKS pod identity uses).
* App Service style: ``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01`` with the
  ``X-IDENTITY-HEADER`` secret from ``IDENTITY_HEADER``.
* Azure Arc (HIMDS): ``GET {IDENTITY_ENDPOINT}?api-version=2020-06-01`` (with
  ``IMDS_ENDPOINT`` set) → 401 ``WWW-Authenticate: Basic realm=<dir>/<name>.key``; the
  client reads that file and repeats the call with ``Authorization: Basic <contents>``.
  MSAL only reads key files from ``/var/opt/azcmagent/tokens``; tests point that
  constant at a temporary directory.

Entra ID (https, same listener as ingestion): OIDC discovery and the v2.0 token endpoint
for the client-credentials grant with a secret, a federated token (workload identity) or
a certificate-signed assertion (checked with the registered certificate's public key).
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import jwt
from cryptography import x509

from tests.fake_azure.server import Request, Response
from tests.fake_azure.tokens import TokenIssuer

IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH = "/msi/token"
_OIDC = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
DEFAULT_TENANT = "00000000-0000-0000-0000-00000000f00d"


@dataclass
class App:
    """An app registration: one of secret, federated token or certificate."""

    tenant: str
    client_id: str
    secret: str | None = None
    federated_token: str | None = None
    certificate_pem: bytes | None = None


@dataclass(frozen=True)
class TokenGrant:
    flow: str
    client_id: str
    resource: str


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


class Identity:
    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self.lock = threading.Lock()
        self.system_identity: str | None = None
        self.user_identities: set[str] = set()
        self.app_service_secret = secrets.token_urlsafe(24)
        self.arc_key_dir: Path | None = None
        self._arc_keys: set[str] = set()
        self.apps: dict[tuple[str, str], App] = {}
        self.grants: list[TokenGrant] = []
        self.https_base = ""

    # -- managed identity -------------------------------------------------------------

    def handle_managed(self, req: Request) -> Response | None:
        if req.method != "GET":
            return None
        if req.path == APP_SERVICE_PATH:
            return self._app_service(req)
        if req.path != IMDS_PATH:
            return None
        if req.query.get("api-version") == "2020-06-01":
            return self._arc(req)
        return self._imds(req)

    def _pick(self, query: dict[str, str]) -> str | None:
        wanted = query.get("client_id")
        if wanted:
            return wanted if wanted in self.user_identities else None
        return self.system_identity

    def _mi_token(self, flow: str, appid: str, resource: str) -> dict[str, str]:
        token, expires_on = self.issuer.mint(
            audience=resource, appid=appid, tenant=DEFAULT_TENANT, lifetime=3600
        )
        with self.lock:
            self.grants.append(TokenGrant(flow, appid, resource))
        return {
            "access_token": token,
            "client_id": appid,
            "expires_in": str(expires_on - int(time.time())),
            "expires_on": str(expires_on),
            "ext_expires_in": "3600",
            "not_before": str(int(time.time())),
            "resource": resource,
            "token_type": "Bearer",
        }

    def _imds(self, req: Request) -> Response:
        if req.headers.get("Metadata") != "true":
            return _oauth_error(400, "invalid_request", "Required metadata header not specified")
        resource = req.query.get("resource")
        if not resource:
            msg = "Required audience parameter not specified"
            return _oauth_error(400, "invalid_request", msg)
        appid = self._pick(req.query)
        if appid is None:
            return _oauth_error(400, "invalid_request", "Identity not found")
        return Response.json(200, self._mi_token("imds", appid, resource))

    def _app_service(self, req: Request) -> Response:
        header = req.headers.get("X-IDENTITY-HEADER") or ""
        if not hmac.compare_digest(header, self.app_service_secret):
            return Response.json(401, {"statusCode": 401, "message": "Unauthorized"})
        resource = req.query.get("resource")
        appid = self._pick(req.query)
        if not resource or appid is None:
            msg = "Identity not found" if resource else "resource is required"
            return Response.json(400, {"statusCode": 400, "message": msg})
        body = self._mi_token("app_service", appid, resource)
        body.pop("expires_in")  # App Service answers with expires_on only
        return Response.json(200, body)

    def _arc(self, req: Request) -> Response:
        if self.arc_key_dir is None:
            return Response.json(404, {"error": "not_found"})
        if req.headers.get("Metadata") != "true":
            return _oauth_error(400, "invalid_request", "Required metadata header not specified")
        auth = req.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            key = secrets.token_hex(32)
            path = self.arc_key_dir / f"{uuid.uuid4()}.key"
            path.write_text(key, encoding="utf-8")
            with self.lock:
                self._arc_keys.add(key)
            return Response(401, headers={"WWW-Authenticate": f"Basic realm={path}"})
        with self.lock:
            known = auth[6:].strip() in self._arc_keys
            self._arc_keys.discard(auth[6:].strip())
        if not known:
            return _oauth_error(401, "invalid_client", "the challenge key does not match")
        resource = req.query.get("resource")
        appid = self._pick(req.query)
        if not resource or appid is None:
            return _oauth_error(400, "invalid_request", "Identity not found")
        return Response.json(200, self._mi_token("arc", appid, resource))

    # -- Entra ID ---------------------------------------------------------------------

    def handle_entra(self, req: Request) -> Response | None:
        m = _OIDC.match(req.path)
        if m and req.method == "GET":
            return self._oidc(m["tenant"])
        m = _TOKEN.match(req.path)
        if m and req.method == "POST":
            return self._token(m["tenant"], req)
        return None

    def _known_tenant(self, tenant: str) -> bool:
        return any(t == tenant for t, _ in self.apps)

    def _oidc(self, tenant: str) -> Response:
        if not self._known_tenant(tenant):
            msg = f"AADSTS90002: Tenant '{tenant}' not found."
            return _oauth_error(400, "invalid_tenant", msg)
        base = f"{self.https_base}/{tenant}"
        return Response.json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
            },
        )

    def _token(self, tenant: str, req: Request) -> Response:
        form = dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only client_credentials")
        client_id = form.get("client_id", "")
        if not client_id and req.headers.get("Authorization", "").startswith("Basic "):
            raw = base64.b64decode(req.headers["Authorization"][6:]).decode()
            client_id, _, form["client_secret"] = raw.partition(":")
        app = self.apps.get((tenant, client_id))
        if app is None:
            msg = (
                f"AADSTS700016: Application with identifier '{client_id}' was not found in "
                f"the directory '{tenant}'."
            )
            return _oauth_error(400, "unauthorized_client", msg)
        problem = self._check_client(app, form, f"{self.https_base}/{tenant}/oauth2/v2.0/token")
        if problem:
            return _oauth_error(401, "invalid_client", problem)
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            msg = "AADSTS1002012: The provided value for scope is not valid."
            return _oauth_error(400, "invalid_scope", msg)
        resource = scope.split()[0].removesuffix("/.default")
        token, expires_on = self.issuer.mint(
            audience=resource, appid=client_id, tenant=tenant, lifetime=3600
        )
        flow = "secret" if app.secret else "federated" if app.federated_token else "certificate"
        with self.lock:
            self.grants.append(TokenGrant(flow, client_id, resource))
        return Response.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": expires_on - int(time.time()),
                "ext_expires_in": 3600,
                "access_token": token,
            },
        )

    @staticmethod
    def _check_client(app: App, form: dict[str, str], audience: str) -> str | None:
        """None when the client proved who it is; otherwise Entra's kind of message."""
        if app.secret is not None:
            given = form.get("client_secret", "")
            if not hmac.compare_digest(given, app.secret):
                return "AADSTS7000215: Invalid client secret provided."
            return None
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return "AADSTS7000218: client_assertion or client_secret is required."
        if app.federated_token is not None:
            if not hmac.compare_digest(assertion, app.federated_token):
                return "AADSTS700213: No matching federated identity record found."
            return None
        assert app.certificate_pem is not None
        cert = x509.load_pem_x509_certificate(app.certificate_pem)
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=audience,
            )
        except jwt.PyJWTError as exc:
            return f"AADSTS700027: Client assertion failed signature validation ({exc})."
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            return "AADSTS700021: Client assertion application identifier doesn't match."
        return None

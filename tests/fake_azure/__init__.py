"""A local stand-in for the parts of Azure the delivery path touches, on loopback.

``FakeAzure`` runs two listeners: an HTTPS one (certificate from a ``trustme`` CA) that
serves the Logs Ingestion API and Entra ID's token endpoint, and a plain-HTTP one that
serves the node-local managed-identity endpoints. The code under test reaches all of
them through its ordinary settings — ``endpoint``, ``ca_bundle``, ``authority_host`` and
the environment variables azure-identity reads — never through a test-only hook.

Usage::

    with FakeAzure(ca) as fake:
        fake.add_dcr(DCR, ["Custom-Net"])
        fake.system_identity(MI_CLIENT_ID, grant=[DCR])
        monkeypatch.setenv(*fake.imds_env())
        ...
        assert fake.rows(DCR, "Custom-Net") == records
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import trustme

from tests.fake_azure.identity import (
    APP_SERVICE_PATH,
    DEFAULT_TENANT,
    IMDS_PATH,
    App,
    Identity,
    TokenGrant,
)
from tests.fake_azure.ingestion import DcrState, Fault, IngestCall, Ingestion
from tests.fake_azure.server import Listener, Request, Response
from tests.fake_azure.tokens import TokenIssuer

__all__ = ["DEFAULT_TENANT", "FakeAzure", "Fault", "IngestCall", "TokenGrant"]


class FakeAzure:
    def __init__(self, ca: trustme.CA) -> None:
        self.ca = ca
        self.issuer = TokenIssuer()
        self.ingestion = Ingestion(self.issuer)
        self.identity = Identity(self.issuer)
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self._https = Listener(self._serve_https, ctx)
        self._http = Listener(self._serve_http)
        self.identity.https_base = self._https.base_url

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeAzure:
        self._https.start()
        self._http.start()
        return self

    def stop(self) -> None:
        self._https.stop()
        self._http.stop()

    def __enter__(self) -> FakeAzure:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """The ingestion endpoint (what a DCE's logs ingestion URI would be)."""
        return self._https.base_url

    @property
    def authority_host(self) -> str:
        """Entra ID's host, for ``authority_host``."""
        return self._https.base_url

    # -- setup ------------------------------------------------------------------------

    def add_dcr(
        self, dcr_id: str, streams: Iterable[str] | dict[str, Iterable[str] | None]
    ) -> None:
        """Declare a DCR and its streams; a dict maps a stream to its declared columns."""
        if isinstance(streams, dict):
            decl = {s: (frozenset(c) if c is not None else None) for s, c in streams.items()}
        else:
            decl = dict.fromkeys(streams)
        with self.ingestion.lock:
            self.ingestion.dcrs[dcr_id] = DcrState(decl)

    def grant(self, client_id: str, *dcr_ids: str) -> None:
        """Give a principal Monitoring Metrics Publisher on DCRs."""
        with self.ingestion.lock:
            self.ingestion.roles.update((client_id, d) for d in dcr_ids)

    def revoke(self, client_id: str, *dcr_ids: str) -> None:
        with self.ingestion.lock:
            self.ingestion.roles.difference_update((client_id, d) for d in dcr_ids)

    def system_identity(self, client_id: str, grant: Iterable[str] = ()) -> None:
        self.identity.system_identity = client_id
        self.grant(client_id, *grant)

    def user_identity(self, client_id: str, grant: Iterable[str] = ()) -> None:
        self.identity.user_identities.add(client_id)
        self.grant(client_id, *grant)

    def add_app(
        self,
        client_id: str,
        *,
        tenant: str = DEFAULT_TENANT,
        secret: str | None = None,
        federated_token: str | None = None,
        certificate_pem: bytes | None = None,
        grant: Iterable[str] = (),
    ) -> None:
        self.identity.apps[(tenant, client_id)] = App(
            tenant, client_id, secret, federated_token, certificate_pem
        )
        self.grant(client_id, *grant)

    def enable_arc(self, key_dir: Path) -> None:
        self.identity.arc_key_dir = key_dir

    # -- environment for azure-identity ----------------------------------------------

    def imds_env(self) -> dict[str, str]:
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self._http.base_url}

    def app_service_env(self) -> dict[str, str]:
        return {
            "IDENTITY_ENDPOINT": self._http.base_url + APP_SERVICE_PATH,
            "IDENTITY_HEADER": self.identity.app_service_secret,
        }

    def arc_env(self) -> dict[str, str]:
        return {
            "IDENTITY_ENDPOINT": self._http.base_url + IMDS_PATH,
            "IMDS_ENDPOINT": self._http.base_url,
        }

    # -- faults -----------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Apply these to the next ingestion requests, one each, in order."""
        with self.ingestion.lock:
            self.ingestion.faults.extend(faults)

    def reject_records(self, predicate: Callable[[dict[str, Any]], bool] | None) -> None:
        """Answer 400 to any call containing a record for which ``predicate`` is true."""
        self.ingestion.reject = predicate

    def set_limits(
        self,
        *,
        requests_per_minute: int | None = None,
        bytes_per_minute: int | None = None,
    ) -> None:
        if requests_per_minute is not None:
            self.ingestion.max_requests_per_minute = requests_per_minute
        if bytes_per_minute is not None:
            self.ingestion.max_bytes_per_minute = bytes_per_minute

    # -- what happened ----------------------------------------------------------------

    def rows(self, dcr_id: str, stream: str) -> list[dict[str, Any]]:
        """The rows a stream received, in arrival order, as the workspace would store them."""
        return self.ingestion.rows(dcr_id, stream)

    def row_count(self, dcr_id: str, stream: str) -> int:
        """How many rows a stream received, without building them."""
        return self.ingestion.row_count(dcr_id, stream)

    @property
    def calls(self) -> list[IngestCall]:
        with self.ingestion.lock:
            return list(self.ingestion.calls)

    @property
    def grants(self) -> list[TokenGrant]:
        with self.identity.lock:
            return list(self.identity.grants)

    def reset(self) -> None:
        """Forget received rows, calls, faults and rate windows (identities stay)."""
        with self.ingestion.lock:
            self.ingestion.generation += 1
            self.ingestion.accepted.clear()
            self.ingestion.calls.clear()
            self.ingestion.faults.clear()
            for dcr in self.ingestion.dcrs.values():
                dcr.window.clear()
        self.ingestion.reject = None

    # -- routing ----------------------------------------------------------------------

    def _serve_https(self, req: Request) -> Response:
        resp = self.ingestion.handle(req) or self.identity.handle_entra(req)
        return resp or Response.json(404, {"error": {"code": "NotFound", "message": req.path}})

    def _serve_http(self, req: Request) -> Response:
        resp = self.identity.handle_managed(req)
        return resp or Response.json(404, {"error": "not_found", "error_description": req.path})


def random_dcr_id() -> str:
    return "dcr-" + secrets.token_hex(16)

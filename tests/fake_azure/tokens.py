"""Access tokens the fake issues and checks: JWT-shaped, HMAC-signed, audience-bound.

Real Entra tokens are RS256 JWTs; the ingestion endpoint checks signature, expiry and
audience. The fake keeps the same three checks with a key only it knows, so a test can
only pass ingestion with a token that came out of one of the fake's identity flows —
exactly the property that makes those flows worth testing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any


class InvalidTokenError(Exception):
    """The bearer token is missing, forged, expired or for another audience."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, issuer: str = "https://sts.fake-azure.invalid/") -> None:
        self.issuer = issuer
        self._key = secrets.token_bytes(32)

    def mint(
        self, *, audience: str, appid: str, tenant: str, lifetime: int = 3600
    ) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": self.issuer,
            "appid": appid,
            "oid": hashlib.sha256(appid.encode()).hexdigest()[:32],
            "tid": tenant,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64url(json.dumps(claims).encode())
        sig = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64url(sig)}", now + lifetime

    def verify(self, token: str, audiences: set[str]) -> dict[str, Any]:
        try:
            head, body, sig = token.split(".")
        except ValueError as exc:
            raise InvalidTokenError("token is not a JWT") from exc
        want = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        try:
            ok = hmac.compare_digest(want, b64url_decode(sig))
            claims = json.loads(b64url_decode(body))
        except (ValueError, TypeError) as exc:
            raise InvalidTokenError("token is malformed") from exc
        if not ok:
            raise InvalidTokenError("token signature is invalid")
        if claims.get("exp", 0) <= time.time():
            raise InvalidTokenError("token has expired")
        if claims.get("aud") not in audiences:
            raise InvalidTokenError(f"token audience {claims.get('aud')!r} is not accepted")
        return claims

"""Who may use the dashboard, and what a page may load.

* Bound to a loopback address, the dashboard answers without a token, but only to
  requests whose ``Host`` names that loopback address: a web page elsewhere cannot
  point a DNS name at 127.0.0.1 and read the store through the visitor's browser.
* Bound anywhere else, every request needs the token: ``Authorization: Bearer …``
  (scripts, curl) or the session cookie that the one-time login link printed at start
  sets (browsers). No page and no query is answered without it.
* Every response carries a Content-Security-Policy that allows scripts only from the
  dashboard itself (no inline script, no CDN), plus the usual no-sniff/no-frame headers.

The token is compared in constant time and never logged; the login link's key works
once and is not the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

#: where ``edgewatch serve`` also takes the token from (never from the command line)
TOKEN_ENV = "EDGEWATCH_WEB_TOKEN"
MIN_TOKEN_CHARS = 16
COOKIE = "edgewatch_session"
LOGIN_PATH = "/login"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: nothing beyond this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


class TokenError(ValueError):
    """The token file cannot be read, or the token is too short to be one."""


def read_token(token_file: Path | None, env: Mapping[str, str] | None = None) -> str | None:
    """The API token from a file, else from ``env[TOKEN_ENV]`` (None: no env lookup).

    Never from a command line or a config value: both end up in ``ps`` and in logs.
    """
    if token_file is not None:
        try:
            text = token_file.read_text().strip()
        except OSError as exc:
            raise TokenError(f"cannot read {token_file}: {exc.strerror or exc}") from None
        if len(text) < MIN_TOKEN_CHARS:
            raise TokenError(
                f"the token in {token_file} must be at least {MIN_TOKEN_CHARS} characters"
            )
        return text
    value = (env or {}).get(TOKEN_ENV, "").strip()
    if value and len(value) < MIN_TOKEN_CHARS:
        raise TokenError(f"${TOKEN_ENV} must be at least {MIN_TOKEN_CHARS} characters")
    return value or None


@dataclass
class Guard:
    """The access policy of one running dashboard."""

    #: required on every request when set
    token: str | None = None
    #: the one-time key of the login link (None: no link)
    login_key: str | None = None
    #: Host header values accepted without a token (loopback binds)
    allowed_hosts: frozenset[str] = frozenset()
    #: mark the session cookie Secure (the dashboard is served over TLS)
    secure_cookie: bool = False
    _login_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_bind(
        cls,
        host: str,
        port: int,
        token: str | None,
        secure_cookie: bool = False,
        token_hint: str = f"--token-file or ${TOKEN_ENV}",
    ) -> Guard:
        """The policy for a bind address: beyond loopback, a token is a must."""
        if token is None and not is_loopback(host):
            raise ValueError(
                f"binding to {host} exposes the store beyond this machine: give a token "
                f"({token_hint}) or bind to 127.0.0.1"
            )
        if token is not None:
            return cls(token=token, login_key=new_token(), secure_cookie=secure_cookie)
        names = {host, "localhost", "127.0.0.1", "[::1]"}
        hosts = frozenset({*names, *(f"{n}:{port}" for n in names)})
        return cls(allowed_hosts=hosts, secure_cookie=secure_cookie)

    def login_url(self, base: str) -> str | None:
        return None if self.login_key is None else f"{base}{LOGIN_PATH}?key={self.login_key}"

    def _authorized(self, request: Request) -> bool:
        assert self.token is not None
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        ):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), self.token.encode())

    def _login(self, request: Request) -> Response:
        key = request.query_params.get("key", "")
        with self._login_lock:
            ok = (
                self.login_key is not None
                and self.token is not None
                and bool(key)
                and hmac.compare_digest(key.encode(), self.login_key.encode())
            )
            if ok:
                self.login_key = None  # one time only
        if not ok:
            return PlainTextResponse(
                "this login link is not valid (each link works once); restart the "
                "dashboard for a new one, or send the token as 'Authorization: Bearer'",
                status_code=403,
            )
        assert self.token is not None
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            self.token,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookie,
            path="/",
        )
        return response

    def check(self, request: Request) -> Response | None:
        """None when the request may go on, else the refusal to send."""
        if self.token is None:
            host = request.headers.get("host", "")
            if self.allowed_hosts and host not in self.allowed_hosts:
                return PlainTextResponse(f"unexpected Host header {host!r}", status_code=421)
            return None
        if request.url.path == LOGIN_PATH:
            return self._login(request)
        if self._authorized(request):
            return None
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"error": "a token is needed: 'Authorization: Bearer <token>' or the login link"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return PlainTextResponse(
            "this dashboard needs a login: open the one-time login link printed when it "
            "started, or send the token as 'Authorization: Bearer <token>'",
            status_code=401,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refused = self.check(request)
        response = refused if refused is not None else await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

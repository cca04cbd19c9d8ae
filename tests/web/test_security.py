"""Beyond localhost nothing is answered without the token; every response sets a CSP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edgewatch.web.security import COOKIE, CSP, Guard, is_loopback
from tests.web.conftest import TOKEN, Site, start


def own_copy(db: Path, tmp: Path) -> Path:
    """A copy of the store: one DuckDB instance per file and process, one dashboard each."""
    copy = tmp / "store.duckdb"
    shutil.copy(db, copy)
    return copy


@pytest.fixture(scope="module")
def guarded(
    web_store: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Guard]]:
    """The policy a non-loopback bind gets, served on loopback (tests stay on loopback)."""
    guard = Guard.for_bind("0.0.0.0", 8765, TOKEN)
    dash = start(own_copy(web_store[0], tmp_path_factory.mktemp("guarded")), web_store[1], guard)
    try:
        yield dash.url, guard
    finally:
        dash.stop()


def test_a_public_bind_without_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        Guard.for_bind("0.0.0.0", 8765, None)
    with pytest.raises(ValueError, match="token"):
        Guard.for_bind("192.0.2.10", 8765, None)
    assert Guard.for_bind("127.0.0.1", 8765, None).token is None
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/overview"),
        ("GET", "/api/store"),
        ("GET", "/api/openapi.json"),
        ("GET", "/"),
        ("GET", "/kql"),
        ("GET", "/static/app.js"),
        ("POST", "/api/kql"),
    ],
)
def test_requests_without_the_token_are_refused(
    guarded: tuple[str, Guard], method: str, path: str
) -> None:
    url, _ = guarded
    body = {"query": "ContainerLogV2 | take 1"}
    r = requests.request(method, url + path, json=body, timeout=10)
    assert r.status_code == 401
    assert r.headers["Content-Security-Policy"] == CSP
    r = requests.request(
        method, url + path, json=body, headers={"Authorization": "Bearer wrong-token"}, timeout=10
    )
    assert r.status_code == 401


def test_the_bearer_token_opens_the_api(guarded: tuple[str, Guard]) -> None:
    url, _ = guarded
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(url + "/api/store", headers=auth, timeout=10).status_code == 200
    r = requests.post(url + "/api/kql", headers=auth, json={"query": "print x = 1"}, timeout=30)
    assert r.status_code == 200 and r.json()["rows"] == [[1]]


def test_the_login_link_works_once_and_sets_the_cookie(guarded: tuple[str, Guard]) -> None:
    url, guard = guarded
    link = guard.login_url(url)
    assert link is not None and TOKEN not in link
    session = requests.Session()
    r = session.get(url + "/login", params={"key": "guess"}, allow_redirects=False, timeout=10)
    assert r.status_code == 403
    r = session.get(link, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert session.get(url + "/api/overview", timeout=10).status_code == 200
    assert session.get(url + "/", timeout=10).status_code == 200
    again = requests.get(link, allow_redirects=False, timeout=10)
    assert again.status_code == 403  # one time only
    assert COOKIE not in again.headers.get("set-cookie", "")


def test_loopback_refuses_foreign_host_headers(site: Site) -> None:
    """A DNS name rebound to 127.0.0.1 cannot read the store through a browser."""
    r = requests.get(site.url + "/api/store", headers={"Host": "evil.example"}, timeout=10)
    assert r.status_code == 421
    assert requests.get(site.url + "/api/store", timeout=10).status_code == 200


@pytest.mark.parametrize("path", ["/", "/network", "/api/store", "/static/style.css", "/nope"])
def test_every_response_sets_a_restrictive_csp(site: Site, path: str) -> None:
    r = requests.get(site.url + path, timeout=10)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_and_no_remote_loads(site: Site) -> None:
    for path in ("/", "/network", "/dns", "/tls", "/processes", "/seccomp", "/alerts", "/kql"):
        html = requests.get(site.url + path, timeout=10).text
        assert "<script>" not in html and "http://" not in html and "https://" not in html
        assert '<script src="/static/vendor/plotly.min.js"' in html
    js = requests.get(site.url + "/static/vendor/plotly.min.js", timeout=10)
    assert js.status_code == 200 and len(js.content) > 1_000_000


def test_the_token_is_never_logged(
    web_store: tuple[Path, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    guard = Guard.for_bind("0.0.0.0", 8765, TOKEN)
    dash = start(own_copy(web_store[0], tmp_path), None, guard)
    try:
        link = guard.login_url(dash.url)
        assert link is not None
        requests.get(link, allow_redirects=False, timeout=10)
        requests.get(
            dash.url + "/api/store", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        requests.get(dash.url + "/api/store", headers={"Authorization": "Bearer nope"}, timeout=10)
    finally:
        dash.stop()
    out = capfd.readouterr()
    logged = caplog.text + out.out + out.err
    assert TOKEN not in logged
    assert link.split("key=")[1] not in logged

"""The pages in headless Chromium: they load cleanly, show the store's numbers, filter.

Debian's Chromium is driven through Playwright (never a downloaded browser). Without
it these tests skip locally, but fail when ``EDGEWATCH_REQUIRE_BROWSER`` is set, as CI
does, so they cannot silently stop running there. Screenshots of every page are kept
in ``tests/web/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.net import classify
from tests.web.conftest import Site

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHELLS = ("sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("EDGEWATCH_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser page that records console errors and failed requests."""

    def __init__(self, browser: object, site: Site) -> None:
        self.ctx = browser.new_context(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
        self.page = self.ctx.new_page()
        self.site = site
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> object:
        self.page.goto(self.site.url + path)
        self.wait_loaded()
        return self.page

    def wait_loaded(self, before: str | None = None) -> None:
        self.page.wait_for_function(
            "b => document.body.dataset.loaded && document.body.dataset.loaded !== b",
            arg=before or "",
            timeout=20_000,
        )
        assert self.page.get_attribute("body", "data-loaded") != "error", self.text("#error")

    def reload_after(self, action: object) -> None:
        before = self.page.get_attribute("body", "data-loaded") or ""
        action()  # type: ignore[operator]
        self.wait_loaded(before)

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.inner_text()

    def number(self, testid: str) -> int:
        return int(self.text(f'[data-testid="{testid}"] .num').replace(",", ""))

    def column(self, table: str, col: str) -> list[str]:
        return self.page.locator(f'[data-testid="{table}"] td[data-col="{col}"]').all_inner_texts()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        assert not self.errors, f"console errors: {self.errors}"
        self.ctx.close()


@pytest.fixture
def view(browser: object, site: Site) -> Iterator[Page]:
    p = Page(browser, site)
    yield p
    p.close()


def _count(site: Site, sql: str, params: list[object] | None = None) -> int:
    return int(site.sql(sql, params)[0][0])  # type: ignore[arg-type]


def test_overview(view: Page, site: Site) -> None:
    view.open("/")
    end = site.newest()
    day = 86_400 * 10**9
    for family in ("tcp", "dns", "sni", "exec", "seccomp"):
        expected = _count(
            site,
            f"SELECT count(*) FROM events_{family} WHERE time_ns BETWEEN ? AND ?",
            [end - day, end],
        )
        assert view.number(f"total-{family}") == expected, family
    assert view.page.locator('[data-testid="chart-time"] .main-svg').count() > 0
    assert "filtered" in view.column("table-drops", "reason")
    assert view.column("table-destinations", "destination") == ["sentinel"]
    assert "shop" in view.column("table-ns", "namespace")
    view.shot("overview")
    # the window filter changes what is shown
    view.open("/?since=1m")
    minute = _count(
        site,
        "SELECT count(*) FROM events_tcp WHERE time_ns BETWEEN ? AND ?",
        [end - 60 * 10**9, end],
    )
    assert view.number("total-tcp") == minute < _count(site, "SELECT count(*) FROM events_tcp")
    view.reload_after(lambda: view.page.select_option("#f-since", "24h"))
    assert "since=24h" in view.page.url
    assert view.number("total-tcp") == _count(site, "SELECT count(*) FROM events_tcp")


def test_network_graph_and_filters(view: Page, site: Site) -> None:
    view.open("/network?since=all")
    assert view.page.locator('[data-testid="chart-graph"] .sankey').count() == 1
    public_rows = view.page.locator('[data-testid="table-edges"] tr.public')
    assert public_rows.count() > 0
    for dst in view.page.locator(
        '[data-testid="table-edges"] tr.public td[data-col="destination"]'
    ).all_inner_texts():
        assert classify(dst) == "public"
    assert any(view.column("table-edges", "name")), "destinations named from DNS"
    view.shot("network")
    view.reload_after(lambda: view.page.select_option("#f-namespace", "payments"))
    assert set(view.column("table-edges", "namespace")) == {"payments"}
    expected = _count(
        site, "SELECT count(*) FROM events_tcp WHERE type = 'connect' AND namespace = 'payments'"
    )
    assert view.number("connections") == expected
    pods = view.column("table-edges", "pod")
    view.reload_after(lambda: view.page.select_option("#f-pod", pods[0]))
    assert set(view.column("table-edges", "pod")) == {pods[0]}
    assert "pod=" in view.page.url


def test_dns(view: Page, site: Site) -> None:
    view.open("/dns?since=all")
    assert view.number("queries") == _count(
        site, "SELECT count(*) FROM events_dns WHERE qr = 'Q' AND comm <> 'coredns'"
    )
    top = view.column("table-top", "name")[0]
    shown = int(view.column("table-top", "queries")[0].replace(",", ""))
    assert shown == _count(
        site,
        "SELECT count(*) FROM events_dns WHERE qr='Q' AND comm <> 'coredns' AND name = ?",
        [top],
    )
    assert view.page.locator('[data-testid="table-suspicious"] tr.alert').count() > 0
    view.shot("dns")


def test_tls(view: Page, site: Site) -> None:
    view.open("/tls?since=all")
    pairs = _count(
        site,
        "SELECT count(*) FROM (SELECT DISTINCT namespace, pod, name FROM events_sni "
        "WHERE name <> '')",
    )
    assert view.number("pairs") == min(pairs, 200)
    assert view.page.locator('[data-testid="table-sni"] tbody tr').count() == min(pairs, 200)
    view.shot("tls")


def test_processes(view: Page, site: Site) -> None:
    view.open("/processes?since=all")
    shells = ", ".join(f"'{s}'" for s in SHELLS)
    expected = _count(site, f"SELECT count(*) FROM events_exec WHERE comm IN ({shells})")
    assert view.number("shell-execs") == expected > 0
    assert view.page.locator('[data-testid="table-containers"] tr.shell').count() > 0
    assert view.number("execs") == _count(site, "SELECT count(*) FROM events_exec")
    view.shot("processes")


def test_seccomp(view: Page, site: Site) -> None:
    view.open("/seccomp?since=all")
    shown = sum(int(v.replace(",", "")) for v in view.column("table-syscalls", "events"))
    assert shown == _count(site, "SELECT count(*) FROM events_seccomp")
    # sorting by a column reorders the rows
    view.page.click('[data-testid="table-syscalls"] th button[data-col="syscall"]')
    names = view.column("table-syscalls", "syscall")
    assert names == sorted(names)
    view.shot("seccomp")


def test_alerts(view: Page, site: Site) -> None:
    view.open("/alerts?since=all")
    tables = {r[0] for r in site.sql("SELECT table_name FROM duckdb_tables()")}
    if not ({"events_alert", "events_alerts", "alerts", "edgewatch_alerts"} & tables):
        assert "No alerts" in view.text('[data-testid="table-alerts"]')
    view.shot("alerts")


def test_kql_runs_a_bundled_query(view: Page, site: Site) -> None:
    import requests

    from edgewatch.hunt import catalog

    view.open("/kql")
    page = view.page
    page.click('button.query[data-name="public_outbound_tcp"]')
    page.wait_for_function("() => document.body.dataset.kql === 'done'", timeout=30_000)
    expected = requests.post(
        site.url + "/api/kql", json={"query": catalog.get("public_outbound_tcp").text}, timeout=60
    ).json()["row_count"]
    assert int(page.get_attribute('[data-testid="kql-status"]', "data-rows") or -1) == expected
    rows = page.locator('[data-testid="kql-table"] tbody tr')
    assert rows.count() == min(expected, 5000) > 0
    assert page.locator('[data-testid="kql-chart"] .main-svg').count() > 0
    page.click('[data-testid="kql-table"] th button[data-col="count_"]')
    counts = [int(v.replace(",", "")) for v in view.column("kql-table", "count_")]
    assert counts == sorted(counts, reverse=True)
    view.shot("kql")
    # an error points at its place in the query
    page.fill(
        "#kql-text", "ContainerLogV2\n| where ContainerName == 'ig-dns'\n| summarize count( by x"
    )
    page.click("#kql-run")
    page.wait_for_function("() => document.body.dataset.kql === 'error'", timeout=30_000)
    assert page.get_attribute('[data-testid="kql-error"]', "data-line") == "3"
    assert "line 3" in view.text('[data-testid="kql-error"]')
    view.errors = [e for e in view.errors if "400" not in e]  # the failed request, by design
    view.shot("kql-error")

"""The HTML pages and static files: a shell per page that its script fills from the API.

Pages are plain HTML with no inline script (the Content-Security-Policy forbids it);
``app.js`` reads the filters from the URL, calls the page's API and draws tables and
Plotly charts. Plotly's bundle is the one its Python package ships, served from here:
nothing is fetched from the internet, so the dashboard works on an air-gapped site.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from string import Template

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

_HERE = files("edgewatch.web")
STATIC_CACHE = "public, max-age=3600"


@dataclass(frozen=True)
class Page:
    path: str
    name: str
    title: str
    #: shows the window / namespace / pod filter bar
    filters: bool = True


PAGES = (
    Page("/", "overview", "Overview"),
    Page("/network", "network", "Network"),
    Page("/dns", "dns", "DNS"),
    Page("/tls", "tls", "TLS"),
    Page("/processes", "processes", "Processes"),
    Page("/seccomp", "seccomp", "Seccomp"),
    Page("/alerts", "alerts", "Alerts"),
    Page("/kql", "kql", "KQL", filters=False),
)

#: static file name -> media type; nothing else under /static is served
STATIC = {
    "app.js": "text/javascript",
    "charts.js": "text/javascript",
    "tables.js": "text/javascript",
    "kql.js": "text/javascript",
    "style.css": "text/css",
}


def _template(name: str) -> str:
    return (_HERE / "templates" / name).read_text(encoding="utf-8")


@cache
def render(page: Page) -> str:
    nav = "\n".join(
        f'<a href="{p.path}" class="{"active" if p is page else ""}" data-page="{p.name}">'
        f"{p.title}</a>"
        for p in PAGES
    )
    filters = _template("filters.html") if page.filters else ""
    return Template(_template("base.html")).substitute(
        title=page.title,
        page=page.name,
        nav=nav,
        filters=filters,
        body=_template(f"{page.name}.html"),
    )


def plotly_js() -> Path:
    """Plotly's minified bundle as shipped inside the ``plotly`` Python package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def mount_pages(app: FastAPI) -> None:
    for page in PAGES:

        def handler(page: Page = page) -> HTMLResponse:
            return HTMLResponse(render(page), headers={"Cache-Control": "no-store"})

        app.add_api_route(
            page.path,
            handler,
            methods=["GET"],
            include_in_schema=False,
            response_class=HTMLResponse,
            name=f"page_{page.name}",
        )

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = STATIC.get(name)
        if media is None:
            return Response("not found", status_code=404, media_type="text/plain")
        body = (_HERE / "static" / name).read_bytes()
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        return FileResponse(
            plotly_js(), media_type="text/javascript", headers={"Cache-Control": STATIC_CACHE}
        )

"""The dashboard page and its files: served by the app, strict CSP, nothing external."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from app.dashboard.router import ASSETS, CSP
from app.main import create_app

EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture
def web(make_settings, sqlite_url) -> Iterator[TestClient]:
    # The page needs no data: one backend is enough.
    with TestClient(create_app(make_settings(database_url=sqlite_url))) as c:
        yield c


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.testids: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "style" in a or any(k.startswith("on") for k in a):
            self.inline.append(f"<{tag}> has {sorted(a)}")
        if tag == "style":
            self.inline.append("<style> element")
        if tag == "script":
            self.scripts.append(a)
            self._in_script = True
        if tag == "link":
            self.links.append(a)
        if a.get("data-testid"):
            self.testids.add(str(a["data-testid"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")


def _security_headers(r) -> None:
    assert r.headers["content-security-policy"] == EXPECTED_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_page_is_served_with_strict_headers(web):
    assert CSP == EXPECTED_CSP
    r = web.get("/dashboard")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    _security_headers(r)
    page = _Page()
    page.feed(r.text)
    assert page.inline == []  # the CSP would block them
    assert [s["src"] for s in page.scripts] == ["/dashboard/static/main.js"]
    assert all(s.get("type") == "module" for s in page.scripts)
    hrefs = {link["href"] for link in page.links}
    assert hrefs == {"/dashboard/static/dashboard.css", "/dashboard/static/favicon.svg"}
    for testid in ("signin-form", "token-input", "map-svg", "figure-open", "events", "ranking"):
        assert testid in page.testids


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("main.js", "text/javascript; charset=utf-8"),
        ("dashboard.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_have_their_types_and_revalidate(web, name, media_type):
    r = web.get(f"/dashboard/static/{name}")
    assert r.status_code == 200 and r.headers["content-type"] == media_type
    _security_headers(r)
    assert r.headers["cache-control"] == "no-cache"
    again = web.get(f"/dashboard/static/{name}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_every_file_is_local_and_every_import_is_served(web):
    imports: set[str] = set()
    for name in ASSETS:
        r = web.get(f"/dashboard/static/{name}")
        assert r.status_code == 200, name
        # No external URL anywhere (the SVG namespace is a name, never fetched).
        text = r.text.replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), name
        if name.endswith(".js"):
            assert "eval(" not in text and "innerHTML" not in text, name
            imports |= set(re.findall(r'from "\./([\w.]+)"', text))
    assert imports and imports <= set(ASSETS)


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/static/index.html.bak",
        "/dashboard/static/..%2Frouter.py",
        "/dashboard/static/%2E%2E%2F__init__.py",
        "/dashboard/static/nope.js",
    ],
)
def test_unknown_files_are_404(web, path):
    assert web.get(path).status_code == 404

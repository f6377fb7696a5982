"""The dashboard in real headless Chromium against the app under uvicorn: sign in,
the map and figures match the API, a ticket change shows up live. Screenshots at
laptop and tablet sizes go to ``artifacts/`` (kept by CI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _unavailable
from tests.dashboard.live import live_server
from tests.tickets.conftest import A_SPOT, C_SPOT, City, after_photo

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAPTOP = {"width": 1366, "height": 800}
TABLET = {"width": 820, "height": 1180}
FIGURES = {
    "figure-open": lambda s: s["backlog"]["open"],
    "figure-overdue": lambda s: s["overdue"],
    "figure-resolution-rate": lambda s: s["resolution_rate"],
    "figure-on-time-rate": lambda s: s["on_time_rate"],
    "figure-rework-rate": lambda s: s["rework_rate"],
    "figure-median-resolution": lambda s: s["time_to_resolution_s"]["median"],
}

PARSER_CHECK = r"""async () => {
  const { frameParser } = await import("/dashboard/static/stream.js");
  const got = [];
  const push = frameParser((f) => got.push(f));
  push("retry: 2000\n: resuming after 0\n\nid: 5\nevent: ticket.created\ndata: {\"a\":1}\r");
  push("\n\r\nid: 6\nevent: ticket.accepted\ndata: {\"b\"");
  push(":2}\n\n");
  return got;
}"""


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable("browser", f"{CHROMIUM} not found (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def busy_city(make_city) -> City:
    """Three tickets: one resolved (so rates have a value), one accepted, one new."""
    city: City = make_city(events_poll_interval_s=0.05, events_heartbeat_s=1.0)
    done = city.report(A_SPOT, seed=1)
    assert city.act(done, "accept", "off_a").status_code == 200
    assert city.resolve(done, "off_a", photos=[after_photo()]).status_code == 200
    assert city.act(city.report(A_SPOT, seed=2), "accept", "off_a").status_code == 200
    city.report(C_SPOT, seed=3)
    return city


def _value(raw: str | None) -> float | None:
    return None if raw in (None, "") else float(raw)


def test_dashboard_end_to_end(busy_city, browser):
    city = busy_city
    viewer = city.h["viewer"]
    token = viewer["Authorization"].removeprefix("Bearer ")
    with live_server(city.settings) as base, httpx.Client(base_url=base, timeout=10) as api:
        boundaries = api.get("/v1/grids/boundaries", headers=viewer).json()
        summary = api.get("/v1/stats/summary", headers=viewer).json()
        offices = api.get("/v1/stats/offices", headers=viewer).json()
        assert len(boundaries["features"]) == 2 and summary["total"] == 3

        context = browser.new_context(viewport=LAPTOP)
        page = context.new_page()
        problems: list[str] = []  # script errors and CSP violations land here
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            page.goto(f"{base}/dashboard")

            # A refused token returns to the sign-in form with the reason.
            page.get_by_test_id("token-input").fill("not-a-token")
            page.get_by_test_id("signin-submit").click()
            error = page.get_by_test_id("signin-error")
            error.wait_for(state="visible", timeout=5000)
            assert error.inner_text().strip()
            assert page.evaluate("sessionStorage.length") == 0
            # The browser logs each refused request itself: the map and the three
            # figure requests go out together, and the form shows the first refusal,
            # so wait for all four before clearing (a late one would land after).
            deadline = time.monotonic() + 10
            while sum("401" in m for m in problems) < 4 and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            assert sum("401" in m for m in problems) == 4, problems
            problems.clear()

            page.get_by_test_id("token-input").fill(token)
            page.get_by_test_id("signin-submit").click()
            page.get_by_test_id("board").wait_for(state="visible", timeout=10000)

            # The map: one polygon per feature the API returns, coloured, with tooltips.
            polygons = page.locator("[data-testid=map-office]")
            assert polygons.count() == len(boundaries["features"])
            drawn = sorted(polygons.evaluate_all("ps => ps.map(p => p.dataset.code)"))
            assert drawn == sorted(f["id"] for f in boundaries["features"])
            assert all(polygons.nth(i).get_attribute("fill") for i in range(polygons.count()))
            polygons.first.hover()
            tooltip = page.get_by_test_id("map-tooltip")
            tooltip.wait_for(state="visible", timeout=2000)
            assert "District" in tooltip.inner_text()

            # Headline figures: the very values of /v1/stats/summary.
            for testid, pick in FIGURES.items():
                shown = page.get_by_test_id(testid)
                assert _value(shown.get_attribute("data-value")) == pick(summary), testid
                assert (
                    shown.locator(".value").inner_text() not in ("", "–") or pick(summary) is None
                )
            assert page.get_by_test_id("figure-open").locator(".value").inner_text() == "2"
            rows = page.locator("[data-testid=ranking-row]")
            assert rows.count() == len(offices["items"])

            # A change made through the API appears in the live list.
            page.wait_for_selector("[data-testid=live-status][data-state=live]", timeout=10000)
            tid = city.report(C_SPOT, seed=4)
            officer = city.h["off_c"]
            tag = api.get(f"/v1/tickets/{tid}", headers=officer).headers["etag"]
            r = api.post(f"/v1/tickets/{tid}/accept", headers={**officer, "If-Match": tag})
            assert r.status_code == 200, r.text
            started = time.monotonic()
            page.wait_for_selector(
                f"[data-testid=event][data-ticket='{tid}'][data-kind='ticket.accepted']",
                timeout=5000,
            )
            seen_after = time.monotonic() - started
            # Figures follow the event (debounced): one more open ticket.
            page.wait_for_selector("[data-testid=figure-open][data-value='3']", timeout=5000)

            # The stream parser copes with frames split anywhere, CRLF included.
            frames = page.evaluate(PARSER_CHECK)
            assert frames == [
                {"id": None, "event": None, "data": "", "retry": 2000},
                {"id": "5", "event": "ticket.created", "data": '{"a":1}', "retry": None},
                {"id": "6", "event": "ticket.accepted", "data": '{"b":2}', "retry": None},
            ]

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-laptop.png"), full_page=True)
            page.set_viewport_size(TABLET)
            page.wait_for_timeout(200)
            page.screenshot(path=str(ARTIFACTS / "dashboard-tablet.png"), full_page=True)
            # One column on a tablet: nothing wider than the screen.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= TABLET["width"], width

            page.get_by_test_id("sign-out").click()
            page.get_by_test_id("signin").wait_for(state="visible", timeout=2000)
            assert page.evaluate("sessionStorage.length") == 0
            assert problems == [], problems
            assert seen_after < 5
        finally:
            context.close()

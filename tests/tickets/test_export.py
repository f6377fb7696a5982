"""Ticket exports (CSV, GeoJSON) through the real app on both databases: same rows,
scope and filters as the work queue, spreadsheet-safe CSV, RFC 7946 GeoJSON, and
reading in bounded batches while the body streams."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from shapely.geometry import Point, shape
from sqlalchemy import insert, select

from app.auth.models import Principal
from app.auth.scope import EVERYTHING
from app.categories.models import Category
from app.core.db import utcnow
from app.reports.models import Report
from app.tickets import export
from app.tickets.models import Ticket
from app.tickets.repository import QueueFilter
from tests.tickets.conftest import A_SPOT, C_SPOT, City

BOM = b"\xef\xbb\xbf"
B_SPOT = (22.51, 113.015)  # inside gb
CHINESE = '路口井盖缺失，电动车绕行\n第二行, "引号"'


def _export(city: City, who: str, **params: Any) -> httpx.Response:
    return city.client.get("/v1/tickets/export", params=params, headers=city.h[who])


def _csv(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.content.startswith(BOM)
    reader = csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline=""))
    header = next(reader)
    assert header == list(export.COLUMNS)
    return [dict(zip(header, row, strict=True)) for row in reader]


def _geojson(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    body: dict[str, Any] = json.loads(r.content)
    return body


def _queue(city: City, who: str, **params: Any) -> list[dict[str, Any]]:
    """The whole queue for these filters, every page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        r = city.client.get("/v1/tickets", params=q, headers=city.h[who])
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def _when(value: str) -> datetime | None:
    if not value:
        return None
    when = datetime.fromisoformat(value)
    assert when.utcoffset() is not None, value
    return when


def _same_ticket(row: dict[str, str], q: dict[str, Any]) -> None:
    assert int(row["id"]) == q["id"]
    assert row["status"] == q["status"]
    assert row["resolution"] == (q["resolution"] or "")
    assert row["category"] == q["category"]
    assert int(row["priority"]) == q["priority"]
    assert (row["office"], row["office_name"]) == (q["office"]["code"], q["office"]["name"])
    for col in ("created_at", "due_at", "resolved_at", "closed_at"):
        expected = datetime.fromisoformat(q[col]) if q[col] else None
        assert _when(row[col]) == expected, col
    assert row["overdue"] == ("true" if q["overdue"] else "false")
    assert float(row["lat"]) == round(q["lat"], 7)
    assert float(row["lon"]) == round(q["lon"], 7)


def bulk_tickets(city: City, session_factory: Any, n: int, office: str = "ga") -> list[int]:
    """``n`` tickets (and their reports) inserted directly, spread over ``office``'s west half."""
    now = utcnow()
    with session_factory() as s:
        rider = s.scalar(select(Principal.id).where(Principal.name == "rider-1"))
        cat = s.scalar(select(Category.id).where(Category.code == "road_damage"))
        spots = [(22.501 + (i % 97) * 0.0002, 113.001 + (i % 89) * 0.00004) for i in range(n)]
        report_ids = list(
            s.scalars(
                insert(Report).returning(Report.id, sort_by_parameter_order=True),
                [
                    {
                        "reporter_id": rider,
                        "category_id": cat,
                        "description": f"bulk {i}",
                        "lat": lat,
                        "lon": lon,
                        "location_source": "given",
                        "created_at": now,
                    }
                    for i, (lat, lon) in enumerate(spots)
                ],
            )
        )
        ids = list(
            s.scalars(
                insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True),
                [
                    {
                        "report_id": rid,
                        "office_id": city.office_ids[office],
                        "category_id": cat,
                        "status": "new",
                        "priority": 2,
                        "lat": lat,
                        "lon": lon,
                        "location": Point(lon, lat),
                        "route_reason": "inside",
                        "candidate_office_ids": [],
                        "due_at": now + timedelta(days=3),
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for rid, (lat, lon) in zip(report_ids, spots, strict=True)
                ],
            )
        )
        s.commit()
    return ids


# ---------------------------------------------------------------- CSV


def test_csv_rows_equal_the_queue_with_bom_header_and_chinese_text(city):
    a1 = city.report(A_SPOT, seed=61, description=CHINESE)
    a2 = city.report(seed=62)
    c1 = city.report(C_SPOT, seed=63)
    light = city.report(category="street_light_out", seed=64)
    assert city.act(a2, "accept", "off_a").status_code == 200
    r = _export(city, "sup_city", format="csv")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="tickets-\d{8}T\d{6}Z\.csv"', r.headers["content-disposition"]
    )
    rows = _csv(r)
    queue = _queue(city, "sup_city")
    assert [int(row["id"]) for row in rows] == sorted(q["id"] for q in queue) == [a1, a2, c1, light]
    for row, q in zip(rows, sorted(queue, key=lambda q: q["id"]), strict=True):
        _same_ticket(row, q)
    by_id = {int(row["id"]): row for row in rows}
    # Chinese text (with a comma, quotes and a line break) comes back exactly.
    assert by_id[a1]["description"] == CHINESE
    assert by_id[a1]["category_name"] == "道路破损"
    assert by_id[a1]["report_id"] and int(by_id[a1]["report_id"]) > 0
    # Accepted: when, after creation; never accepted: empty.
    accepted = _when(by_id[a2]["accepted_at"])
    assert accepted is not None and accepted >= datetime.fromisoformat(by_id[a2]["created_at"])
    assert by_id[a1]["accepted_at"] == "" and by_id[a1]["status"] == "new"


def test_csv_cells_that_would_run_as_formulas_get_an_apostrophe(city):
    tid = city.report(A_SPOT, seed=71, description='=HYPERLINK("http://evil.example","click")')
    row = _csv(_export(city, "off_a"))[0]
    assert int(row["id"]) == tid
    assert row["description"] == '\'=HYPERLINK("http://evil.example","click")'
    for text in ("=1+2", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert export.csv_cell(text) == "'" + text
    for text in ("a=b", "1-2", "道路", ""):
        assert export.csv_cell(text) == text
    # Numbers are ours, not user text: a negative one stays a number.
    assert export.csv_cell(-113.5) == "-113.5"
    assert export.csv_cell(None) == "" and export.csv_cell(True) == "true"


# ---------------------------------------------------------------- GeoJSON


def test_geojson_is_rfc_7946(city):
    a1 = city.report(seed=81)
    b1 = city.report(B_SPOT, seed=82)
    body = _geojson(_export(city, "sup_d1", format="geojson"))
    assert body["type"] == "FeatureCollection" and "crs" not in body
    assert [f["id"] for f in body["features"]] == [a1, b1]
    queue = {q["id"]: q for q in _queue(city, "sup_d1")}
    for feat in body["features"]:
        assert feat["type"] == "Feature" and "crs" not in feat
        assert set(feat) == {"type", "id", "geometry", "properties"}
        geom = feat["geometry"]
        assert geom["type"] == "Point" and len(geom["coordinates"]) == 2
        lon, lat = geom["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert shape(geom).is_valid
        # Seven decimals at most.
        assert all(len(repr(c).partition(".")[2]) <= 7 for c in (lon, lat))
        props = feat["properties"]
        assert props["id"] == feat["id"]
        assert list(props) == [c for c in export.COLUMNS if c not in ("lat", "lon")]
        assert isinstance(props["created_at"], str) and _when(props["created_at"])
        assert isinstance(props["overdue"], bool)
        q = queue[feat["id"]]
        assert [lon, lat] == [round(q["lon"], 7), round(q["lat"], 7)]
        assert props["category_name"] == "道路破损"
    # lon first: grid A's spot is (lat 22.51, lon 113.005), far apart.
    first = body["features"][0]["geometry"]["coordinates"]
    assert first == [A_SPOT[1], A_SPOT[0]]


def test_geojson_with_no_tickets_is_valid_json(city):
    city.report(seed=91)
    r = _export(city, "off_a", format="geojson", status="rejected")
    assert r.content == b'{"type":"FeatureCollection","features":[]}'
    assert _geojson(r)["features"] == []
    assert re.fullmatch(
        r'attachment; filename="tickets-\d{8}T\d{6}Z\.geojson"', r.headers["content-disposition"]
    )


# ---------------------------------------------------------------- scope and filters


def test_scope_matches_the_queue_and_roles_without_a_queue_are_refused(city):
    a1, b1, c1 = city.report(seed=101), city.report(B_SPOT, seed=102), city.report(C_SPOT, seed=103)

    def ids(who: str) -> list[int]:
        return [int(row["id"]) for row in _csv(_export(city, who))]

    assert ids("off_a") == [a1]  # own office only
    assert ids("off_b") == [b1]
    assert ids("off_c") == [c1]
    assert ids("sup_d1") == [a1, b1]  # the district's subtree, not district 2
    assert ids("sup_city") == ids("admin") == [a1, b1, c1]
    for who in ("off_a", "off_c", "sup_d1", "sup_city"):
        assert ids(who) == sorted(q["id"] for q in _queue(city, who))
    for who, status in (("viewer", 403), ("r1", 403), ("anon", 401)):
        r = _export(city, who)
        assert r.status_code == status, (who, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    # An office outside the caller's scope is refused, not silently empty.
    r = _export(city, "off_a", office="gc")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "office"


def test_filters_match_the_queue(city):
    a1, a2 = city.report(seed=111), city.report(seed=112)
    c1 = city.report(C_SPOT, seed=113)
    light = city.report(category="street_light_out", seed=114)
    assert city.act(a2, "accept", "off_a").status_code == 200
    cases = [
        ({"status": "accepted"}, [a2]),
        ({"status": "new,accepted"}, [a1, a2, c1, light]),
        ({"category": "street_light_out"}, [light]),
        ({"bbox": "113.02,22.50,113.04,22.52"}, [c1]),
        ({"office": "d2"}, [c1]),
        ({"status": "new", "category": "road_damage", "bbox": "113.00,22.50,113.01,22.52"}, [a1]),
    ]
    for params, expected in cases:
        rows = _csv(_export(city, "sup_city", **params))
        assert [int(row["id"]) for row in rows] == expected, params
        assert expected == sorted(q["id"] for q in _queue(city, "sup_city", **params))
        geo = _geojson(_export(city, "sup_city", format="geojson", **params))
        assert [f["id"] for f in geo["features"]] == expected, params


def test_bad_format_and_filters_are_problems(city):
    for params, field in [
        ({"format": "xlsx"}, "format"),
        ({"format": "json"}, "format"),
        ({"status": "done"}, "status"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"category": "nope"}, "category"),
    ]:
        r = _export(city, "sup_city", **params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], (params, r.text)


def test_openapi_documents_the_export(city):
    spec = city.client.get("/openapi.json").json()
    op = spec["paths"]["/v1/tickets/export"]["get"]
    assert set(op["responses"]) == {"200", "401", "403", "422"}
    assert set(op["responses"]["200"]["content"]) == {"text/csv", "application/geo+json"}
    for code in ("401", "403", "422"):
        assert set(op["responses"][code]["content"]) == {"application/problem+json"}
    params = {p["name"]: p for p in op["parameters"]}
    assert {"status", "category", "office", "overdue", "bbox", "format"} <= set(params)
    ref = params["format"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][ref]["enum"] == ["csv", "geojson"]


# ---------------------------------------------------------------- streaming


class CountingFactory:
    """Real sessions, counted: how many were opened and whether any is still in a transaction."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.sessions: list[Any] = []

    def __call__(self) -> Any:
        session = self.factory()
        self.sessions.append(session)
        return session

    @property
    def opened(self) -> int:
        return len(self.sessions)

    def any_open(self) -> bool:
        return any(s.in_transaction() for s in self.sessions)


def test_batches_bound_rows_held_and_are_read_lazily(city, session_factory):
    ids = bulk_tickets(city, session_factory, 23)
    flt = QueueFilter(scope=EVERYTHING, now=utcnow())
    factory = CountingFactory(session_factory)
    batches = export.ticket_batches(factory, flt, batch_size=5)
    assert factory.opened == 0  # nothing is read before the body is asked for
    first = next(batches)
    assert [r.id for r in first] == ids[:5]
    assert factory.opened == 1 and not factory.any_open()  # no transaction held in between
    # Tickets created after the export started are not in it: it always ends.
    later = bulk_tickets(city, session_factory, 3)
    rest = list(batches)
    assert [len(b) for b in rest] == [5, 5, 5, 3]
    assert [r.id for b in [first, *rest] for r in b] == ids
    assert not set(later) & {r.id for b in rest for r in b}
    assert factory.opened == 5 and not factory.any_open()
    # A multiple of the batch size ends with one empty read, never an empty batch.
    factory = CountingFactory(session_factory)
    sizes = [len(b) for b in export.ticket_batches(factory, flt, batch_size=13)]
    assert sizes == [13, 13] and factory.opened == 3
    # One CSV chunk per batch after the header, each holding at most a batch of rows.
    chunks = list(
        export.csv_chunks(export.ticket_batches(session_factory, flt, batch_size=4), utcnow())
    )
    assert len(chunks) == 1 + 7
    assert [c.decode("utf-8").count("\r\n") for c in chunks] == [1, 4, 4, 4, 4, 4, 4, 2]


@pytest.mark.slow
def test_http_export_of_thousands_arrives_in_chunks_read_batch_by_batch(city, session_factory):
    n = 3000
    ids = bulk_tickets(city, session_factory, n)
    app = city.client.app
    factory = CountingFactory(app.state.sessionmaker)
    app.state.sessionmaker = factory
    try:
        url = "/v1/tickets/export"
        with city.client.stream("GET", url, headers=city.h["off_a"]) as r:
            assert r.status_code == 200
            stream = r.iter_raw()
            head = [next(stream), next(stream)]  # the header row, then the first batch
            # The response is under way with only the first batches read: the rest
            # is read as the client takes it, not buffered up front.
            assert factory.opened <= 4
            chunks = head + list(stream)
        expected_batches = -(-n // export.BATCH_SIZE)
        assert len(chunks) >= 1 + expected_batches
        body = b"".join(chunks)
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
        assert [int(row[0]) for row in rows[1:]] == ids
        assert max(c.count(b"\r\n") for c in chunks) <= export.BATCH_SIZE
        with city.client.stream(
            "GET", url, params={"format": "geojson"}, headers=city.h["off_a"]
        ) as r:
            geo_chunks = list(r.iter_raw())
        assert len(geo_chunks) >= 2 + expected_batches
        features = json.loads(b"".join(geo_chunks))["features"]
        assert [f["id"] for f in features] == ids
    finally:
        app.state.sessionmaker = factory.factory

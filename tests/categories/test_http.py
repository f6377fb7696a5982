"""Catalogue endpoints through the real app: public reads with ETags, admin writes,
problem+json errors naming the field, and who may do what."""

from __future__ import annotations

import pytest

from tests.categories.conftest import ROLES
from tests.categories.test_defaults import EXPECTED_ZH
from tests.categories.test_service import DEFAULT_ORDER

NEW = {
    "code": "broken_bench",
    "name_zh": "座椅损坏",
    "name_en": "Broken bench",
    "group": "city_management",
    "sla_hours": 96,
    "keywords": ["座椅", "bench"],
    "attributes": [
        {
            "code": "material",
            "datatype": "singlevaluelist",
            "description": "What is it made of?",
            "order": 1,
            "values": [
                {"key": "wood", "name": "木 / wood"},
                {"key": "metal", "name": "金属 / metal"},
            ],
        }
    ],
}


def problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def fields(body: dict) -> list[str]:
    return [e["field"] for e in body.get("errors") or []]


def test_list_is_public_ordered_and_complete(client, seeded):
    assert seeded == 9
    r = client.get("/v1/categories")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["code"] for c in body["items"]] == DEFAULT_ORDER
    assert {c["code"]: c["name_zh"] for c in body["items"]} == EXPECTED_ZH
    assert len(body["fingerprint"]) == 64
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["etag"] == f'"{body["fingerprint"]}"'
    road = body["items"][0]
    assert road == {
        "code": "road_damage",
        "name_zh": "道路破损",
        "name_en": "Road damage",
        "group": "road",
        "description": None,
        "sla_hours": 72,
        "photo_required": True,
        "evidence_required": True,
        "active": True,
        "sort_order": 10,
        "keywords": road["keywords"],
        "attributes": road["attributes"],
    }
    assert [a["code"] for a in road["attributes"]] == ["size", "blocking_traffic"]
    assert road["attributes"][1]["values"] == [
        {"key": "yes", "name": "是 / yes"},
        {"key": "no", "name": "否 / no"},
    ]


def test_list_same_for_signed_in_callers(client, seeded, headers):
    public = client.get("/v1/categories")
    for role in ROLES:
        r = client.get("/v1/categories", headers=headers[role])
        assert r.status_code == 200 and r.json() == public.json(), role
        assert r.headers["etag"] == public.headers["etag"]


def test_etag_304_and_change_after_patch(client, seeded, headers):
    first = client.get("/v1/categories")
    etag = first.headers["etag"]
    r = client.get("/v1/categories", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == etag and r.headers["cache-control"] == "public, max-age=60"
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        assert client.get("/v1/categories", headers={"If-None-Match": header}).status_code == 304
    assert client.get("/v1/categories", headers={"If-None-Match": '"stale"'}).status_code == 200

    r = client.patch(
        "/v1/categories/road_damage", json={"name_en": "Potholes"}, headers=headers["admin"]
    )
    assert r.status_code == 200, r.text
    r = client.get("/v1/categories", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag
    assert r.json()["items"][0]["name_en"] == "Potholes"
    new_etag = r.headers["etag"]

    # A PATCH that changes nothing public keeps the ETag (caches stay warm).
    client.patch("/v1/categories/road_damage", json={"sla_hours": 72}, headers=headers["admin"])
    assert client.get("/v1/categories", headers={"If-None-Match": new_etag}).status_code == 304


def test_retire_hides_from_public_and_restore_brings_back(client, seeded, headers):
    admin = headers["admin"]
    etag = client.get("/v1/categories").headers["etag"]
    r = client.patch("/v1/categories/fallen_tree", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False

    public = client.get("/v1/categories")
    assert "fallen_tree" not in [c["code"] for c in public.json()["items"]]
    assert public.headers["etag"] != etag
    problem(client.get("/v1/categories/fallen_tree"), 404)
    problem(client.get("/v1/categories/fallen_tree", headers=headers["officer"]), 404)
    r = client.get("/v1/categories/fallen_tree", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False

    full = client.get("/v1/categories", params={"include_retired": "true"}, headers=admin)
    assert full.status_code == 200
    assert len(full.json()["items"]) == 9
    assert full.headers["cache-control"] == "private, no-cache"
    assert full.headers["etag"].endswith('-all"') and full.headers["etag"] != public.headers["etag"]
    again = client.get(
        "/v1/categories",
        params={"include_retired": "true"},
        headers=admin | {"If-None-Match": full.headers["etag"]},
    )
    assert again.status_code == 304
    # A retired category edited: the admin list changes, the public one does not.
    client.patch("/v1/categories/fallen_tree", json={"name_en": "Tree down"}, headers=admin)
    assert (
        client.get(
            "/v1/categories",
            params={"include_retired": "true"},
            headers=admin | {"If-None-Match": full.headers["etag"]},
        ).status_code
        == 200
    )
    assert client.get("/v1/categories").headers["etag"] == public.headers["etag"]

    r = client.patch("/v1/categories/fallen_tree", json={"active": True}, headers=admin)
    assert r.status_code == 200 and r.json()["name_en"] == "Tree down"
    assert client.get("/v1/categories/fallen_tree").status_code == 200


def test_include_retired_is_for_admins_only(client, seeded, headers):
    body = problem(client.get("/v1/categories", params={"include_retired": "true"}), 401)
    assert "admin" in body["detail"]
    for role in ("rider", "officer", "supervisor", "viewer"):
        r = client.get("/v1/categories", params={"include_retired": True}, headers=headers[role])
        assert "retired" in problem(r, 403)["detail"], role
    ok = client.get("/v1/categories", params={"include_retired": "false"}, headers=headers["rider"])
    assert ok.status_code == 200


def test_get_one(client, seeded):
    r = client.get("/v1/categories/manhole_cover")
    assert r.status_code == 200
    assert r.json()["name_zh"] == "井盖缺失" and r.json()["sla_hours"] == 4
    body = problem(client.get("/v1/categories/no_such_thing"), 404)
    assert body["type"].endswith("/category-not-found")
    problem(client.get("/v1/categories/" + "x" * 40), 422)


def test_create_then_read(client, seeded, headers):
    r = client.post("/v1/categories", json=NEW, headers=headers["admin"])
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("/v1/categories/broken_bench")
    body = r.json()
    assert body["group"] == "city_management" and body["active"] is True
    assert body["attributes"][0]["required"] is False and body["attributes"][0]["variable"] is True
    assert client.get("/v1/categories/broken_bench").json() == body
    codes = [c["code"] for c in client.get("/v1/categories").json()["items"]]
    assert codes[-2:] == ["broken_bench", "other"]  # sort_order 100, other is 990


# (method, path, body) → expected status per role
WRITES = [
    ("POST", "/v1/categories", NEW, 201),
    ("PATCH", "/v1/categories/road_damage", {"sla_hours": 48}, 200),
]


@pytest.mark.parametrize(("method", "path", "body", "ok"), WRITES, ids=["create", "update"])
def test_role_matrix_for_writes(client, seeded, headers, method, path, body, ok):
    expected = {"anonymous": 401, "rider": 403, "officer": 403, "supervisor": 403, "viewer": 403}
    for role, status in expected.items():
        r = client.request(method, path, json=body, headers=headers[role])
        problem(r, status)
        if status == 401:
            assert "WWW-Authenticate" in r.headers
    r = client.request(method, path, json=body, headers=headers["admin"])
    assert r.status_code == ok, r.text
    # Nothing was written by the refused callers: the admin's write was the first.
    if method == "POST":
        problem(client.post(path, json=body, headers=headers["admin"]), 409)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "Bad-Code"}, "code"),
        ({"code": "b"}, "code"),
        ({"sla_hours": 0}, "sla_hours"),
        ({"sla_hours": 9000}, "sla_hours"),
        ({"name_zh": ""}, "name_zh"),
        ({"name_en": "x" * 101}, "name_en"),
        ({"unexpected": 1}, "unexpected"),
        ({"attributes": [NEW["attributes"][0] | {"datatype": "colour"}]}, "attributes.0.datatype"),
        (
            {
                "attributes": [
                    NEW["attributes"][0],
                    NEW["attributes"][0] | {"code": "x1", "values": []},
                ]
            },
            "attributes.1.values",
        ),
        ({"attributes": [NEW["attributes"][0] | {"datatype": "number"}]}, "attributes.0.values"),
        ({"attributes": [NEW["attributes"][0]] * 2}, "attributes.1.code"),
    ],
)
def test_create_validation_errors_name_the_field(client, headers, change, field):
    r = client.post("/v1/categories", json=NEW | change, headers=headers["admin"])
    body = problem(r, 422)
    assert fields(body) == [field], body
    assert body["errors"][0]["in"] == "body" and body["errors"][0]["reason"]
    assert field in body["detail"]


def test_duplicate_code_is_409(client, seeded, headers):
    r = client.post(
        "/v1/categories",
        json={"code": "road_damage", "name_zh": "x", "name_en": "x"},
        headers=headers["admin"],
    )
    body = problem(r, 409)
    assert body["type"].endswith("/category-code-taken") and "road_damage" in body["detail"]
    assert fields(body) == ["code"]


def test_patch_errors(client, seeded, headers):
    admin = headers["admin"]
    problem(client.patch("/v1/categories/nope", json={"active": False}, headers=admin), 404)
    cases = [
        ({"sla_hours": 0}, "sla_hours"),
        ({"name_zh": None}, "name_zh"),
        ({"code": "renamed"}, "code"),
        ({"attributes": [{**NEW["attributes"][0], "values": []}]}, "attributes.0.values"),
    ]
    for patch, field in cases:
        r = client.patch("/v1/categories/road_damage", json=patch, headers=admin)
        assert fields(problem(r, 422)) == [field], patch
    # Nothing changed by the refused patches.
    r = client.get("/v1/categories/road_damage").json()
    assert r["sla_hours"] == 72 and r["name_zh"] == "道路破损" and len(r["attributes"]) == 2


def test_openapi_documents_the_endpoints(client):
    spec = client.get("/openapi.json").json()
    ops = spec["paths"]["/v1/categories"]
    assert {"200", "304", "401", "403", "422"} <= set(ops["get"]["responses"])
    assert {"201", "401", "403", "409", "422"} <= set(ops["post"]["responses"])
    one = spec["paths"]["/v1/categories/{code}"]
    assert {"200", "404"} <= set(one["get"]["responses"])
    assert {"200", "401", "403", "404", "422"} <= set(one["patch"]["responses"])
    for op in (ops["get"], ops["post"], one["get"], one["patch"]):
        assert op["tags"] == ["categories"] and op["description"]
    assert "application/problem+json" in ops["post"]["responses"]["409"]["content"]

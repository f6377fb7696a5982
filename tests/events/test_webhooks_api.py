"""The webhook admin API: registration (with the SSRF check), changes, the delivery
log and who may use any of it."""

from __future__ import annotations

import pytest

from tests.events.conftest import EVENT_SETTINGS, add_webhook

HOOK = "http://127.0.0.1:9/hook"


def test_create_shows_the_secret_once(city):
    r = city.client.post(
        "/v1/webhooks",
        json={
            "url": HOOK,
            "event_kinds": ["ticket.resolved", "ticket.closed"],
            "office": "d1",
            "description": "partner app",
        },
        headers=city.h["admin"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/webhooks/{body['id']}"
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["event_kinds"] == ["ticket.closed", "ticket.resolved"]
    assert body["office"] == {"code": "d1", "name": "District 1"} and body["active"] is True
    listed = city.client.get("/v1/webhooks", headers=city.h["admin"]).json()["items"]
    one = city.client.get(f"/v1/webhooks/{body['id']}", headers=city.h["admin"]).json()
    assert "secret" not in listed[0] and "secret" not in one
    assert one == {k: v for k, v in body.items() if k != "secret"} == listed[0]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://2130706433/",
        "ftp://partner.example/hook",
        "http://user:pw@8.8.8.8/hook",
        "not a url",
    ],
)
def test_registration_refuses_urls_that_reach_inside(make_city, url):
    city = make_city()  # default settings: no loopback exception
    r = city.client.post("/v1/webhooks", json={"url": url}, headers=city.h["admin"])
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "url"
    assert city.client.get("/v1/webhooks", headers=city.h["admin"]).json()["items"] == []


def test_registration_accepts_public_addresses_without_connecting(make_city):
    city = make_city()
    add_webhook(city, "https://8.8.8.8:8443/gridfix?token=abc")


def test_invalid_bodies(city):
    def create(**body):
        return city.client.post("/v1/webhooks", json={"url": HOOK, **body}, headers=city.h["admin"])

    assert create(event_kinds=["ticket.exploded"]).json()["errors"][0]["field"] == "event_kinds"
    assert create(office="nowhere").json()["errors"][0]["field"] == "office"
    assert create(secret="mine").status_code == 422  # the secret is never chosen by the caller
    assert create(url="http://x/" + "a" * 2100).status_code == 422


def test_patch_changes_only_what_is_sent(city):
    hook = add_webhook(city, HOOK, office="ga", description="first")
    url = f"/v1/webhooks/{hook['id']}"
    r = city.client.patch(url, json={"event_kinds": ["ticket.closed"]}, headers=city.h["admin"])
    assert r.status_code == 200 and r.json()["event_kinds"] == ["ticket.closed"]
    assert r.json()["office"]["code"] == "ga" and r.json()["description"] == "first"
    r = city.client.patch(url, json={"office": None, "active": False}, headers=city.h["admin"])
    assert r.json()["office"] is None and r.json()["active"] is False
    r = city.client.patch(url, json={"url": "http://10.0.0.1/x"}, headers=city.h["admin"])
    assert r.status_code == 422  # ... but loopback is allowed in these tests
    r = city.client.patch(url, json={"url": "http://127.0.0.1:10/x"}, headers=city.h["admin"])
    assert r.status_code == 200 and r.json()["url"] == "http://127.0.0.1:10/x"
    assert (
        city.client.patch(url, json={"office": "nowhere"}, headers=city.h["admin"]).status_code
        == 422
    )


def test_delete_removes_the_subscription_and_its_log(city, deliveries):
    hook = add_webhook(city, HOOK)
    city.report()
    assert len(deliveries()) == 1
    url = f"/v1/webhooks/{hook['id']}"
    assert city.client.delete(url, headers=city.h["admin"]).status_code == 204
    assert city.client.get(url, headers=city.h["admin"]).status_code == 404
    assert city.client.delete(url, headers=city.h["admin"]).status_code == 404
    assert deliveries() == []


def test_delivery_log_pages_newest_first_and_filters(city):
    hook = add_webhook(city, HOOK)
    tid = city.report()
    city.act(tid, "accept", "off_a")
    city.act(tid, "start", "off_a")
    url = f"/v1/webhooks/{hook['id']}/deliveries"
    first = city.client.get(url, params={"limit": 2}, headers=city.h["admin"]).json()
    assert [d["event_kind"] for d in first["items"]] == ["ticket.started", "ticket.accepted"]
    assert first["items"][0]["status"] == "pending" and first["items"][0]["attempts"] == 0
    rest = city.client.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=city.h["admin"]
    ).json()
    assert [d["event_kind"] for d in rest["items"]] == ["ticket.created"]
    assert rest["next_cursor"] is None
    dead = city.client.get(url, params={"status": "dead"}, headers=city.h["admin"]).json()
    assert dead["items"] == []
    assert (
        city.client.get(url, params={"status": "lost"}, headers=city.h["admin"]).status_code == 422
    )
    assert (
        city.client.get(url, params={"cursor": "junk"}, headers=city.h["admin"]).status_code == 422
    )
    # A delivery of another webhook is not found under this one.
    other = add_webhook(city, HOOK)
    d_id = first["items"][0]["id"]
    r = city.client.post(
        f"/v1/webhooks/{other['id']}/deliveries/{d_id}/redeliver", headers=city.h["admin"]
    )
    assert r.status_code == 404


ENDPOINTS = [
    ("POST", "/v1/webhooks", {"url": HOOK}),
    ("GET", "/v1/webhooks", None),
    ("GET", "/v1/webhooks/{id}", None),
    ("PATCH", "/v1/webhooks/{id}", {"description": "x"}),
    ("GET", "/v1/webhooks/{id}/deliveries", None),
    ("POST", "/v1/webhooks/{id}/deliveries/{delivery}/redeliver", None),
    ("DELETE", "/v1/webhooks/{id}", None),
]


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anon", 401),
        ("r1", 403),
        ("off_a", 403),
        ("sup_d1", 403),
        ("sup_city", 403),
        ("viewer", 403),
        ("admin", None),
    ],
)
def test_only_admins_manage_webhooks(make_city, who, status):
    city = make_city(**EVENT_SETTINGS)
    hook = add_webhook(city, HOOK)
    city.report()
    log = city.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=city.h["admin"])
    ids = {"id": hook["id"], "delivery": log.json()["items"][0]["id"]}
    for method, path, body in ENDPOINTS:
        r = city.client.request(method, path.format(**ids), json=body, headers=city.h[who])
        if status is None:
            assert 200 <= r.status_code < 300, (method, path, r.text)
        else:
            assert r.status_code == status, (method, path, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")


def test_openapi_documents_the_endpoints(city):
    spec = city.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/events",
        "/v1/events/stream",
        "/v1/webhooks",
        "/v1/webhooks/{webhook_id}",
        "/v1/webhooks/{webhook_id}/deliveries",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    ):
        assert path in paths, path
    assert "text/event-stream" in paths["/v1/events/stream"]["get"]["responses"]["200"]["content"]
    item = spec["components"]["schemas"]["FeedEvent"]["properties"]
    assert {"id", "kind", "ticket_id", "status", "previous_status", "office", "at"} <= set(item)

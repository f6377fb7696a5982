"""POST servicerequestupdates and the round trips between Open311 and the officer API.

"mySociety §POST Service Request Update" refers to mySociety's Open311 extension as
FixMyStreet's client speaks it and mySociety's endpoint schema lists it:
form-urlencoded ``api_key``, ``jurisdiction_id``, ``service_request_id``,
``update_id``, ``status`` (the extended values, upper case), ``updated_datetime``,
``description``, ``media_url``, names and email; the response is
``service_request_updates/request_update`` with ``update_id``. "GeoReport v2 §…"
refers to http://wiki.open311.org/GeoReport_v2 (errors, formats, api_key).
Where the extension leaves a choice to the server, the comment says which one
gridfix made (see app/open311/updates.py and the table in app/open311/status.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.auth.enums import Role
from app.core.db import mark_writer
from app.grids import repository as grid_repo
from app.tickets import repository as tickets_repo
from app.tickets.models import Ticket, TicketEvent
from tests.open311.conftest import PENGJIANG, World, xml_root
from tests.open311.http_server import Reply, media_server
from tests.open311.test_conformance import JSON_TYPE, W3C, XML_TYPE, assert_error
from tests.support.factories import auth_header, make_api_key, make_principal, token_for
from tests.support.photos import jpeg

_ids = itertools.count(1)


@dataclass
class Staff:
    """Keys and tokens around the Pengjiang office (440703)."""

    officer: dict[str, str]  # bearer header of an officer of 440703
    supervisor: dict[str, str]  # bearer header of its supervisor
    supervisor_key: str
    outsider_key: str  # an officer of Xinhui (440705): Pengjiang is out of scope


@pytest.fixture
def staff(world: World) -> Staff:
    with world.session_factory() as s:
        mark_writer(s)
        pengjiang = grid_repo.get_by_code(s, "440703")
        xinhui = grid_repo.get_by_code(s, "440705")
        officer = make_principal(s, "officer-pj", Role.officer, pengjiang)
        supervisor = make_principal(s, "sup-pj", Role.supervisor, pengjiang)
        outsider = make_principal(s, "officer-xh", Role.officer, xinhui)
        supervisor_key, outsider_key = make_api_key(s, supervisor), make_api_key(s, outsider)
        s.commit()
        return Staff(
            auth_header(token_for(world.settings, officer)),
            auth_header(token_for(world.settings, supervisor)),
            supervisor_key,
            outsider_key,
        )


def update(
    world: World,
    request_id: str | None,
    status: str | None,
    fmt: str = "json",
    *,
    key: str | None = "default",
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    **form: str | None,
) -> httpx.Response:
    """POST servicerequestupdates.{fmt} as FixMyStreet's client does; None leaves a field out."""
    data: dict[str, str | None] = {
        "service_request_id": request_id,
        "update_id": f"fms-{next(_ids)}",
        "status": status,
        "description": "Update from the council",
        "updated_datetime": datetime.now(UTC).isoformat(timespec="seconds"),
        "first_name": "Li",
        "last_name": "Hua",
        "email": "li.hua@example.org",
        "api_key": world.key if key == "default" else key,
    }
    data.update(form)
    sent = {k: v for k, v in data.items() if v is not None}
    return world.client.post(world.url(f"/servicerequestupdates.{fmt}"), data=sent, files=files)


def ticket_of(world: World, request_id: str) -> Ticket:
    with world.session_factory() as s:
        return s.scalar(select(Ticket).where(Ticket.report_id == int(request_id)))


def events_of(world: World, request_id: str) -> list[TicketEvent]:
    with world.session_factory() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.report_id == int(request_id)))
        return list(
            s.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.id)
            )
        )


def kinds(world: World, request_id: str) -> list[str]:
    return [e.kind for e in events_of(world, request_id)]


def seconds(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(microsecond=0)


def if_match(world: World, headers: dict[str, str], tid: int) -> dict[str, str]:
    response = world.client.get(f"/v1/tickets/{tid}", headers=headers)
    assert response.status_code == 200, response.text
    return {**headers, "If-Match": response.headers["etag"]}


# ---------------------------------------------------------------- round trips
def test_round_trip_open311_request_to_officer_queue_and_back(world, staff):
    # Acceptance: a request POSTed through Open311 reaches the office's queue; the
    # officer accepts and resolves it, a supervisor closes it (all with If-Match), and
    # GET requests/{id} then shows closed, the officer's note and the close time.
    photo = jpeg(seed=71)
    request_id = world.created_id(
        world.post(service_code="street_light_out", description="Lamp 12 is dark",
                   files=[("media", ("lamp.jpg", photo, "image/jpeg"))])
    )  # fmt: skip
    queue = world.client.get("/v1/tickets", headers=staff.officer, params={"status": "new"})
    assert queue.status_code == 200, queue.text
    tid = next(
        t["id"]
        for t in queue.json()["items"]
        if world.client.get(f"/v1/tickets/{t['id']}", headers=staff.officer).json()["report"]["id"]
        == int(request_id)
    )
    accepted = world.client.post(
        f"/v1/tickets/{tid}/accept", headers=if_match(world, staff.officer, tid)
    )
    assert accepted.status_code == 200, accepted.text
    note = "Replaced the lamp's ballast; lit again at 19:40"
    resolved = world.client.post(
        f"/v1/tickets/{tid}/resolve",
        headers=if_match(world, staff.officer, tid),
        data={"resolution": "fixed", "note": note},
    )
    assert resolved.status_code == 200, resolved.text
    assert world.get(f"/requests/{request_id}.json").json()[0]["status"] == "closed"
    closed = world.client.post(
        f"/v1/tickets/{tid}/close", headers=if_match(world, staff.supervisor, tid)
    )
    assert closed.status_code == 200, closed.text

    item = world.get(f"/requests/{request_id}.json").json()[0]
    events = world.client.get(f"/v1/tickets/{tid}/events", headers=staff.supervisor).json()
    close_event = next(e for e in events if e["kind"] == "closed")
    assert item["status"] == "closed"
    assert item["status_notes"] == note
    assert W3C.match(item["updated_datetime"])
    assert seconds(item["updated_datetime"]) == seconds(close_event["at"])
    xml_item = xml_root(world.get(f"/requests/{request_id}.xml")).find("request")
    assert xml_item.findtext("status") == "closed" and xml_item.findtext("status_notes") == note


def test_round_trip_through_servicerequestupdates(world, staff):
    # mySociety §POST Service Request Update with an officer's partner key: the ticket
    # records the officer actions; mySociety §GET Service Request Updates lists them.
    request_id = world.created_id(world.post(service_code="street_light_out",
                                             files=[("media", ("l.jpg", jpeg(), "image/jpeg"))]))  # fmt: skip
    started = update(world, request_id, "IN_PROGRESS", description="Crew on the way")
    assert started.status_code == 200, started.text
    fixed = update(world, request_id, "FIXED", description="New lamp fitted",
                   update_id="fms-comment-881")  # fmt: skip
    assert fixed.status_code == 200, fixed.text
    [answer] = fixed.json()
    assert answer["service_request_id"] == request_id

    tid = ticket_of(world, request_id).id
    events = world.client.get(f"/v1/tickets/{tid}/events", headers=staff.officer).json()
    by_kind = {e["kind"]: e for e in events}
    assert [e["kind"] for e in events] == ["created", "accepted", "started", "resolved"]
    assert by_kind["started"]["note"] == "Crew on the way"
    assert by_kind["accepted"]["note"] is None  # the description goes to the last action
    assert by_kind["resolved"]["note"] == "New lamp fitted"
    assert by_kind["resolved"]["actor"]["name"] == "partner-fms"
    assert by_kind["resolved"]["data"]["open311"]["update_id"] == "fms-comment-881"
    assert str(by_kind["resolved"]["id"]) == answer["update_id"]
    assert "li.hua@example.org" not in str(events)  # contact fields are not stored

    listed = world.get("/servicerequestupdates.json").json()
    mine = [u for u in listed if u["service_request_id"] == request_id]
    assert [u["status"] for u in mine] == ["investigating", "in_progress", "fixed"]
    assert mine[-1]["update_id"] == answer["update_id"]
    assert mine[-1]["description"] == "New lamp fitted"
    item = world.get(f"/requests/{request_id}.json").json()[0]
    assert (item["status"], item["status_notes"]) == ("closed", "New lamp fitted")


# ---------------------------------------------------------------- formats and errors
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_response_in_both_formats(world, fmt):
    # mySociety §POST Service Request Update, response: service_request_updates with
    # request_update/update_id (FixMyStreet reads request_update[0]/update_id).
    # GeoReport v2 §Format Support: content types exactly as the spec gives them.
    request_id = world.created_id(world.post())
    response = update(world, request_id, "INVESTIGATING", fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == (XML_TYPE if fmt == "xml" else JSON_TYPE)
    if fmt == "xml":
        assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
        tree = xml_root(response)
        assert tree.tag == "service_request_updates"
        assert [e.tag for e in tree] == ["request_update"]
        assert tree.findtext("request_update/update_id").isdigit()
        assert tree.findtext("request_update/service_request_id") == request_id
    else:
        body = response.json()
        assert isinstance(body, list) and len(body) == 1
        assert isinstance(body[0]["update_id"], str) and body[0]["update_id"].isdigit()
        assert body[0]["service_request_id"] == request_id


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_missing_api_key_is_403(world, fmt):
    # GeoReport v2 §Errors: "403 - Missing or Invalid API Key"; mySociety lists api_key
    # as required for the POST.
    request_id = world.created_id(world.post())
    assert_error(update(world, request_id, "FIXED", fmt, key=None), 403, fmt, contains="api_key")
    assert kinds(world, request_id) == ["created"]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_wrong_api_key_is_403(world, fmt):
    # GeoReport v2 §Errors: 403 for an invalid key, never 401 or 422.
    request_id = world.created_id(world.post())
    assert_error(update(world, request_id, "FIXED", fmt, key="gfk_notarealkey_00000000"), 403, fmt)
    assert_error(update(world, request_id, "FIXED", fmt, key="xyz"), 403, fmt)


def test_a_key_whose_holder_may_not_act_is_403(world):
    # Server policy: only staff act on tickets; a viewer's key may not.
    request_id = world.created_id(world.post())
    assert_error(update(world, request_id, "FIXED", key=world.viewer_key), 403, contains="viewer")


def test_api_key_in_the_query_string(world):
    # GeoReport v2 §POST Service Request sends api_key in the body; clients also use the URL.
    request_id = world.created_id(world.post())
    response = world.client.post(
        world.url("/servicerequestupdates.json"), params={"api_key": world.key},
        data={"service_request_id": request_id, "update_id": "q-1", "status": "INVESTIGATING",
              "description": ""},
    )  # fmt: skip
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_unknown_request_is_404(world, fmt):
    # GeoReport v2 §Errors: "404 for resources that don't exist".
    assert_error(update(world, "424242", "FIXED", fmt), 404, fmt, contains="424242")
    assert_error(update(world, "abc", "FIXED", fmt), 404, fmt)


def test_request_outside_the_key_holders_scope_is_404(world, staff):
    # Server policy: another office's request reads as absent, as in /v1.
    request_id = world.created_id(world.post())
    assert_error(update(world, request_id, "FIXED", key=staff.outsider_key), 404)
    assert kinds(world, request_id) == ["created"]


def test_missing_fields_are_each_reported(world):
    # mySociety §POST Service Request Update: service_request_id, update_id and status
    # are required; GeoReport v2 §Errors: several errors come back as one array.
    errors = assert_error(update(world, None, None, update_id=None), 400)
    described = " ".join(e["description"] for e in errors)
    for name in ("service_request_id", "update_id", "status"):
        assert name in described


@pytest.mark.parametrize("value", ["SOLVED", "resolved", "42"])
def test_unknown_status_is_400(world, value):
    # mySociety §POST Service Request Update, status: the extended values only.
    request_id = world.created_id(world.post())
    errors = assert_error(update(world, request_id, value), 400, contains="status")
    assert "NOT_COUNCILS_RESPONSIBILITY" in errors[0]["description"]


def test_jurisdiction_checked_when_configured(make_world):
    # GeoReport v2 §Definitions, jurisdiction_id: a wrong one is 404.
    world = make_world(jurisdiction_id="jiangmen.gov.cn")
    request_id = world.created_id(world.post())
    assert_error(update(world, request_id, "FIXED", jurisdiction_id="bromley"), 404,
                 contains="jurisdiction_id")  # fmt: skip
    assert update(world, request_id, "FIXED", jurisdiction_id="jiangmen.gov.cn").status_code == 200


def test_form_encoding_is_required(world):
    # mySociety §POST Service Request Update is form-encoded, like POST requests.
    response = world.client.post(
        world.url("/servicerequestupdates.json"), json={"service_request_id": "1"}
    )
    assert_error(response, 400, contains="x-www-form-urlencoded")


# ---------------------------------------------------------------- idempotency
def test_a_retry_with_the_same_update_id_gets_the_same_response(world):
    # Server policy: update_id is the client's id; a retry (FixMyStreet resends failed
    # updates) is answered with the first response and changes nothing.
    request_id = world.created_id(world.post())
    first = update(world, request_id, "FIXED", update_id="fms-77", description="Done")
    again = update(world, request_id, "FIXED", "xml", update_id="fms-77", description="Done",
                   updated_datetime=None)  # fmt: skip
    assert first.status_code == again.status_code == 200, again.text
    assert xml_root(again).findtext("request_update/update_id") == first.json()[0]["update_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert kinds(world, request_id) == ["created", "accepted", "resolved"]


def test_the_same_update_id_for_another_update_is_400(world):
    request_id = world.created_id(world.post())
    assert update(world, request_id, "INVESTIGATING", update_id="fms-9").status_code == 200
    errors = assert_error(update(world, request_id, "FIXED", update_id="fms-9"), 400,
                          contains="fms-9")  # fmt: skip
    assert errors[0]["code"] == 409
    assert kinds(world, request_id) == ["created", "accepted"]


def test_update_ids_are_per_key_holder(world, staff):
    request_id = world.created_id(world.post())
    assert update(world, request_id, "INVESTIGATING", update_id="1").status_code == 200
    response = update(world, request_id, "IN_PROGRESS", update_id="1", key=staff.supervisor_key)
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers
    assert kinds(world, request_id) == ["created", "accepted", "started"]


# ---------------------------------------------------------------- the status table
def test_same_status_is_a_comment_and_needs_a_description(world):
    # Server policy: an update that does not change the status is an internal comment
    # (kept off the public lists), and says something.
    request_id = world.created_id(world.post())
    assert update(world, request_id, "OPEN", description="Inspector booked").status_code == 200
    assert kinds(world, request_id) == ["created", "commented"]
    assert_error(update(world, request_id, "open", description=""), 400, contains="description")
    listed = world.get("/servicerequestupdates.json").json()
    assert "Inspector booked" not in str(listed)


@pytest.mark.parametrize(
    ("statuses", "ticket", "resolution", "events"),
    [
        (["INVESTIGATING"], "accepted", None, ["accepted"]),
        (["ACTION_SCHEDULED"], "accepted", None, ["accepted"]),
        (["in progress"], "in_progress", None, ["accepted", "started"]),
        (["INVESTIGATING", "IN_PROGRESS"], "in_progress", None, ["accepted", "started"]),
        (["IN_PROGRESS", "INVESTIGATING"], "in_progress", None,
         ["accepted", "started", "commented"]),  # never backwards
        (["CLOSED"], "resolved", "fixed", ["accepted", "resolved"]),
        (["FIXED", "CLOSED"], "resolved", "fixed", ["accepted", "resolved", "commented"]),
        (["NO_FURTHER_ACTION"], "resolved", "unable_to_fix", ["accepted", "resolved"]),
        (["NOT_COUNCILS_RESPONSIBILITY"], "rejected", "not_responsible", ["rejected"]),
        (["CANCELLED"], "rejected", "invalid", ["rejected"]),
    ],
)  # fmt: skip
def test_status_table(world, statuses, ticket, resolution, events):
    # mySociety §POST Service Request Update, status: the extended values; their
    # workflow actions are the table in app/open311/status.py.
    request_id = world.created_id(world.post())
    for status in statuses:
        response = update(world, request_id, status)
        assert response.status_code == 200, response.text
    row = ticket_of(world, request_id)
    assert (row.status, row.resolution) == (ticket, resolution)
    assert kinds(world, request_id) == ["created", *events]


def test_reopen_needs_a_supervisors_key(world, staff):
    # The workflow decides who may: officers cannot reopen, supervisors can (as in /v1).
    request_id = world.created_id(world.post())
    assert update(world, request_id, "FIXED").status_code == 200
    errors = assert_error(update(world, request_id, "OPEN", description="Still dark"), 403)
    assert "reopen" in errors[0]["description"]
    response = update(world, request_id, "REOPEN", description="Still dark",
                      key=staff.supervisor_key)  # fmt: skip
    assert response.status_code == 200, response.text
    assert ticket_of(world, request_id).status == "accepted"
    item = world.get(f"/requests/{request_id}.json").json()[0]
    assert (item["status"], item["status_notes"]) == ("open", "Still dark")


def test_a_rejected_request_cannot_change(world):
    request_id = world.created_id(world.post())
    assert update(world, request_id, "NOT_COUNCILS_RESPONSIBILITY").status_code == 200
    errors = assert_error(update(world, request_id, "FIXED"), 400, contains="new request")
    assert errors[0]["code"] == 409
    assert update(world, request_id, "CLOSED", description="Told the caller").status_code == 200
    assert kinds(world, request_id)[-1] == "commented"


def test_duplicate_needs_the_original(world):
    # Server policy: gridfix keeps the original of a duplicate; Open311 has no field for
    # it, so the update names it in duplicate_of (a service_request_id) or is refused.
    original = world.created_id(world.post())
    request_id = world.created_id(world.post())
    assert_error(update(world, request_id, "DUPLICATE"), 400, contains="duplicate_of")
    assert_error(update(world, request_id, "DUPLICATE", duplicate_of="999999"), 400,
                 contains="999999")  # fmt: skip
    assert_error(update(world, request_id, "DUPLICATE", duplicate_of=request_id), 400)
    for bad in ("#12", "99999999999999999999"):
        assert_error(update(world, request_id, "DUPLICATE", duplicate_of=bad), 400,
                     contains="duplicate_of")  # fmt: skip
    response = update(world, request_id, "DUPLICATE", duplicate_of=original)
    assert response.status_code == 200, response.text
    rejected = events_of(world, request_id)[-1]
    assert rejected.data["duplicate_of"] == ticket_of(world, original).id
    listed = world.get("/servicerequestupdates.json").json()
    assert [u["status"] for u in listed if u["service_request_id"] == request_id] == ["duplicate"]


def test_internal_referral_transfers_to_the_named_office(world):
    request_id = world.created_id(world.post())
    assert_error(update(world, request_id, "INTERNAL_REFERRAL"), 400, contains="target_office")
    assert_error(update(world, request_id, "INTERNAL_REFERRAL", target_office="nowhere"), 400,
                 contains="nowhere")  # fmt: skip
    response = update(world, request_id, "INTERNAL_REFERRAL", target_office="440704",
                      description="Jianghai's crew covers this road")  # fmt: skip
    assert response.status_code == 200, response.text
    with world.session_factory() as s:
        assert ticket_of(world, request_id).office_id == grid_repo.get_by_code(s, "440704").id


def test_a_concurrent_change_is_a_400_and_the_update_can_be_resent(world, monkeypatch):
    # Open311 has no If-Match: the update applies to the ticket as it is. When the
    # service still sees a concurrent change (412), the partner gets a 400 with code 409
    # and may resend the same update_id.
    request_id = world.created_id(world.post())
    real = tickets_repo.write_change

    def lost_race(*args, **kwargs):
        return None  # what the write finds when another change bumped the version

    monkeypatch.setattr(tickets_repo, "write_change", lost_race)
    errors = assert_error(update(world, request_id, "FIXED", update_id="race-1"), 400,
                          contains="same update_id")  # fmt: skip
    assert errors[0]["code"] == 409
    assert kinds(world, request_id) == ["created"]
    monkeypatch.setattr(tickets_repo, "write_change", real)
    assert update(world, request_id, "FIXED", update_id="race-1").status_code == 200
    assert kinds(world, request_id) == ["created", "accepted", "resolved"]


# ---------------------------------------------------------------- after photos
def _after_photo(**changes) -> bytes:
    values = {"lat": PENGJIANG[0], "lon": PENGJIANG[1], "seed": 8,
              "captured_at": datetime.now(UTC) + timedelta(minutes=5)}  # fmt: skip
    values.update(changes)
    return jpeg(**values)


def test_fixed_without_the_required_after_photo_is_400(world):
    # Server policy: the category's evidence rule applies to Open311 updates too.
    request_id = world.created_id(
        world.post(service_code="road_damage", **{"attribute[blocking_traffic]": "no"},
                   files=[("media", ("p.jpg", jpeg(seed=5), "image/jpeg"))])
    )  # fmt: skip
    assert_error(update(world, request_id, "FIXED"), 400, contains="after photo")
    no_gps = [("media", ("a.jpg", jpeg(seed=9), "image/jpeg"))]
    errors = assert_error(update(world, request_id, "FIXED", files=no_gps), 400)
    assert "evidence.location" in errors[0]["description"] or "GPS" in errors[0]["description"]
    far = [("media", ("a.jpg", _after_photo(lat=22.70), "image/jpeg"))]
    assert_error(update(world, request_id, "FIXED", files=far), 400, contains=" m from")
    assert kinds(world, request_id) == ["created"]
    # Accepting needs no photo.
    assert update(world, request_id, "INVESTIGATING").status_code == 200


def test_fixed_with_an_after_photo_file(world):
    request_id = world.created_id(
        world.post(service_code="road_damage", **{"attribute[blocking_traffic]": "no"},
                   files=[("media", ("p.jpg", jpeg(seed=5), "image/jpeg"))])
    )  # fmt: skip
    files = [("media", ("after.jpg", _after_photo(), "image/jpeg"))]
    response = update(world, request_id, "FIXED", files=files, description="Patched")
    assert response.status_code == 200, response.text
    resolved = events_of(world, request_id)[-1]
    assert resolved.kind == "resolved" and len(resolved.data["photo_ids"]) == 1


def test_fixed_with_an_after_photo_media_url(make_world):
    # mySociety §POST Service Request Update, media_url: fetched SSRF-safely (the test
    # allows loopback) and used as the after photo.
    world = make_world(media_fetch={"allow_loopback": True})
    request_id = world.created_id(
        world.post(service_code="road_damage", **{"attribute[blocking_traffic]": "no"},
                   files=[("media", ("p.jpg", jpeg(seed=5), "image/jpeg"))])
    )  # fmt: skip
    photo = _after_photo(seed=12)
    with media_server(
        {"/after.jpg": Reply(body=photo, headers={"Content-Type": "image/jpeg"})}
    ) as srv:
        response = update(world, request_id, "FIXED", media_url=srv.url("/after.jpg"))
    assert response.status_code == 200, response.text
    assert [path for path, _ in srv.hits] == ["/after.jpg"]
    assert len(events_of(world, request_id)[-1].data["photo_ids"]) == 1


def test_a_media_url_that_cannot_be_fetched(world):
    # Server policy: the SSRF guard refuses loopback by default. Where a photo is
    # required that is a 400 saying why; where it is not, the update applies without
    # it and the reason is kept in the event's data.
    evidence = world.created_id(
        world.post(service_code="road_damage", **{"attribute[blocking_traffic]": "no"},
                   files=[("media", ("p.jpg", jpeg(seed=5), "image/jpeg"))])
    )  # fmt: skip
    plain = world.created_id(world.post())
    with media_server(
        {"/a.jpg": Reply(body=_after_photo(), headers={"Content-Type": "image/jpeg"})}
    ) as srv:
        assert_error(update(world, evidence, "FIXED", media_url=srv.url("/a.jpg")), 400,
                     contains="loopback")  # fmt: skip
        response = update(world, plain, "FIXED", media_url=srv.url("/a.jpg"))
        assert srv.hits == []
    assert response.status_code == 200, response.text
    resolved = events_of(world, plain)[-1]
    assert resolved.kind == "resolved" and "photo_ids" not in resolved.data
    assert "loopback" in resolved.data["open311"]["media"]


def test_media_on_an_update_that_does_not_resolve_is_not_fetched(make_world):
    world = make_world(media_fetch={"allow_loopback": True})
    request_id = world.created_id(world.post())
    with media_server(
        {"/a.jpg": Reply(body=jpeg(), headers={"Content-Type": "image/jpeg"})}
    ) as srv:
        response = update(world, request_id, "INVESTIGATING", media_url=srv.url("/a.jpg"))
    assert response.status_code == 200 and srv.hits == []
    assert "not used" in events_of(world, request_id)[-1].data["open311"]["media"]

"""The adapter's pure modules, without a database or HTTP: status mapping, attribute
answers, query windows, the XML/JSON rendering and the error mapping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest

from app.auth.exceptions import InvalidToken
from app.core.errors import InvalidInput, TooManyRequests
from app.open311 import attributes as attrs
from app.open311 import status as st
from app.open311.errors import Open311Error, error_items
from app.open311.formats import to_json, to_xml, w3c
from app.open311.queries import WINDOW, RequestFilters, parse_filters, parse_w3c, window
from app.photos.exceptions_images import PhotoTooLarge, RejectReason
from app.tickets.enums import Action, ActorKind, TicketStatus
from app.tickets.workflow import TRANSITIONS
from tests.open311.conftest import ALL_TYPES

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- status
@pytest.mark.parametrize(
    ("ticket", "open311"),
    [("new", "open"), ("accepted", "open"), ("in_progress", "open"),
     ("resolved", "closed"), ("closed", "closed"), ("rejected", "closed")],
)  # fmt: skip
def test_every_ticket_status_maps_to_open_or_closed(ticket, open311):
    assert st.open311_status(ticket) == open311
    assert ticket in st.statuses_for(open311)


@pytest.mark.parametrize(
    ("status", "resolution", "extended"),
    [
        ("new", None, "open"),
        ("accepted", None, "investigating"),
        ("in_progress", None, "in_progress"),
        ("resolved", "fixed", "fixed"),
        ("resolved", "self_resolved", "fixed"),
        ("resolved", "unable_to_fix", "no_further_action"),
        ("closed", "fixed", "fixed"),
        ("closed", "unable_to_fix", "no_further_action"),
        ("rejected", "duplicate", "duplicate"),
        ("rejected", "not_responsible", "not_councils_responsibility"),
        ("rejected", "invalid", "no_further_action"),  # never "closed": read as fixed
    ],
)
def test_extended_statuses_keep_fixed_apart(status, resolution, extended):
    assert st.extended_status(status, resolution) == extended
    code = st.external_status_code(status, resolution)
    assert code == (f"{status}:{resolution}" if resolution else status)


def test_only_authority_notes_are_public():
    assert st.public_note(" Patched ", "officer") == "Patched"
    assert st.public_note("Auto-closed", None) == "Auto-closed"
    assert st.public_note("call me on 139…", "rider") is None
    assert st.status_notes("rejected", "duplicate", None) == st.RESOLUTION_TEXT["duplicate"]
    assert st.status_notes("in_progress", None, None) is None
    assert (
        st.update_description("reopened", None, "still broken, my phone…", "rider") == "Reopened."
    )


def test_event_resolution_comes_from_the_event_row():
    assert st.event_resolution("resolved", "fixed", {}) == "fixed"
    assert st.event_resolution("closed", "verified", {"resolution": "unable_to_fix"}) == (
        "unable_to_fix"
    )
    assert st.event_resolution("accepted", None, {}) is None


# ---------------------------------------------------------------- incoming updates
RESOLUTIONS_BY_STATUS = {
    "new": [None], "accepted": [None], "in_progress": [None],
    "resolved": ["fixed", "self_resolved", "unable_to_fix"],
    "closed": ["fixed", "self_resolved", "unable_to_fix"],
    "rejected": ["duplicate", "invalid", "not_responsible"],
}  # fmt: skip
# What the partner says the request is: open311 "open" or "closed".
SAYS_CLOSED = {"fixed", "closed", "no_further_action", "not_councils_responsibility",
               "duplicate", "cancelled"}  # fmt: skip


@pytest.mark.parametrize("incoming", sorted(st.INCOMING_STATUSES))
def test_every_update_plan_is_a_walk_through_the_transition_table(incoming):
    # Each (incoming status, ticket status, resolution): refused, or actions that the
    # workflow table allows in order for staff, ending where the partner said.
    for status, resolutions in RESOLUTIONS_BY_STATUS.items():
        for resolution in resolutions:
            try:
                steps = st.update_steps(incoming, status, resolution)
            except st.UpdateRefused as exc:
                assert str(exc)
                continue
            current = TicketStatus(status)
            for step in steps:
                rule = TRANSITIONS[(current, Action(step.action))]
                assert rule.actors & {ActorKind.officer, ActorKind.supervisor}
                current = rule.to
            says = "closed" if incoming in SAYS_CLOSED else "open"
            assert st.open311_status(current) == says, (incoming, status, resolution, steps)


@pytest.mark.parametrize(
    ("incoming", "status", "resolution", "actions"),
    [
        ("open", "new", None, ["comment"]),
        ("open", "resolved", "fixed", ["reopen"]),
        ("reopen", "closed", "fixed", ["reopen"]),
        ("investigating", "new", None, ["accept"]),
        ("investigating", "in_progress", None, ["comment"]),
        ("action_scheduled", "resolved", "fixed", ["reopen"]),
        ("in_progress", "new", None, ["accept", "start"]),
        ("in_progress", "closed", "fixed", ["reopen", "start"]),
        ("fixed", "new", None, ["accept", "resolve:fixed"]),
        ("fixed", "in_progress", None, ["resolve:fixed"]),
        ("fixed", "resolved", "self_resolved", ["comment"]),
        ("fixed", "closed", "unable_to_fix", ["reopen", "resolve:fixed"]),
        ("closed", "accepted", None, ["resolve:fixed"]),
        ("closed", "rejected", "invalid", ["comment"]),
        ("no_further_action", "resolved", "unable_to_fix", ["comment"]),
        ("no_further_action", "rejected", "invalid", ["comment"]),
        ("not_councils_responsibility", "new", None, ["reject:not_responsible"]),
        ("duplicate", "in_progress", None, ["reject:duplicate"]),
        ("duplicate", "rejected", "duplicate", ["comment"]),
        ("cancelled", "accepted", None, ["reject:invalid"]),
        ("internal_referral", "accepted", None, ["transfer"]),
    ],
)
def test_update_table_rows(incoming, status, resolution, actions):
    steps = st.update_steps(incoming, status, resolution)
    assert [":".join(filter(None, (s.action, s.resolution, s.reject_reason))) for s in steps] == (
        actions
    )


@pytest.mark.parametrize(
    ("incoming", "status", "resolution"),
    [("fixed", "rejected", "duplicate"), ("open", "rejected", "invalid"),
     ("duplicate", "resolved", "fixed"), ("internal_referral", "closed", "fixed"),
     ("not_councils_responsibility", "rejected", "duplicate")],
)  # fmt: skip
def test_update_table_refusals(incoming, status, resolution):
    with pytest.raises(st.UpdateRefused):
        st.update_steps(incoming, status, resolution)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("FIXED", "fixed"), ("NOT_COUNCILS_RESPONSIBILITY", "not_councils_responsibility"),
     ("In progress", "in_progress"), (" action-scheduled ", "action_scheduled")],
)  # fmt: skip
def test_incoming_statuses_are_read_in_any_case(raw, normalised):
    assert st.normalise_status(raw) == normalised
    assert normalised in st.INCOMING_STATUSES


def test_notes_explain_a_close_by_the_resolution_it_verified():
    @dataclass
    class E:
        id: int
        kind: str
        note: str | None
        actor_role: str | None

    resolved = E(1, "resolved", "Patched", "officer")
    assert st.explaining_event(E(2, "closed", None, "supervisor"), resolved) is resolved
    verified = E(2, "closed", "Checked on site", "supervisor")
    assert st.explaining_event(verified, resolved) is verified
    by_rider = E(3, "reopened", "still there", "rider")
    assert st.explaining_event(by_rider, resolved) is by_rider  # not an older note
    assert st.explaining_event(None, resolved) is None


# ---------------------------------------------------------------- attributes
def test_definition_is_in_order_with_values_only_for_lists():
    out = attrs.definition(list(reversed(ALL_TYPES)))
    assert [a["order"] for a in out] == list(range(1, 8))
    assert "values" not in out[0] and out[4]["values"][0] == {"key": "small", "name": "Small"}
    assert all(a["datatype_description"] for a in out)


@pytest.mark.parametrize(
    ("key", "parsed"),
    [("attribute[size]", ("size", False)), ("attribute[hazards][]", ("hazards", True)),
     ("attribute[]", None), ("attribute[a][b]", None), ("attributes[x]", None), ("size", None)],
)  # fmt: skip
def test_parse_key(key, parsed):
    assert attrs.parse_key(key) == parsed


def test_answers_are_typed_and_deduplicated():
    answers, problems = attrs.validate(
        ALL_TYPES,
        {"depth_cm": ["12"], "size": [" large "], "hazards": ["oil", "glass", "oil"],
         "note": ["ignored"], "not_defined": ["ignored"], "seen_at": ["2026-11-29"]},
    )  # fmt: skip
    assert problems == []
    assert answers == {"depth_cm": 12, "size": "large", "hazards": ["oil", "glass"],
                       "seen_at": "2026-11-29"}  # fmt: skip


def test_blank_answers_count_as_missing():
    answers, problems = attrs.validate(ALL_TYPES, {"depth_cm": ["  "], "size": [""]})
    assert answers == {} and len(problems) == 2


# ---------------------------------------------------------------- queries
def test_parse_w3c_accepts_z_offsets_and_an_unencoded_plus():
    assert parse_w3c("start_date", "2010-01-01T00:00:00Z") == datetime(2010, 1, 1, tzinfo=UTC)
    parsed = parse_w3c("start_date", "2010-01-01T08:00:00 08:00")
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=8)
    assert parse_w3c("start_date", None) is None and parse_w3c("start_date", " ") is None


def test_window_defaults_and_limits():
    assert window(None, None, NOW) == (NOW - WINDOW, NOW)
    assert window(None, None, NOW, default=False) == (None, None)
    assert window(NOW - WINDOW, NOW, NOW) == (NOW - WINDOW, NOW)  # exactly 90 days is fine
    assert window(NOW - timedelta(days=10), None, NOW) == (
        NOW - timedelta(days=10),
        NOW + timedelta(days=80),
    )
    with pytest.raises(Open311Error):
        window(NOW - WINDOW - timedelta(seconds=1), NOW, NOW)
    with pytest.raises(Open311Error):
        window(NOW, NOW - timedelta(days=1), NOW)


def test_ids_override_every_other_filter():
    query, extensions = parse_filters(
        RequestFilters(service_request_id="3, 5,,7", status="open", service_code="x",
                       start_date="2010-01-01T00:00:00Z", page=4, extensions=True), NOW
    )  # fmt: skip
    assert set(query.ids or ()) == {3, 5, 7} and extensions
    assert query.ticket_statuses is None and query.created_from is None and query.offset == 0


def test_paging_and_status_union():
    query, _ = parse_filters(RequestFilters(status="open,closed", page=3, page_size=50), NOW)
    assert set(query.ticket_statuses or ()) == st.OPEN_STATUSES | st.CLOSED_STATUSES
    assert (query.limit, query.offset) == (50, 100)


# ---------------------------------------------------------------- formats
def test_xml_leaves_out_nulls_and_names_list_items():
    body = to_xml("service_requests", [{"service_request_id": "1", "status_notes": None,
                                        "lat": 22.5, "flag": True,
                                        "attributes": [{"code": "a"}, {"code": "b"}]}])  # fmt: skip
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests>')
    root = ET.fromstring(body)
    request = root.find("request")
    assert request.find("status_notes") is None
    assert request.findtext("lat") == "22.5" and request.findtext("flag") == "true"
    assert [a.findtext("code") for a in request.findall("attributes/attribute")] == ["a", "b"]


def test_xml_drops_characters_xml_cannot_carry():
    body = to_xml("errors", [{"code": 400, "description": "bell\x07 & <tag> \ufffe"}])
    assert ET.fromstring(body).findtext("error/description") == "bell & <tag> "


def test_json_datetimes_and_top_level_arrays():
    assert to_json([{"at": NOW, "n": None}]) == b'[{"at":"2026-11-29T12:00:00+00:00","n":null}]'
    with pytest.raises(ValueError):
        w3c(datetime(2026, 1, 1))


# ---------------------------------------------------------------- errors
def test_error_mapping_keeps_the_spec_statuses():
    assert error_items(InvalidToken("API key is not valid"))[:2] == (
        403, [(403, "invalid api_key: API key is not valid")])  # fmt: skip
    status, items, _ = error_items(InvalidInput("description: too long"))
    assert (status, items[0][0]) == (400, 422)
    status, items, _ = error_items(PhotoTooLarge(RejectReason.too_large, "too big"))
    assert (status, items[0][0]) == (400, 413)
    status, items, headers = error_items(TooManyRequests("slow down", retry_after=30))
    assert (status, items[0][0], headers["Retry-After"]) == (400, 429, "30")
    status, items, _ = error_items(Open311Error(404, "gone", more=[(404, "also gone")]))
    assert (status, len(items)) == (404, 2)

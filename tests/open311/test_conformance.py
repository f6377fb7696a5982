"""Conformance with Open311 GeoReport v2, written from the specification text.

Each test names the section it checks: "GeoReport v2 §<section>" refers to
http://wiki.open311.org/GeoReport_v2, "Service Discovery §…" to
http://wiki.open311.org/Service_Discovery, "v2.1 draft §…" to the GeoReport v2.1
draft, "Extensions §…" to http://wiki.open311.org/GeoReport_v2/Extensions and
"mySociety §…" to FixMyStreet's "Open311 FMS – Complete Spec" (GET Service
Request Updates). Where the spec leaves a choice to the server, the comment says
which choice gridfix made (see app/open311/service.py and status.py).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select

from app.categories.models import Category
from app.core.db import mark_writer
from app.open311.models import Open311Contact, Open311Request
from app.reports.models import ReportPhoto
from tests.open311.conftest import (
    OUTSIDE,
    PENGJIANG,
    add_event,
    add_reports,
    set_ticket,
    xml_root,
)
from tests.open311.http_server import Reply, media_server
from tests.support.photos import jpeg

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
VALID_ALL_TYPES = {
    "service_code": "all_types",
    "attribute[depth_cm]": "12.5",
    "attribute[size]": "small",
}


def w3c_ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat(timespec="seconds")


def errors_of(response, fmt: str = "json") -> list[dict]:
    """The spec's error array, from either format, checking its shape on the way."""
    if fmt == "xml":
        root = xml_root(response)
        assert root.tag == "errors"
        assert all(e.tag == "error" for e in root)
        return [{"code": int(e.findtext("code")), "description": e.findtext("description")}
                for e in root]  # fmt: skip
    body = response.json()
    assert isinstance(body, list) and body, body
    for item in body:
        assert set(item) == {"code", "description"}, item
        assert isinstance(item["code"], int) and item["description"]
    return body


def assert_error(response, status: int, fmt: str = "json", *, contains: str = "") -> list[dict]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == (XML_TYPE if fmt == "xml" else JSON_TYPE)
    errors = errors_of(response, fmt)
    if contains:
        assert any(contains in e["description"] for e in errors), errors
    return errors


def datetimes_in(value, key: str = "") -> list[str]:
    """Every datetime field's value in a JSON resource (keys named *datetime*, *_at)."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += datetimes_in(v, k)
    elif isinstance(value, list):
        for v in value:
            found += datetimes_in(v, key)
    elif value is not None and ("datetime" in key or key.endswith("_at")):
        found.append(value)
    return found


# ---------------------------------------------------------------- formats and encoding
@pytest.fixture
def one_request(world):
    response = world.post(email="someone@example.org")
    request_id = world.created_id(response)
    return request_id, response.json()[0]["token"]


ENDPOINTS = [
    ("/discovery.{fmt}", "discovery", None),
    ("/services.{fmt}", "services", "service"),
    ("/services/all_types.{fmt}", "service_definition", None),
    ("/requests.{fmt}", "service_requests", "request"),
    ("/requests/{id}.{fmt}", "service_requests", "request"),
    ("/tokens/{token}.{fmt}", "service_requests", "request"),
    ("/servicerequestupdates.{fmt}", "service_request_updates", "request_update"),
]


@pytest.mark.parametrize(("path", "root", "child"), ENDPOINTS)
def test_every_get_resource_in_xml(world, one_request, path, root, child):
    # GeoReport v2 §Format Support: "XML is a required format"; Content-Type exactly
    # "text/xml; charset=utf-8". §Encoding: "the root element must be preceded with
    # the XML declaration including the encoding". §XML Support: no namespace.
    request_id, token = one_request
    response = world.get(path.format(fmt="xml", id=request_id, token=token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XML_TYPE
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    tree = xml_root(response)
    assert tree.tag == root  # no namespace: a namespaced tag would read "{uri}root"
    if child is not None:
        assert all(element.tag == child for element in tree)


@pytest.mark.parametrize(("path", "root", "child"), ENDPOINTS)
def test_every_get_resource_in_json(world, one_request, path, root, child):
    # GeoReport v2 §Format Support: JSON "application/json; charset=utf-8".
    # §JSON Support: the Spark mapping of the XML — list resources are top-level arrays.
    request_id, token = one_request
    response = world.get(path.format(fmt="json", id=request_id, token=token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_TYPE
    body = json.loads(response.content.decode("utf-8"))
    assert isinstance(body, list if child is not None else dict)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_post_request_in_both_formats(world, fmt):
    # GeoReport v2 §POST Service Request: "Format sent: application/x-www-form-urlencoded";
    # the response is service_requests/request with service_request_id (realtime type).
    response = world.post(fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == (XML_TYPE if fmt == "xml" else JSON_TYPE)
    if fmt == "xml":
        tree = xml_root(response)
        assert tree.tag == "service_requests" and [e.tag for e in tree] == ["request"]
        assert tree.find("request/service_request_id").text.isdigit()
        assert tree.find("request/service_notice").text
    else:
        body = response.json()
        assert isinstance(body, list) and len(body) == 1
        assert isinstance(body[0]["service_request_id"], str)
        assert body[0]["service_notice"]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_errors_have_the_spec_shape(world, fmt):
    # GeoReport v2 §Errors: errors/error with code and description; JSON is an array.
    response = world.get(f"/requests/424242.{fmt}")
    errors = assert_error(response, 404, fmt)
    assert errors[0]["code"] == 404


@pytest.mark.parametrize("path", ["/services.yaml", "/requests.html", "/services/other.csv"])
def test_unknown_format_is_404_in_json(world, path):
    # GeoReport v2 §Errors: "404 for resources that don't exist" (a format we do not serve).
    assert_error(world.get(path), 404, "json", contains="format")


def test_unknown_resource_and_wrong_method_use_the_spec_errors(world):
    # GeoReport v2 §Errors: 404 for what does not exist, 400 for other invalid requests
    # (a method not allowed keeps 405 as the code in the body).
    assert_error(world.get("/no-such-thing.json"), 404)
    response = world.client.delete(world.url("/requests.json"))
    errors = assert_error(response, 400)
    assert errors[0]["code"] == 405


def test_rest_of_the_api_keeps_problem_details(world):
    # Scope: only the adapter speaks GeoReport errors; /v1 keeps RFC 9457.
    response = world.client.get("/v1/reports/mine")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (
        world.client.get("/v1/nothing-here")
        .headers["content-type"]
        .startswith("application/problem+json")
    )


def test_invalid_query_arguments_are_400_not_422(world):
    # GeoReport v2 §Errors: "basically 400 for any other error"; never {"detail": …}.
    response = world.get("/requests.json", page="first")
    errors = assert_error(response, 400, contains="page")
    assert "detail" not in json.dumps(errors)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_all_datetimes_carry_an_offset(world, fmt):
    # GeoReport v2 §Date/time format: "Timezone information … must be included."
    request_id = world.created_id(
        world.post(**VALID_ALL_TYPES, **{"attribute[seen_at]": "2026-11-01"})
    )
    add_event(world.session_factory, request_id, kind="accepted", from_status="new",
              to_status="accepted", actor_role="officer", note="On our list")  # fmt: skip
    paths = [f"/requests.{fmt}", f"/requests/{request_id}.{fmt}",
             f"/servicerequestupdates.{fmt}"]  # fmt: skip
    values: list[str] = []
    for path in paths:
        response = world.get(path, extensions="true")
        if fmt == "xml":
            values += [
                e.text for e in xml_root(response).iter()
                if e.text and (e.tag.endswith("datetime") or e.tag.endswith("_at"))
            ]  # fmt: skip
        else:
            values += datetimes_in(response.json())
    assert len(values) >= 8
    assert all(W3C.match(v) for v in values), values


# ---------------------------------------------------------------- service discovery
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_discovery_fields(world, fmt):
    # Service Discovery §Fields for All Versions: changeset, contact, key_service,
    # endpoints/endpoint with specification, url, changeset, type, formats/format.
    response = world.get(f"/discovery.{fmt}")
    if fmt == "xml":
        tree = xml_root(response)
        for field in ("changeset", "contact", "key_service"):
            assert tree.findtext(field)
        endpoint = tree.find("endpoints/endpoint")
        assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint.findtext("url") == "http://testserver/open311/v2"
        assert endpoint.findtext("type") in ("production", "test")
        formats = [f.text for f in endpoint.findall("formats/format")]
    else:
        body = response.json()
        assert body["changeset"] and body["contact"] and body["key_service"]
        endpoint = body["endpoints"][0]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["type"] in ("production", "test")
        formats = endpoint["formats"]
    assert set(formats) == {"text/xml", "application/json"}


def test_discovery_changeset_moves_when_services_change(world):
    # Service Discovery §About: "an updated changeset indicates that there has been an
    # update to the Service Discovery list or to the Service Definitions"; it is
    # "Sortable".
    before = world.get("/discovery.json").json()["changeset"]
    assert world.get("/discovery.json").json()["changeset"] == before  # stable when unchanged
    with world.session_factory() as s:
        mark_writer(s)
        category = s.scalar(select(Category).where(Category.code == "all_types"))
        category.attributes = [*category.attributes[:-1]]  # drop one attribute
        category.updated_at = datetime.now(UTC) + timedelta(seconds=2)
        s.commit()
    after = world.get("/discovery.json").json()
    assert after["changeset"] != before and after["changeset"] > before
    assert after["endpoints"][0]["changeset"] == after["changeset"]


# ---------------------------------------------------------------- GET service list
def test_service_list(world):
    # GeoReport v2 §GET Service List: service_code, service_name, description, metadata,
    # type (realtime|batch|blackbox), keywords (comma separated), group.
    services = world.get("/services.json").json()
    by_code = {s["service_code"]: s for s in services}
    assert "road_damage" in by_code and "all_types" in by_code
    for service in services:
        assert set(service) == {"service_code", "service_name", "description", "metadata",
                                "type", "keywords", "group"}  # fmt: skip
        assert isinstance(service["service_code"], str)  # never a bare number
        assert service["type"] == "realtime"
        assert isinstance(service["metadata"], bool)
        assert isinstance(service["keywords"], str)
    assert by_code["road_damage"]["metadata"] is True  # it has attributes
    assert by_code["manhole_cover"]["metadata"] is False
    assert "pothole" in by_code["road_damage"]["keywords"].split(", ")
    assert by_code["road_damage"]["group"] == "road"


def test_service_list_xml_elements(world):
    # GeoReport v2 §GET Service List, XML example: <services><service><service_code>…
    tree = xml_root(world.get("/services.xml"))
    first = tree.find("service")
    assert [c.tag for c in first] == ["service_code", "service_name", "description",
                                      "metadata", "type", "keywords", "group"]  # fmt: skip
    assert first.findtext("metadata") in ("true", "false")


# ---------------------------------------------------------------- GET service definition
def test_service_definition_every_datatype(world):
    # GeoReport v2 §GET Service Definition: attributes/attribute with variable, code,
    # datatype (string|number|datetime|text|singlevaluelist|multivaluelist), required,
    # datatype_description, order, description, values/value with key and name.
    body = world.get("/services/all_types.json").json()
    assert body["service_code"] == "all_types"
    attrs = {a["code"]: a for a in body["attributes"]}
    assert {a["datatype"] for a in attrs.values()} == {
        "string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}  # fmt: skip
    for attr in body["attributes"]:
        assert {"variable", "code", "datatype", "required", "datatype_description", "order",
                "description"} <= set(attr)  # fmt: skip
        assert isinstance(attr["variable"], bool) and isinstance(attr["required"], bool)
        assert isinstance(attr["order"], int) and attr["order"] >= 1
    assert [a["order"] for a in body["attributes"]] == sorted(
        a["order"] for a in body["attributes"]
    )
    assert attrs["size"]["values"] == [{"key": "small", "name": "Small"},
                                       {"key": "large", "name": "Large"}]  # fmt: skip
    assert attrs["note"]["variable"] is False
    assert attrs["depth_cm"]["required"] is True


def test_service_definition_xml_elements(world):
    # GeoReport v2 §GET Service Definition, XML example.
    tree = xml_root(world.get("/services/all_types.xml"))
    assert tree.tag == "service_definition"
    assert tree.findtext("service_code") == "all_types"
    attribute = next(
        a for a in tree.findall("attributes/attribute") if a.findtext("code") == "hazards"
    )
    assert attribute.findtext("datatype") == "multivaluelist"
    assert attribute.findtext("variable") == "true"
    assert [v.findtext("key") for v in attribute.findall("values/value")] == [
        "glass",
        "oil",
        "nails",
    ]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_service_definition_unknown_or_retired_is_404(world, fmt):
    # GeoReport v2 §GET Service Definition, Possible Errors: 404 - service_code not found.
    assert_error(world.get(f"/services/no_such_code.{fmt}"), 404, fmt)
    with world.session_factory() as s:
        mark_writer(s)
        s.scalar(select(Category).where(Category.code == "fallen_tree")).active = False
        s.commit()
    assert_error(world.get(f"/services/fallen_tree.{fmt}"), 404, fmt)
    assert "fallen_tree" not in [s["service_code"] for s in world.get("/services.json").json()]


# ---------------------------------------------------------------- POST: api_key, jurisdiction
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_post_without_api_key_is_403(world, fmt):
    # GeoReport v2 §POST Service Request: "Requires API Key: Yes"; §Errors: "403 -
    # Missing or Invalid API Key".
    assert_error(world.post(fmt, key=None), 403, fmt, contains="api_key")


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_post_with_wrong_api_key_is_403(world, fmt):
    # GeoReport v2 §Errors: 403 for a wrong api_key (never 401 or 422).
    assert_error(world.post(fmt, key="gfk_notarealkey_0000000000000000"), 403, fmt)
    assert_error(world.post(fmt, key="xyz"), 403, fmt)


def test_post_with_a_viewers_key_is_403(world):
    # Server policy: a key's holder must be allowed to report; viewers are not.
    assert_error(world.post(key=world.viewer_key), 403, contains="viewer")


def test_api_key_in_the_query_string(world):
    # GeoReport v2 §POST example sends api_key in the body; many clients put it in the URL.
    response = world.client.post(
        world.url("/requests.json"), params={"api_key": world.key},
        data={"service_code": "other", "lat": PENGJIANG[0], "long": PENGJIANG[1]},
    )  # fmt: skip
    assert response.status_code == 200, response.text


def test_jurisdiction_checked_when_configured(make_world):
    # GeoReport v2 §Definitions, jurisdiction_id: optional for a single-jurisdiction
    # endpoint; a wrong one is "404 - jurisdiction_id provided was not found".
    world = make_world(jurisdiction_id="jiangmen.gov.cn")
    assert world.post(jurisdiction_id="jiangmen.gov.cn").status_code == 200
    assert world.post().status_code == 200
    assert_error(world.post(jurisdiction_id="sfgov.org"), 404, contains="jurisdiction_id")
    assert_error(world.get("/services.xml", jurisdiction_id="sfgov.org"), 404, "xml")
    assert_error(world.get("/requests.json", jurisdiction_id="sfgov.org"), 404)
    assert world.get("/services.json", jurisdiction_id="jiangmen.gov.cn").status_code == 200


def test_jurisdiction_ignored_when_not_configured(world):
    # GeoReport v2 §Definitions: "Implementations can ignore this parameter".
    assert world.post(jurisdiction_id="anything.example").status_code == 200


# ---------------------------------------------------------------- POST: fields
def test_service_code_missing_is_400_and_unknown_is_404(world):
    # GeoReport v2 §POST Service Request, Possible Errors: 400 not provided, 404 not found.
    assert_error(world.post(service_code=""), 400, contains="service_code")
    assert_error(world.post(service_code="unicorns"), 404, contains="service_code")


@pytest.mark.parametrize(
    "location",
    [{"address_string": "1234 5th street"}, {"address_id": "545483"},
     {"address_string": "8TH AVE and JUDAH ST", "address_id": "545483"}],
)  # fmt: skip
def test_address_without_lat_long_is_refused_clearly(world, location):
    # GeoReport v2 §POST Service Request, location parameter: lat & long or address_string
    # or address_id. gridfix has no geocoder, so it needs lat/long and says so (400).
    response = world.post(lat=None, long=None, **location)
    assert_error(response, 400, contains="lat and long are required")


def test_location_rules(world):
    # GeoReport v2 §POST Service Request: "lat & long both need to be sent".
    assert_error(world.post(long=None), 400, contains="lat and long")
    assert_error(world.post(lat=None, long=None), 400, contains="location")
    assert_error(world.post(lat="north"), 400)
    assert_error(world.post(lat=91, long=113), 400, contains="lat")
    assert_error(world.post(lat=OUTSIDE[0], long=OUTSIDE[1]), 400, contains="no grid office")


def test_address_beside_lat_long_is_kept(world):
    # GeoReport v2 §GET Service Requests, Response: address, address_id.
    request_id = world.created_id(world.post(address_string="Jianghai Rd 12", address_id="A-7"))
    item = world.get(f"/requests/{request_id}.json").json()[0]
    assert (item["address"], item["address_id"]) == ("Jianghai Rd 12", "A-7")
    assert (item["lat"], item["long"]) == PENGJIANG


def test_description_up_to_4000_characters(world):
    # GeoReport v2 §POST Service Request, description: "free form text limited to 4,000
    # characters".
    assert world.post(description="x" * 4000).status_code == 200
    assert_error(world.post(description="x" * 4001), 400, contains="4,000")


# ---------------------------------------------------------------- POST: attributes
def test_valid_answers_of_every_datatype_are_stored(world):
    # GeoReport v2 §POST Service Request, attribute: attribute[code]=value, and
    # attribute[code][]=value repeated for a multivaluelist.
    response = world.client.post(
        world.url("/requests.json"),
        content=(
            f"api_key={world.key}&service_code=all_types&lat={PENGJIANG[0]}&long={PENGJIANG[1]}"
            "&attribute[label]=Near+the+bus+stop&attribute[depth_cm]=12.5"
            "&attribute[seen_at]=2026-11-29T08:30:00%2B08:00&attribute[details]=line+one%0Aline+two"
            "&attribute[size]=large&attribute[hazards][]=glass&attribute[hazards][]=oil"
            "&attribute[unknown_to_us]=ignored&attribute[note]=ignored+too"
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    request_id = world.created_id(response)
    with world.session_factory() as s:
        answers = s.get(Open311Request, int(request_id)).attributes
    assert answers == {"label": "Near the bus stop", "depth_cm": 12.5,
                       "seen_at": "2026-11-29T08:30:00+08:00", "details": "line one\nline two",
                       "size": "large", "hazards": ["glass", "oil"]}  # fmt: skip
    # Extensions §Extended Attributes: answers come back with extensions=true.
    item = world.get(f"/requests/{request_id}.json", extensions="true").json()[0]
    shown = {(a["name"], a["code"]) for a in item["attributes"]}
    assert ("hazards", "glass") in shown and ("size", "large") in shown


@pytest.mark.parametrize(
    ("answers", "complaint"),
    [
        ({"attribute[label]": "line one\nline two"}, "label"),  # string: no line breaks
        ({"attribute[depth_cm]": "deep"}, "depth_cm"),  # number
        ({"attribute[depth_cm]": "nan"}, "depth_cm"),
        ({"attribute[seen_at]": "yesterday"}, "seen_at"),  # datetime
        ({"attribute[seen_at]": "2026-11-29T08:30:00"}, "seen_at"),  # no offset
        ({"attribute[details]": "x" * 4001}, "details"),  # text: 4,000 characters
        ({"attribute[size]": "medium"}, "size"),  # singlevaluelist: not a key
        ({"attribute[size][]": ["small", "large"]}, "size"),  # one value only
        ({"attribute[hazards][]": ["glass", "lava"]}, "hazards"),  # multivaluelist: bad value
    ],
)
def test_invalid_answers_are_400(world, answers, complaint):
    # GeoReport v2 §GET Service Definition: datatype, values; §Errors: 400.
    form = {**VALID_ALL_TYPES, **answers}
    if "attribute[size][]" in answers:
        form.pop("attribute[size]")
    errors = assert_error(world.post(**form), 400)
    assert any(f"attribute[{complaint}]" in e["description"] for e in errors), errors


def test_missing_required_answers_are_each_reported(world):
    # GeoReport v2 §GET Service Definition: required "means that the value is required to
    # submit service request"; §Errors: "Multiple errors codes and descriptions can be
    # returned in the body (the response is an array)".
    errors = assert_error(world.post("xml", service_code="all_types"), 400, "xml")
    described = " ".join(e["description"] for e in errors)
    assert (
        len(errors) == 2 and "attribute[depth_cm]" in described and "attribute[size]" in described
    )


# ---------------------------------------------------------------- POST: media
def _photo_count(world, request_id: str) -> int:
    with world.session_factory() as s:
        return len(
            list(s.scalars(select(ReportPhoto).where(ReportPhoto.report_id == int(request_id))))
        )


def _media_row(world, request_id: str) -> Open311Request:
    with world.session_factory() as s:
        return s.get(Open311Request, int(request_id))


@pytest.mark.parametrize("field", ["media", "media[]"])
def test_media_upload_is_stored_and_shown_once_derived(make_world, field):
    # v2.1 draft §POST Service Request, media: "A client may POST multiple files as
    # multipart/form-data … Subsequent calls for GET Service Requests should return the
    # URL for this file". gridfix shows the display-size derivative, null until made.
    world = make_world(settings_changes={"background_workers": False})
    original = jpeg(seed=41, size=(2400, 1800))
    response = world.post(files=[(field, ("pothole.jpg", original, "image/jpeg"))],
                          service_code="road_damage", **{"attribute[blocking_traffic]": "yes"})  # fmt: skip
    request_id = world.created_id(response)
    assert _photo_count(world, request_id) == 1
    assert world.get(f"/requests/{request_id}.json").json()[0]["media_url"] is None  # pending
    worker = world.client.app.state.derivative_worker
    with world.session_factory() as s:
        photo_id = s.scalar(
            select(ReportPhoto.photo_id).where(ReportPhoto.report_id == int(request_id))
        )
    assert worker.process(photo_id, None)
    item = world.wait_for_media(request_id)
    derived = world.client.get(item["media_url"])
    assert derived.status_code == 200 and derived.content[:3] == b"\xff\xd8\xff"
    assert derived.content != original  # never the original
    assert _media_row(world, request_id).media_status == "uploaded"


def test_media_url_is_fetched_from_an_allowed_server(make_world):
    # GeoReport v2 §POST Service Request, media_url: "A URL to media associated with the
    # request". gridfix copies it into its own storage (tests allow loopback).
    world = make_world(media_fetch={"allow_loopback": True})
    photo = jpeg(seed=42)
    with media_server({"/p.jpg": Reply(body=photo, headers={"Content-Type": "image/jpeg"})}) as srv:
        request_id = world.created_id(world.post(media_url=srv.url("/p.jpg")))
    assert [path for path, _ in srv.hits] == ["/p.jpg"]
    assert _photo_count(world, request_id) == 1
    row = _media_row(world, request_id)
    assert (row.media_status, row.media_url) == ("fetched", srv.url("/p.jpg"))
    item = world.wait_for_media(request_id)
    assert srv.url("/p.jpg") != item["media_url"]  # ours, not theirs


def test_media_url_to_loopback_is_refused_but_the_request_accepted(world):
    # Server policy (the spec leaves media_url handling open): the SSRF guard refuses
    # 127.0.0.1 under default settings; photos are optional, so the request stands,
    # with the URL and the reason recorded.
    with media_server(
        {"/p.jpg": Reply(body=jpeg(), headers={"Content-Type": "image/jpeg"})}
    ) as srv:
        request_id = world.created_id(world.post(media_url=srv.url("/p.jpg")))
        assert srv.hits == []  # never contacted
    row = _media_row(world, request_id)
    assert row.media_status == "failed" and "loopback" in row.media_note
    assert row.media_url == srv.url("/p.jpg")
    assert _photo_count(world, request_id) == 0
    assert world.get(f"/requests/{request_id}.json").json()[0]["media_url"] is None


def test_failed_fetch_for_a_service_that_needs_a_photo_is_400(world):
    # Server policy: road_damage requires a photo; without one the request cannot stand.
    response = world.post(service_code="road_damage", media_url="http://127.0.0.1:9/p.jpg",
                          **{"attribute[blocking_traffic]": "no"})  # fmt: skip
    assert_error(response, 400, contains="media_url")


def test_files_take_precedence_over_media_url(make_world):
    # v2.1 draft §POST Service Request, media: "the files uploaded via the media field
    # will take precedence".
    world = make_world(media_fetch={"allow_loopback": True})
    with media_server(
        {"/p.jpg": Reply(body=jpeg(seed=3), headers={"Content-Type": "image/jpeg"})}
    ) as srv:
        response = world.post(media_url=srv.url("/p.jpg"),
                              files=[("media", ("a.jpg", jpeg(seed=4), "image/jpeg"))])  # fmt: skip
        request_id = world.created_id(response)
        assert srv.hits == []
    assert _photo_count(world, request_id) == 1


def test_media_over_the_size_limit_is_400(make_world):
    # GeoReport v2 §Errors: 400 (the body keeps 413, the precise cause).
    world = make_world(settings_changes={"max_photo_bytes": 20_000})
    big = jpeg(seed=5, size=(1600, 1200), quality=95)
    assert len(big) > 20_000
    errors = assert_error(world.post(files=[("media", ("big.jpg", big, "image/jpeg"))]), 400)
    assert errors[0]["code"] == 413


def test_media_that_is_not_a_photo_is_400(world):
    # GeoReport v2 §Errors: 400 for a request that cannot be fulfilled (the body keeps 415).
    response = world.post(files=[("media", ("a.jpg", b"<html>nope</html>", "image/jpeg"))])
    errors = assert_error(response, 400)
    assert errors[0]["code"] == 415


# ---------------------------------------------------------------- POST: privacy, idempotency
PRIVATE = {
    "email": "hidden.person@example.org",
    "device_id": "DEVICE-7731-SECRET",
    "account_id": "ACCOUNT-99812-SECRET",
    "first_name": "Wenjing",
    "last_name": "Privatesurname",
    "phone": "+86 139 0000 7777",
}


def test_private_fields_are_stored_but_never_shown(world):
    # GeoReport v2 §POST Service Request: email, device_id, account_id, first_name,
    # last_name, phone identify the submitter; no GET response field carries them.
    response = world.post(**PRIVATE)
    request_id = world.created_id(response)
    token = response.json()[0]["token"]
    add_event(world.session_factory, request_id, kind="resolved", from_status="accepted",
              to_status="resolved", actor_role="officer", reason="fixed", note="Patched")  # fmt: skip
    bodies = [response.text]
    for fmt in ("xml", "json"):
        for path, params in [
            (f"/requests.{fmt}", {}),
            (f"/requests.{fmt}", {"extensions": "true"}),
            (f"/requests/{request_id}.{fmt}", {"extensions": "true"}),
            (f"/tokens/{token}.{fmt}", {}),
            (f"/servicerequestupdates.{fmt}", {}),
        ]:
            got = world.get(path, **params)
            assert got.status_code == 200
            bodies.append(got.content.decode("utf-8"))
    for body in bodies:
        for value in PRIVATE.values():
            assert value not in body
    with world.session_factory() as s:
        contact = s.get(Open311Contact, int(request_id))
    assert contact.email == PRIVATE["email"] and contact.phone == PRIVATE["phone"]


def test_a_retried_post_with_the_same_idempotency_key_makes_one_request(world):
    # Conventions (Idempotency-Key): a retry gets the first answer, not a second request.
    headers = {"Idempotency-Key": "6f1d2c1e-8a4b-4a53-9a51-2d1f0b6c9e11"}
    first = world.post(headers=headers)
    second = world.post(headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(world.get("/requests.json").json()) == 1


# ---------------------------------------------------------------- GET service requests
def test_request_fields(world):
    # GeoReport v2 §GET Service Requests, Response: every field listed there.
    request_id = world.created_id(world.post(description="Broken glass in the lane"))
    item = world.get(f"/requests/{request_id}.json").json()[0]
    assert {"service_request_id", "status", "status_notes", "service_name", "service_code",
            "description", "agency_responsible", "service_notice", "requested_datetime",
            "updated_datetime", "expected_datetime", "address", "lat", "long",
            "media_url"} <= set(item)  # fmt: skip
    assert item["service_request_id"] == request_id
    assert item["status"] == "open"
    assert item["service_code"] == "other" and isinstance(item["service_code"], str)
    assert item["service_name"] == "Other"
    assert item["description"] == "Broken glass in the lane"
    assert item["agency_responsible"] == "蓬江区"
    assert item["expected_datetime"] > item["requested_datetime"]


def test_single_request_is_an_array_of_one_and_unknown_is_404(world):
    # GeoReport v2 §GET Service Request: response is service_requests/request;
    # §Errors: 404 for resources that don't exist.
    request_id = world.created_id(world.post())
    body = world.get(f"/requests/{request_id}.json").json()
    assert isinstance(body, list) and len(body) == 1
    tree = xml_root(world.get(f"/requests/{request_id}.xml"))
    assert tree.tag == "service_requests" and len(tree.findall("request")) == 1
    for missing in ("999999", "abc", "0"):
        assert_error(world.get(f"/requests/{missing}.json"), 404)
        assert_error(world.get(f"/requests/{missing}.xml"), 404, "xml")


def test_token_lookup(world):
    # GeoReport v2 §GET service_request_id from a token: service_request_id and token;
    # 404 when the token is not found.
    response = world.post()
    request_id, token = world.created_id(response), response.json()[0]["token"]
    assert world.get(f"/tokens/{token}.json").json() == [
        {"service_request_id": request_id, "token": token}
    ]
    assert (
        xml_root(world.get(f"/tokens/{token}.xml")).findtext("request/service_request_id")
        == request_id
    )
    assert_error(world.get("/tokens/not-a-token.json"), 404)


def test_default_window_is_the_last_90_days(world):
    # GeoReport v2 §GET Service Requests, start_date/end_date: "When not specified, the
    # range defaults to most recent 90 days"; they select on requested_datetime.
    old = world.created_id(world.post(description="old"))
    new = world.created_id(world.post(description="new"))
    set_ticket(world.session_factory, old, created_at=datetime.now(UTC) - timedelta(days=100))
    listed = [i["service_request_id"] for i in world.get("/requests.json").json()]
    assert new in listed and old not in listed
    found = world.get("/requests.json", start_date=w3c_ago(days=110), end_date=w3c_ago(days=95))
    assert [i["service_request_id"] for i in found.json()] == [old]
    # Only one end given: 90 days from it.
    found = world.get("/requests.json", start_date=w3c_ago(days=101))
    assert [i["service_request_id"] for i in found.json()] == [old]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_ranges_over_90_days_are_refused(world, fmt):
    # GeoReport v2 §GET Service Requests: the range "may not span more than 90 days".
    response = world.get(
        f"/requests.{fmt}", start_date=w3c_ago(days=120), end_date=w3c_ago(days=20)
    )
    assert_error(response, 400, fmt, contains="90 days")


@pytest.mark.parametrize("bad", ["2026-11-01", "2026-11-01T00:00:00", "yesterday", "1700000000"])
def test_dates_must_be_w3c_with_an_offset(world, bad):
    # GeoReport v2 §GET Service Requests: "Must use w3 format, eg 2010-01-01T00:00:00Z";
    # §Date/time format: the offset must be included.
    assert_error(world.get("/requests.json", start_date=bad), 400, contains="start_date")


def test_at_most_1000_requests(world):
    # GeoReport v2 §GET Service Requests, Response Volume: "first 1000 requests returned".
    add_reports(world.session_factory, 1003)
    assert len(world.get("/requests.json").json()) == 1000
    assert len(xml_root(world.get("/requests.xml")).findall("request")) == 1000
    # Extensions §Pagination: page and page_size page through the rest.
    assert len(world.get("/requests.json", page=2).json()) == 3
    assert len(world.get("/requests.json", page_size=10, page=3).json()) == 10
    assert_error(world.get("/requests.json", page_size=1001), 400, contains="page_size")


def test_status_filter(world):
    # GeoReport v2 §GET Service Requests, status: "open", "closed"; "can be declared
    # multiple times, comma delimited". gridfix: closed = resolved, closed, rejected.
    ids = {name: world.created_id(world.post(description=name))
           for name in ("new", "in_progress", "resolved", "closed", "rejected")}  # fmt: skip
    for name in ("in_progress", "resolved", "closed", "rejected"):
        set_ticket(world.session_factory, ids[name], status=name)

    def listed(**params):
        return {
            i["service_request_id"]: i["status"]
            for i in world.get("/requests.json", **params).json()
        }

    assert set(listed(status="open")) == {ids["new"], ids["in_progress"]}
    assert set(listed(status="closed")) == {ids["resolved"], ids["closed"], ids["rejected"]}
    assert set(listed(status="open,closed")) == set(ids.values())
    assert set(listed()) == set(ids.values())  # "This defaults to all statuses"
    assert set(listed().values()) == {"open", "closed"}  # only the two spec values
    assert_error(world.get("/requests.json", status="fixed"), 400, contains="status")


def test_service_code_filter(world):
    # GeoReport v2 §GET Service Requests, service_code: comma delimited.
    other = world.created_id(world.post())
    typed = world.created_id(world.post(**VALID_ALL_TYPES))
    assert [
        i["service_request_id"]
        for i in world.get("/requests.json", service_code="all_types").json()
    ] == [typed]
    both = world.get("/requests.json", service_code="all_types,other").json()
    assert {i["service_request_id"] for i in both} == {other, typed}
    assert world.get("/requests.json", service_code="road_damage").json() == []


def test_service_request_id_list_overrides_other_filters(world):
    # GeoReport v2 §GET Service Requests, service_request_id: comma delimited; "This
    # overrides all other arguments".
    old = world.created_id(world.post())
    closed = world.created_id(world.post(**VALID_ALL_TYPES))
    world.created_id(world.post())
    set_ticket(world.session_factory, old, created_at=datetime.now(UTC) - timedelta(days=200))
    set_ticket(world.session_factory, closed, status="closed")
    response = world.get("/requests.json", service_request_id=f"{old},{closed}", status="open",
                         service_code="road_damage", start_date=w3c_ago(days=1))  # fmt: skip
    assert {i["service_request_id"] for i in response.json()} == {old, closed}
    assert_error(world.get("/requests.json", service_request_id="1,x"), 400)


def test_status_notes_and_updated_datetime(world):
    # GeoReport v2 §GET Service Requests: status_notes "Explanation of why status was
    # changed to current state"; updated_datetime, for closed requests, "the date the
    # request was closed".
    request_id = world.created_id(world.post())
    closed_at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    set_ticket(world.session_factory, request_id, status="rejected", resolution="duplicate",
               closed_at=closed_at)  # fmt: skip
    add_event(world.session_factory, request_id, kind="commented", actor_role="officer",
              note="internal: call the contractor")  # fmt: skip
    item = world.get(f"/requests/{request_id}.json").json()[0]
    assert item["status"] == "closed"
    assert "duplicate" in item["status_notes"].lower()
    assert item["updated_datetime"] == "2026-11-20T09:30:00+00:00"
    add_event(world.session_factory, request_id, kind="rejected", from_status="new",
              to_status="rejected", actor_role="officer", reason="duplicate",
              note="Same as the report from this morning")  # fmt: skip
    item = world.get(f"/requests/{request_id}.json").json()[0]
    assert item["status_notes"] == "Same as the report from this morning"
    assert "contractor" not in world.get(f"/requests/{request_id}.json", extensions="true").text


def test_updated_after_filter(world):
    # Extensions (common): updated_after / updated_before select on updated_datetime,
    # beyond the 90-day requested_datetime window.
    old = world.created_id(world.post())
    world.created_id(world.post())
    long_ago = datetime.now(UTC) - timedelta(days=200)
    set_ticket(world.session_factory, old, created_at=long_ago, updated_at=datetime.now(UTC))
    for other in world.get("/requests.json").json():
        set_ticket(world.session_factory, other["service_request_id"],
                   updated_at=datetime.now(UTC) - timedelta(days=3))  # fmt: skip
    found = world.get("/requests.json", updated_after=w3c_ago(days=1)).json()
    assert [i["service_request_id"] for i in found] == [old]


# ---------------------------------------------------------------- mySociety updates
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_service_request_updates(world, fmt):
    # mySociety §GET Service Request Updates: service_request_updates/request_update with
    # update_id, service_request_id, status, updated_datetime, description, media_url;
    # FixMyStreet also reads external_status_code.
    request_id = world.created_id(world.post())
    add_event(world.session_factory, request_id, kind="commented", actor_role="officer",
              note="internal only")  # fmt: skip
    resolved = add_event(world.session_factory, request_id, kind="resolved",
                         from_status="in_progress", to_status="resolved", actor_role="officer",
                         reason="fixed", note="Patched the surface")  # fmt: skip
    reopened = add_event(world.session_factory, request_id, kind="reopened",
                         from_status="resolved", to_status="accepted", actor_role="rider",
                         note="my phone is 13900001111, still broken")  # fmt: skip
    response = world.get(f"/servicerequestupdates.{fmt}", start_date=w3c_ago(hours=1),
                         end_date=w3c_ago(minutes=-1))  # fmt: skip
    if fmt == "xml":
        updates = [{c.tag: c.text for c in e} for e in xml_root(response).findall("request_update")]
    else:
        updates = response.json()
    assert [u["update_id"] for u in updates] == [str(resolved), str(reopened)]
    fixed, again = updates
    assert fixed["service_request_id"] == request_id
    assert fixed["status"] == "fixed" and fixed["external_status_code"] == "resolved:fixed"
    assert fixed["description"] == "Patched the surface"
    assert W3C.match(fixed["updated_datetime"])
    assert again["status"] == "investigating"
    assert "13900001111" not in response.text and "internal only" not in response.text


def test_service_request_updates_window(world):
    # mySociety §GET Service Request Updates: start_date/end_date in W3C format; gridfix
    # applies the same 90-day limit as GET requests.
    assert_error(world.get("/servicerequestupdates.json", start_date=w3c_ago(days=200),
                           end_date=w3c_ago(days=1)), 400, contains="90 days")  # fmt: skip
    assert world.get("/servicerequestupdates.json").json() == []


def test_xml_is_parseable_with_hostile_text(world):
    # GeoReport v2 §Encoding: UTF-8 everywhere; the XML must stay well-formed whatever
    # a reporter typed (markup, control characters, non-Latin text).
    text = '<b>&amp; 井盖 \x07 ]]> "quoted"'
    request_id = world.created_id(world.post(description=text))
    element = xml_root(world.get(f"/requests/{request_id}.xml")).find("request/description")
    assert element.text == text.replace("\x07", "")
    ET.fromstring(world.get("/services.xml").content)

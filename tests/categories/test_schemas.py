"""Body rules, without the app: each error is located at the field that broke it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.categories.schemas import CategoryCreate, CategoryPatch

BASE = {"code": "broken_bench", "name_zh": "座椅损坏", "name_en": "Broken bench"}
SIZE = {
    "code": "size",
    "datatype": "singlevaluelist",
    "description": "How big?",
    "order": 1,
    "values": [{"key": "small", "name": "small"}],
}


def locs(body: dict, model=CategoryCreate) -> list[tuple]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return [e["loc"] for e in info.value.errors()]


def test_defaults_and_normalising():
    c = CategoryCreate.model_validate(
        BASE | {"keywords": [" 座椅 ", "座椅", "bench"], "description": "  "}
    )
    assert c.group == "other" and c.sla_hours == 72 and c.photo_required and c.active
    assert c.keywords == ["座椅", "bench"] and c.description is None


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"code": "Road"}, ("code",)),
        ({"code": "a"}, ("code",)),
        ({"code": "x" * 33}, ("code",)),
        ({"code": "road-damage"}, ("code",)),
        ({"sla_hours": 0}, ("sla_hours",)),
        ({"sla_hours": 8761}, ("sla_hours",)),
        ({"name_zh": ""}, ("name_zh",)),
        ({"name_en": "x" * 101}, ("name_en",)),
        ({"group": "Road"}, ("group",)),
        ({"sort_order": -1}, ("sort_order",)),
        ({"keywords": ["x" * 51]}, ("keywords", 0)),
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_field_rules(change, loc):
    assert locs(BASE | change) == [loc]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ([SIZE | {"datatype": "colour"}], [("attributes", 0, "datatype")]),
        ([SIZE, SIZE | {"code": "kind", "values": []}], [("attributes", 1, "values")]),
        (
            [SIZE | {"datatype": "multivaluelist", "values": []}],
            [("attributes", 0, "values")],
        ),
        ([SIZE | {"datatype": "number"}], [("attributes", 0, "values")]),
        ([SIZE, SIZE], [("attributes", 1, "code")]),
        (
            [SIZE | {"values": [{"key": "a", "name": "A"}, {"key": "a", "name": "B"}]}],
            [("attributes", 0, "values", 1, "key")],
        ),
        ([SIZE | {"values": [{"key": "a"}]}], [("attributes", 0, "values", 0, "name")]),
        ([SIZE | {"order": 0}], [("attributes", 0, "order")]),
        ([SIZE | {"hint": "?"}], [("attributes", 0, "hint")]),
        (
            [{k: v for k, v in SIZE.items() if k != "description"}],
            [("attributes", 0, "description")],
        ),
    ],
)
def test_attribute_rules(attributes, expected):
    assert locs(BASE | {"attributes": attributes}) == expected


def test_all_datatypes_accepted():
    attrs = [
        {"code": f"q_{dt}", "datatype": dt, "description": dt, "order": i + 1}
        for i, dt in enumerate(["string", "number", "datetime", "text"])
    ] + [SIZE | {"code": "q_single"}, SIZE | {"code": "q_multi", "datatype": "multivaluelist"}]
    c = CategoryCreate.model_validate(BASE | {"attributes": attrs})
    stored = [a.model_dump(mode="json") for a in c.attributes]
    assert stored[0] == {
        "code": "q_string",
        "datatype": "string",
        "required": False,
        "variable": True,
        "description": "string",
        "order": 1,
        "values": [],
    }


def test_patch_leaves_out_what_is_not_sent_and_refuses_null():
    p = CategoryPatch.model_validate({"active": False, "description": None})
    assert p.model_dump(exclude_unset=True) == {"active": False, "description": None}
    assert locs({"name_zh": None}, CategoryPatch) == [("name_zh",)]
    assert locs({"sla_hours": None, "attributes": None}, CategoryPatch) == [
        ("sla_hours",),
        ("attributes",),
    ]
    assert locs({"code": "new_code"}, CategoryPatch) == [("code",)]
    assert locs({"attributes": [SIZE, SIZE]}, CategoryPatch) == [("attributes", 1, "code")]

"""The default catalogue as data: complete, valid by the API's own rules, immutable."""

from __future__ import annotations

import dataclasses

import pytest

from app.categories.defaults import DEFAULT_CATEGORIES
from app.categories.enums import AttributeDatatype
from app.categories.schemas import AttributeDef, CategoryCreate

EXPECTED_ZH = {
    "road_damage": "道路破损",
    "street_light_out": "路灯不亮",
    "fallen_tree": "树木倒伏",
    "manhole_cover": "井盖缺失",
    "waterlogging": "积水内涝",
    "illegal_dumping": "垃圾堆积",
    "traffic_facility": "交通设施损坏",
    "road_occupation": "占道经营",
    "other": "其他",
}
BY_CODE = {d.code: d for d in DEFAULT_CATEGORIES}


def test_nine_hazards_with_their_chinese_names():
    assert len(DEFAULT_CATEGORIES) == len(BY_CODE) == 9
    assert {code: d.name_zh for code, d in BY_CODE.items()} == EXPECTED_ZH


@pytest.mark.parametrize("default", DEFAULT_CATEGORIES, ids=lambda d: d.code)
def test_each_default_passes_the_create_rules(default):
    row = default.as_row()
    body = {k: v for k, v in row.items() if k not in ("group_code", "description")} | {
        "group": row["group_code"]
    }
    parsed = CategoryCreate.model_validate(body)
    # Stored the same way the API would store it, so fingerprints agree.
    assert [a.model_dump(mode="json") for a in parsed.attributes] == row["attributes"]
    assert parsed.keywords == row["keywords"]
    assert any(ord(ch) > 127 for ch in "".join(default.keywords))  # some Chinese
    assert any(w.isascii() for w in default.keywords)  # and some English


def test_service_levels_put_safety_first():
    sla = {code: d.sla_hours for code, d in BY_CODE.items()}
    assert sla["manhole_cover"] == 4 == min(sla.values())
    assert sla["fallen_tree"] == 12
    assert sla["street_light_out"] == 48
    others = set(sla) - {"manhole_cover", "fallen_tree", "street_light_out"}
    assert all(24 <= sla[c] <= 72 for c in others)


def test_groups_and_photo_rules():
    groups = {code: d.group_code for code, d in BY_CODE.items()}
    assert groups == {
        "road_damage": "road",
        "street_light_out": "lighting",
        "fallen_tree": "greenery",
        "manhole_cover": "road",
        "waterlogging": "drainage",
        "illegal_dumping": "sanitation",
        "traffic_facility": "traffic",
        "road_occupation": "city_management",
        "other": "other",
    }
    assert [c for c, d in BY_CODE.items() if not d.photo_required] == ["other"]
    assert BY_CODE["manhole_cover"].evidence_required
    assert not BY_CODE["other"].evidence_required
    orders = [d.sort_order for d in DEFAULT_CATEGORIES]
    assert len(set(orders)) == 9 and max(orders) == BY_CODE["other"].sort_order


def test_open311_extra_questions():
    size, blocking = (
        AttributeDef.model_validate(a) for a in BY_CODE["road_damage"].as_row()["attributes"]
    )
    assert (size.code, size.datatype) == ("size", AttributeDatatype.singlevaluelist)
    assert [v.key for v in size.values] == ["small", "medium", "large"]
    assert blocking.code == "blocking_traffic" and blocking.required
    assert [v.key for v in blocking.values] == ["yes", "no"]
    (depth,) = BY_CODE["waterlogging"].as_row()["attributes"]
    assert depth["code"] == "depth_cm" and depth["datatype"] == "number"
    assert depth["values"] == [] and depth["variable"] is True
    with_questions = [c for c, d in BY_CODE.items() if d.attributes]
    assert sorted(with_questions) == ["road_damage", "waterlogging"]


def test_defaults_cannot_be_changed_through_their_rows():
    default = BY_CODE["road_damage"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.sla_hours = 1  # type: ignore[misc]
    row = default.as_row()
    row["keywords"].append("changed")
    row["attributes"][0]["values"].clear()
    fresh = default.as_row()
    assert "changed" not in fresh["keywords"]
    assert len(fresh["attributes"][0]["values"]) == 3
    assert isinstance(DEFAULT_CATEGORIES, tuple) and isinstance(default.keywords, tuple)

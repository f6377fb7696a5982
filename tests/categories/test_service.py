"""The catalogue service on each database backend."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.categories import repository, service
from app.categories.defaults import DEFAULT_CATEGORIES
from app.categories.exceptions import CategoryCodeTaken, CategoryNotFound
from app.categories.schemas import CategoryCreate, CategoryPatch
from tests.categories.test_defaults import EXPECTED_ZH

DEFAULT_ORDER = [d.code for d in sorted(DEFAULT_CATEGORIES, key=lambda d: (d.sort_order, d.code))]


def test_ensure_defaults_inserts_nine_with_chinese_names(session_factory):
    with session_factory() as s:
        assert service.ensure_defaults(s) == 9
        s.commit()
    with session_factory() as s:
        cats = service.list_categories(s)
        assert {c.code: c.name_zh for c in cats} == EXPECTED_ZH
        assert [c.code for c in cats] == DEFAULT_ORDER
        road = service.get_by_code(s, "road_damage")
        assert [a["code"] for a in road.attributes] == ["size", "blocking_traffic"]
        assert road.attributes[0]["values"][2] == {
            "key": "large",
            "name": "大（超过1米）/ large (over 1 m)",
        }
        assert "坑洼" in road.keywords and "pothole" in road.keywords
        assert isinstance(road.created_at, datetime) and road.created_at.tzinfo is not None
        assert service.get_by_code(s, "manhole_cover").sla_hours == 4
        assert service.get_by_code(s, "other").photo_required is False


def test_ensure_defaults_is_idempotent_and_keeps_admin_edits(session_factory):
    with session_factory() as s:
        service.ensure_defaults(s)
        s.commit()
    with session_factory() as s:
        service.update_category(s, "road_damage", CategoryPatch(name_zh="路面坑洼", sla_hours=24))
        service.update_category(s, "waterlogging", CategoryPatch(active=False))
        s.commit()
    with session_factory() as s:
        assert service.ensure_defaults(s) == 0
        s.commit()
    with session_factory() as s:
        road = service.get_by_code(s, "road_damage")
        assert (road.name_zh, road.sla_hours) == ("路面坑洼", 24)
        assert len(repository.list_categories(s, include_retired=True)) == 9
        assert repository.get_by_code(s, "waterlogging").active is False  # not revived


def test_ensure_defaults_fills_only_the_gaps(session_factory):
    with session_factory() as s:
        service.create_category(
            s, CategoryCreate(code="other", name_zh="别的", name_en="Something else")
        )
        assert service.ensure_defaults(s) == 8
        assert service.ensure_defaults(s) == 0  # same transaction, still nothing twice
        s.commit()
    with session_factory() as s:
        assert service.get_by_code(s, "other").name_zh == "别的"


def test_create_duplicate_code_is_a_conflict_and_transaction_survives(session_factory):
    with session_factory() as s:
        service.ensure_defaults(s)
        service.update_category(s, "fallen_tree", CategoryPatch(active=False))
        for code in ("road_damage", "fallen_tree"):  # retired codes stay taken
            with pytest.raises(CategoryCodeTaken) as info:
                service.create_category(s, CategoryCreate(code=code, name_zh="x", name_en="x"))
            assert info.value.status == 409 and info.value.errors[0]["field"] == "code"
        created = service.create_category(
            s, CategoryCreate(code="broken_bench", name_zh="座椅损坏", name_en="Broken bench")
        )
        s.commit()
        assert created.id is not None


def test_list_orders_by_sort_order_then_code_and_hides_retired(session_factory):
    with session_factory() as s:
        for code, order in [("zebra", 5), ("alpha", 5), ("middle", 1), ("gone", 0)]:
            service.create_category(
                s, CategoryCreate(code=code, name_zh=code, name_en=code, sort_order=order)
            )
        service.update_category(s, "gone", CategoryPatch(active=False))
        s.commit()
    with session_factory() as s:
        assert [c.code for c in service.list_categories(s)] == ["middle", "alpha", "zebra"]
        assert [c.code for c in service.list_categories(s, include_retired=True)] == [
            "gone",
            "middle",
            "alpha",
            "zebra",
        ]
        with pytest.raises(CategoryNotFound):
            service.get_by_code(s, "gone")
        assert service.get_by_code(s, "gone", include_retired=True).active is False
        with pytest.raises(CategoryNotFound):
            service.get_by_code(s, "nope", include_retired=True)


def test_update_every_field_retire_and_restore(session_factory):
    with session_factory() as s:
        service.ensure_defaults(s)
        s.commit()
    attrs = [
        {
            "code": "kind",
            "datatype": "multivaluelist",
            "required": True,
            "description": "Which?",
            "order": 1,
            "values": [{"key": "a", "name": "A"}],
        }
    ]
    patch = CategoryPatch.model_validate(
        {
            "name_zh": "路灯故障",
            "name_en": "Street light fault",
            "group": "power",
            "description": "Lamps that are out or flicker",
            "sla_hours": 36,
            "photo_required": False,
            "evidence_required": True,
            "sort_order": 5,
            "keywords": ["路灯", "flicker"],
            "attributes": attrs,
            "active": False,
        }
    )
    with session_factory() as s:
        before = service.get_by_code(s, "street_light_out").updated_at
        c = service.update_category(s, "street_light_out", patch)
        s.commit()
    with session_factory() as s:
        c = service.get_by_code(s, "street_light_out", include_retired=True)
        assert (c.name_zh, c.name_en, c.group_code, c.description) == (
            "路灯故障",
            "Street light fault",
            "power",
            "Lamps that are out or flicker",
        )
        assert (c.sla_hours, c.photo_required, c.evidence_required, c.sort_order) == (
            36,
            False,
            True,
            5,
        )
        assert c.keywords == ["路灯", "flicker"]
        assert c.attributes == [attrs[0] | {"variable": True}]
        assert c.active is False and c.updated_at >= before
        service.update_category(s, "street_light_out", CategoryPatch(active=True, description=None))
        s.commit()
    with session_factory() as s:
        c = service.get_by_code(s, "street_light_out")
        assert c.active is True and c.description is None


def test_noop_patch_does_not_touch_updated_at(session_factory):
    with session_factory() as s:
        service.ensure_defaults(s)
        s.commit()
    with session_factory() as s:
        before = service.get_by_code(s, "other").updated_at
        service.update_category(s, "other", CategoryPatch(name_zh="其他", sla_hours=72))
        s.commit()
    with session_factory() as s:
        assert service.get_by_code(s, "other").updated_at == before


def test_update_unknown_code(session_factory):
    with session_factory() as s, pytest.raises(CategoryNotFound):
        service.update_category(s, "nope", CategoryPatch(active=False))

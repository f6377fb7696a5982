"""catalogue_fingerprint is pure: tested on unsaved Category objects."""

from __future__ import annotations

import random

from app.categories.defaults import DEFAULT_CATEGORIES
from app.categories.fingerprint import catalogue_fingerprint
from app.categories.models import Category


def catalogue() -> list[Category]:
    return [Category(**d.as_row()) for d in DEFAULT_CATEGORIES]


def test_is_a_sha256_hex_and_stable():
    fp = catalogue_fingerprint(catalogue())
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert catalogue_fingerprint(catalogue()) == fp


def test_does_not_depend_on_input_order():
    cats = catalogue()
    fp = catalogue_fingerprint(cats)
    for seed in range(5):
        shuffled = cats[:]
        random.Random(seed).shuffle(shuffled)
        assert catalogue_fingerprint(shuffled) == fp
    # nor on key order inside the JSON columns
    reordered = catalogue()
    reordered[0].attributes = [dict(reversed(a.items())) for a in reordered[0].attributes]
    assert catalogue_fingerprint(reordered) == fp


def test_changes_with_any_public_field():
    base = catalogue_fingerprint(catalogue())
    edits = [
        ("name_zh", "道路损坏"),
        ("name_en", "Road damaged"),
        ("group_code", "roads"),
        ("description", "Potholes and cracks"),
        ("sla_hours", 48),
        ("photo_required", False),
        ("evidence_required", False),
        ("sort_order", 11),
        ("keywords", ["坑洼"]),
        ("attributes", []),
    ]
    seen = {base}
    for field, value in edits:
        cats = catalogue()
        setattr(cats[0], field, value)
        fp = catalogue_fingerprint(cats)
        assert fp not in seen, field
        seen.add(fp)


def test_ignores_retired_categories_and_bookkeeping():
    cats = catalogue()
    base = catalogue_fingerprint(cats)
    retired = Category(**DEFAULT_CATEGORIES[0].as_row())
    retired.code, retired.active = "old_thing", False
    assert catalogue_fingerprint([*cats, retired]) == base
    retired.name_zh = "改名"
    assert catalogue_fingerprint([*cats, retired]) == base
    cats[1].id = 999  # not a public field
    assert catalogue_fingerprint(cats) == base
    # Retiring an active one changes the public catalogue.
    cats[1].active = False
    assert catalogue_fingerprint(cats) != base


def test_include_retired_covers_them():
    cats = catalogue()
    retired = Category(**DEFAULT_CATEGORIES[0].as_row())
    retired.code, retired.active = "old_thing", False
    with_retired = catalogue_fingerprint([*cats, retired], include_retired=True)
    assert with_retired != catalogue_fingerprint(cats, include_retired=True)
    retired.name_zh = "改名"
    assert catalogue_fingerprint([*cats, retired], include_retired=True) != with_retired
    assert catalogue_fingerprint([], include_retired=True) == catalogue_fingerprint([])

"""Office scope: the pure helpers, then the database questions on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.auth.enums import Role
from app.auth.models import Principal
from app.auth.repository import office_scope_condition
from app.auth.scope import EVERYTHING, NOTHING, OfficeScope, Scope, can_see_office, scope_filter
from tests.support.factories import make_office


def _actor(role: Role, office_id: int | None = 7, path: str | None = "/1/7/") -> Actor:
    return Actor(id=1, name="x", role=role, office_id=office_id, office_code="c", office_path=path)


# ---------------------------------------------------------------- pure
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.admin, EVERYTHING),
        (Role.supervisor, OfficeScope(path_prefix="/1/7/")),
        (Role.viewer, OfficeScope(path_prefix="/1/7/")),
        (Role.officer, OfficeScope(office_id=7)),
        (Role.rider, NOTHING),
    ],
)
def test_scope_filter_by_role(role, expected):
    assert scope_filter(_actor(role)) == expected


@pytest.mark.parametrize("role", [Role.officer, Role.supervisor, Role.viewer])
def test_staff_without_an_office_see_nothing(role):
    assert scope_filter(_actor(role, None, None)).nothing


def test_admin_with_an_office_still_sees_everything():
    assert scope_filter(_actor(Role.admin)).everything


@pytest.mark.parametrize(
    ("scope", "office_id", "path", "allowed"),
    [
        (OfficeScope(path_prefix="/1/7/"), 7, "/1/7/", True),
        (OfficeScope(path_prefix="/1/7/"), 9, "/1/7/9/", True),
        (OfficeScope(path_prefix="/1/7/"), 70, "/1/70/", False),  # a prefix of digits is not
        (OfficeScope(path_prefix="/1/7/"), 1, "/1/", False),  # ancestors are not in the subtree
        (OfficeScope(office_id=7), 7, "/1/7/", True),
        (OfficeScope(office_id=7), 9, "/1/7/9/", False),
        (EVERYTHING, 123, "/123/", True),
        (NOTHING, 7, "/1/7/", False),
    ],
)
def test_office_scope_allows(scope, office_id, path, allowed):
    assert scope.allows(office_id, path) is allowed


# ---------------------------------------------------------------- database
def _actor_for(world, role: Role) -> Actor:
    p = world.principals[role]
    office = next((o for o in world.offices.values() if o.id == p.office_id), None)
    return Actor(
        id=p.id,
        name=p.name,
        role=role,
        office_id=p.office_id,
        office_code=office.code if office else None,
        office_path=office.path if office else None,
    )


def _codes(world, ids) -> set[str]:
    return {o.code for o in world.offices.values() if o.id in ids}


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (Role.admin, {"city", "district-a", "district-b", "grid-a1", "grid-a2", "grid-b1"}),
        (Role.supervisor, {"district-a", "grid-a1", "grid-a2"}),
        (Role.viewer, {"district-b", "grid-b1"}),
        (Role.officer, {"grid-a1"}),
        (Role.rider, set()),
    ],
)
def test_office_ids_visible_and_can_see_office(world, session_factory, role, visible):
    scope = Scope(_actor_for(world, role))
    with session_factory() as s:
        assert _codes(world, scope.office_ids_visible(s)) == visible
        for code, office in world.offices.items():
            assert scope.can_see_office(s, office.id) is (code in visible), code
            assert can_see_office(s, scope.actor, office.id) is (code in visible)
        all_ids = [o.id for o in world.offices.values()]
        assert _codes(world, scope.visible_among(s, all_ids)) == visible


def test_condition_applies_to_other_tables(world, session_factory):
    """office_scope_condition filters any table with an office id; principals here."""
    scope = scope_filter(_actor_for(world, Role.supervisor))
    with session_factory() as s:
        names = s.scalars(
            select(Principal.name)
            .where(office_scope_condition(scope, Principal.office_id))
            .order_by(Principal.name)
        ).all()
    assert names == ["off.a1", "sup.a"]  # not the viewer of district B, not the office-less


def test_subtree_is_not_a_digit_prefix(session_factory):
    """Office 1's subtree must not include office 11 (path "/11/" starts with "/1")."""
    with session_factory() as s:
        roots = [make_office(s, f"root-{i}", f"Root {i}") for i in range(12)]
        child = make_office(s, "child-of-1", "Child", roots[0])
        s.commit()
        one, eleven = roots[0], roots[10]
        assert (one.path, eleven.path) == (f"/{one.id}/", f"/{eleven.id}/")
        assert eleven.path.startswith(one.path[:-1])  # the trap is really set
        sup = Actor(
            id=1,
            name="s",
            role=Role.supervisor,
            office_id=one.id,
            office_code=one.code,
            office_path=one.path,
        )
        assert Scope(sup).office_ids_visible(s) == {one.id, child.id}
        assert not Scope(sup).can_see_office(s, eleven.id)


def test_make_office_fills_depth_and_path(world):
    o = world.offices
    assert (o["city"].depth, o["district-a"].depth, o["grid-a1"].depth) == (0, 1, 2)
    assert o["city"].path == f"/{o['city'].id}/"
    assert o["grid-a1"].path == f"/{o['city'].id}/{o['district-a'].id}/{o['grid-a1'].id}/"
    assert o["grid-a1"].parent_id == o["district-a"].id

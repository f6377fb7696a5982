"""Repository edge cases that the HTTP tests cannot reach, on both databases."""

from __future__ import annotations

from sqlalchemy import func, select

from app.auth import repository
from app.auth.enums import Role
from app.auth.models import Principal
from tests.support.factories import make_office, make_principal


def test_duplicate_insert_keeps_the_transaction_usable(session_factory):
    """A lost race for a name fails under a savepoint; the request's work so far survives."""
    with session_factory() as s:
        office = make_office(s, "o1", "Office 1")
        make_principal(s, "taken", Role.officer, office)
        dup = Principal(
            name="taken", role=Role.viewer, office_id=office.id, active=True, token_version=0
        )
        assert repository.insert_principal(s, dup) is False
        fresh = Principal(
            name="fresh", role=Role.viewer, office_id=office.id, active=True, token_version=0
        )
        assert repository.insert_principal(s, fresh) is True
        s.commit()
    with session_factory() as s:
        assert sorted(s.scalars(select(Principal.name))) == ["fresh", "taken"]


def test_bump_token_version_is_atomic_and_visible(session_factory):
    with session_factory() as s:
        p = make_principal(s, "someone", Role.admin)
        assert repository.bump_token_version(s, p.id) == 1
        assert repository.bump_token_version(s, p.id) == 2
        assert p.token_version == 2  # the loaded object follows
        assert repository.bump_token_version(s, 999_999) is None
        s.commit()
    with session_factory() as s:
        assert s.scalar(select(Principal.token_version)) == 2


def test_lookup_by_name_is_case_insensitive(session_factory):
    with session_factory() as s:
        make_principal(s, "Mixed.Case", Role.admin)
        assert repository.get_principal_by_name(s, "MIXED.case").name == "mixed.case"


def test_staff_of_office(session_factory):
    with session_factory() as s:
        a = make_office(s, "a", "A")
        b = make_office(s, "b", "B", a)
        make_principal(s, "off1", Role.officer, a)
        make_principal(s, "sup1", Role.supervisor, a)
        make_principal(s, "view1", Role.viewer, a)
        make_principal(s, "off-gone", Role.officer, a, active=False)
        make_principal(s, "off-b", Role.officer, b)
        assert [p.name for p in repository.staff_of_office(s, a.id)] == ["off1", "sup1"]
        assert s.scalar(select(func.count()).select_from(Principal)) == 5

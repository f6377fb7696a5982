"""Which grid offices a caller may see.

| role        | sees                                   |
|-------------|----------------------------------------|
| admin       | every office                           |
| supervisor  | own office and its whole subtree       |
| viewer      | own office and its whole subtree       |
| officer     | own office only                        |
| rider       | no office (riders see their own reports by authorship, not by office) |

``scope_filter`` is pure: it turns an :class:`Actor` into an :class:`OfficeScope`.
Repositories apply an ``OfficeScope`` to any table with an office id column through
``app.auth.repository.office_scope_condition``; :class:`Scope` answers the two
common questions directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.auth import repository
from app.auth.actor import Actor
from app.auth.enums import Role


@dataclass(frozen=True, slots=True)
class OfficeScope:
    """The offices a caller may see, in one of four shapes.

    - ``everything``: no restriction (admin);
    - ``office_id`` set: exactly that office (officer);
    - ``path_prefix`` set: every office whose ``path`` starts with it, the
      office itself included (supervisor, viewer);
    - none of them: nothing (rider, or staff without an office).
    """

    everything: bool = False
    office_id: int | None = None
    path_prefix: str | None = None

    @property
    def nothing(self) -> bool:
        return not self.everything and self.office_id is None and self.path_prefix is None

    def allows(self, office_id: int, office_path: str) -> bool:
        """Pure check for an office whose id and path are already in hand."""
        if self.everything:
            return True
        if self.office_id is not None:
            return office_id == self.office_id
        if self.path_prefix is not None:
            return office_path.startswith(self.path_prefix)
        return False


EVERYTHING = OfficeScope(everything=True)
NOTHING = OfficeScope()


def scope_filter(actor: Actor) -> OfficeScope:
    """The offices ``actor`` may see. Pure: reads only the actor."""
    if actor.role == Role.admin:
        return EVERYTHING
    if actor.role == Role.officer and actor.office_id is not None:
        return OfficeScope(office_id=actor.office_id)
    if actor.role in (Role.supervisor, Role.viewer) and actor.office_path:
        return OfficeScope(path_prefix=actor.office_path)
    return NOTHING


class Scope:
    """An actor's office scope, with the database questions answered.

    Prefer ``repository.office_scope_condition(scope.filter, Model.office_id)``
    inside a query over fetching ids and filtering in Python.
    """

    __slots__ = ("actor", "filter")

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.filter = scope_filter(actor)

    def office_ids_visible(self, session: Session) -> frozenset[int]:
        """Ids of every office the actor may see (for an admin: every office)."""
        return frozenset(repository.office_ids_in_scope(session, self.filter))

    def can_see_office(self, session: Session, office_id: int) -> bool:
        if self.filter.everything:
            return True
        if self.filter.nothing:
            return False
        if self.filter.office_id is not None:
            return office_id == self.filter.office_id
        return repository.office_in_scope(session, self.filter, office_id)

    def visible_among(self, session: Session, office_ids: Iterable[int]) -> frozenset[int]:
        """The subset of ``office_ids`` the actor may see, in one query."""
        wanted = frozenset(office_ids)
        if self.filter.everything or not wanted:
            return wanted if self.filter.everything else frozenset()
        return frozenset(repository.office_ids_in_scope(session, self.filter, among=wanted))


def office_ids_visible(session: Session, actor: Actor) -> frozenset[int]:
    """Shorthand for ``Scope(actor).office_ids_visible(session)``."""
    return Scope(actor).office_ids_visible(session)


def can_see_office(session: Session, actor: Actor, office_id: int) -> bool:
    """Shorthand for ``Scope(actor).can_see_office(session, office_id)``."""
    return Scope(actor).can_see_office(session, office_id)

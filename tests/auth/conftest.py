"""A small world for auth tests: an office tree and one principal of each role.

city                 /c/
├── district-a       /c/a/      supervisor
│   ├── grid-a1      /c/a/a1/   officer
│   └── grid-a2      /c/a/a2/
└── district-b       /c/b/      viewer
    └── grid-b1      /c/b/b1/
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.auth.enums import Role
from app.auth.models import Principal
from app.config import Settings
from app.grids.models import Office
from tests.support.factories import auth_header, make_office, make_principal, token_for

ROLES = [Role.rider, Role.officer, Role.supervisor, Role.viewer, Role.admin]


@dataclass
class World:
    offices: dict[str, Office]
    principals: dict[Role, Principal]
    tokens: dict[Role, str] = field(default_factory=dict)

    def headers(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else auth_header(self.tokens[role])


@pytest.fixture
def world(session_factory, settings: Settings) -> World:
    with session_factory() as s:
        city = make_office(s, "city", "City", level="city")
        a = make_office(s, "district-a", "District A", city, level="district")
        b = make_office(s, "district-b", "District B", city, level="district")
        a1 = make_office(s, "grid-a1", "Grid A1", a)
        a2 = make_office(s, "grid-a2", "Grid A2", a)
        b1 = make_office(s, "grid-b1", "Grid B1", b)
        principals = {
            Role.admin: make_principal(s, "root", Role.admin),
            Role.supervisor: make_principal(s, "sup.a", Role.supervisor, a),
            Role.officer: make_principal(s, "off.a1", Role.officer, a1),
            Role.viewer: make_principal(s, "view.b", Role.viewer, b),
            Role.rider: make_principal(s, "rider-test", Role.rider, phone="+8613800000001"),
        }
        s.commit()
    offices = {o.code: o for o in (city, a, b, a1, a2, b1)}
    w = World(offices=offices, principals=principals)
    w.tokens = {role: token_for(settings, p) for role, p in principals.items()}
    return w

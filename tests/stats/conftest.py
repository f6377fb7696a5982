"""Fixtures for statistics tests: the officer-workflow city, populated by a
seeded random history (see :mod:`tests.stats.scenario`)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.auth.enums import Role
from app.grids.models import Office
from tests.stats.scenario import populate
from tests.support.factories import auth_header, make_principal, token_for
from tests.tickets.conftest import City, make_city  # noqa: F401 - fixture re-export

HOUR_WINDOW = 24
DAY_WINDOW = 12
FLOW_DAYS = 100


def add_officer(city: City, session_factory: Any, office_code: str, key: str) -> None:
    """An officer attached to a non-leaf office: sees that office's own tickets only."""
    with session_factory() as s:
        office = s.scalar(select(Office).where(Office.code == office_code))
        p = make_principal(s, key, Role.officer, office)
        s.commit()
        city.h[key] = auth_header(token_for(city.settings, p))


@pytest.fixture
def stats_city(make_city: Any, session_factory: Any) -> City:  # noqa: F811
    # No periodic fold: tests that count pending rows fold them themselves, and
    # reads fold what they find (the periodic fold has its own test).
    city: City = make_city(
        stats_fold_interval_s=0,
        stats_hour_window_h=HOUR_WINDOW,
        stats_day_window_days=DAY_WINDOW,
        stats_flow_day_window_days=FLOW_DAYS,
    )
    add_officer(city, session_factory, "d1", "off_d1")
    return city


@pytest.fixture
def populated(stats_city: City, session_factory: Any) -> City:
    populate(session_factory, stats_city.settings, seed=20261129, tickets=45, days=60)
    return stats_city

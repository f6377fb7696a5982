"""Dashboard tests run on the officer-workflow city (tests/tickets/conftest.py)."""

from __future__ import annotations

from tests.tickets.conftest import City, city, make_city  # noqa: F401 - fixture re-export

"""Parsing the Prefer header (RFC 7240)."""

from __future__ import annotations

import pytest

from app.core.prefer import wants_minimal


@pytest.mark.parametrize(
    ("header", "minimal"),
    [
        (None, False),
        ("", False),
        ("return=minimal", True),
        ("RETURN = Minimal", True),
        ('return="minimal"', True),
        ("respond-async, return=minimal; foo=bar", True),
        ("handling=strict,return=minimal", True),
        ("return=representation", False),
        ("return", False),
        ("minimal", False),
        ("x-return=minimal", False),
        ("return=minimalist", False),
    ],
)
def test_wants_minimal(header: str | None, minimal: bool) -> None:
    assert wants_minimal(header) is minimal

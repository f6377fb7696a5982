"""Assertions shared by the auth tests."""

from __future__ import annotations

from typing import Any


def assert_problem(response: Any, status: int, *, field: str | None = None) -> dict[str, Any]:
    """The response is problem+json with ``status``; with ``field``, it names that field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert field in fields, body
        assert field in body["detail"]
    return body

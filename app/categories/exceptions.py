"""Catalogue failures, rendered by the one problem handler."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound


class CategoryNotFound(NotFound):
    code = "category-not-found"
    title = "Category not found"


class CategoryCodeTaken(Conflict):
    code = "category-code-taken"
    title = "Category code already exists"

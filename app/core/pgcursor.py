"""psycopg's cursor, with a result description built only when it is read.

SQLAlchemy asks every statement's cursor for ``description``; psycopg answers
with a new list of ``Column`` objects each time (four libpq calls, a name
decoded and a type looked up, per column). A compiled statement that ran
before keeps its result metadata, and SQLAlchemy then only checks that the
description is not None: the columns are built and thrown away. Here they
are built on first use, from the result they describe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg.pq import ExecStatus

_TUPLES = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class Description(Sequence[Any]):
    """A cursor's ``description`` for one result, computed on first access."""

    __slots__ = ("_columns", "_cursor", "_result", "_size")

    def __init__(self, cursor: psycopg.Cursor[Any], result: Any) -> None:
        self._cursor: psycopg.Cursor[Any] | None = cursor
        self._result = result
        self._size: int = result.nfields
        self._columns: list[Any] | None = None

    def _list(self) -> list[Any]:
        if self._columns is None:
            cursor = self._cursor
            assert cursor is not None
            if cursor.pgresult is not self._result:
                # psycopg builds columns from the cursor's current result only.
                msg = "a cursor description read after the cursor moved to another result"
                raise RuntimeError(msg)
            self._columns = psycopg.Cursor.description.fget(cursor) or []  # type: ignore[attr-defined]
            self._cursor = self._result = None
        return self._columns

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __iter__(self) -> Iterator[Any]:
        return iter(self._list())

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __repr__(self) -> str:
        return repr(self._list())


class LazyDescriptionCursor(psycopg.Cursor[Any]):
    """``psycopg.Cursor`` whose ``description`` is a lazy :class:`Description`."""

    @property
    def description(self) -> Sequence[Any] | None:  # type: ignore[override]
        res = self.pgresult
        if res is not None and (res.nfields or res.status in _TUPLES):
            return Description(self, res)
        return None

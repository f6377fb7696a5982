"""PostgreSQL cursors describe a result only when asked (app.core.pgcursor)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text

from app.core.db import make_engine
from app.core.pgcursor import LazyDescriptionCursor


@pytest.fixture
def engine(postgis_url):
    e = make_engine(postgis_url, pool_size=1)
    yield e
    e.dispose()


def test_the_description_is_psycopgs_own_once_read(engine):
    with engine.connect() as c:
        raw = c.connection.dbapi_connection
        cur = raw.cursor()
        assert isinstance(cur, LazyDescriptionCursor)
        cur.execute("SELECT 1::int AS a, 'x'::text AS b, now() AS c")
        lazy = cur.description
        plain = psycopg.Cursor.description.fget(cur)
        assert len(lazy) == 3 and bool(lazy)
        assert [tuple(d) for d in lazy] == [tuple(d) for d in plain]
        assert lazy[1].name == "b" and lazy[-1].type_code == plain[-1].type_code
        cur.execute("SELECT")  # a row description without columns
        assert cur.description is not None and len(cur.description) == 0
        cur.execute("SET LOCAL work_mem = '8MB'")  # no rows at all
        assert cur.description is None


def test_a_description_read_after_the_cursor_moved_on_refuses(engine):
    with engine.connect() as c:
        cur = c.connection.dbapi_connection.cursor()
        cur.execute("SELECT 1 AS a")
        stale = cur.description
        cur.execute("SELECT 2 AS b, 3 AS c")
        with pytest.raises(RuntimeError, match="moved to another result"):
            stale[0]
        assert [d.name for d in cur.description] == ["b", "c"]


def test_statements_run_first_and_cached_alike(engine):
    """The first run of a statement builds its result metadata from the
    description; later runs reuse it. Both must give the same rows."""
    md = MetaData()
    t = Table("pgcursor_probe", md, Column("id", Integer, primary_key=True), Column("s", String))
    with engine.begin() as c:
        md.drop_all(c)
        md.create_all(c)
        ids = [
            c.execute(insert(t).values(s=f"v{i}").returning(t.c.id)).scalar_one() for i in range(3)
        ]
        q = select(t.c.id, t.c.s).where(t.c.id.in_(ids)).order_by(t.c.id)
        first = c.execute(q).mappings().all()
        again = c.execute(q).mappings().all()
        assert first == again == [{"id": i, "s": f"v{n}"} for n, i in enumerate(ids)]
        assert c.execute(text("SELECT count(*) AS n FROM pgcursor_probe")).scalar_one() == 3
        md.drop_all(c)

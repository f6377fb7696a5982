"""Connection handling in app.core.db: ping only idle pooled connections (a dead
one is replaced, not handed out), single reads outside a transaction (a pool of
autocommit connections on PostgreSQL), and read snapshots."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from app.core.db import (
    make_engine,
    make_read_engine,
    make_sessionmaker,
    read_snapshot,
    send_with_commit,
    single_read,
)


def _kill_pooled_backend(engine) -> None:
    """Terminate the server side of the engine's (one) pooled connection."""
    with engine.connect() as c:
        pid = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killer = make_engine(str(engine.url.render_as_string(hide_password=False)), pool_size=1)
    with killer.connect() as k:
        assert k.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    killer.dispose()


def test_an_idle_dead_connection_is_replaced_on_checkout(postgis_url):
    engine = make_engine(postgis_url, pool_size=1, ping_idle_s=0.0)  # every checkout is "idle"
    try:
        _kill_pooled_backend(engine)
        with engine.connect() as c:  # pinged, found dead, replaced: no error
            assert c.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_recently_used_connection_is_not_pinged(postgis_url):
    engine = make_engine(postgis_url, pool_size=1, ping_idle_s=3600.0)
    try:
        _kill_pooled_backend(engine)
        # Not pinged, so its death shows on use; SQLAlchemy then drops the pool's
        # older connections and the next request gets a fresh one.
        with pytest.raises(exc.OperationalError), engine.connect() as c:
            c.execute(text("SELECT 1"))
        with engine.connect() as c:
            assert c.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_single_read_runs_outside_a_transaction_on_postgresql(postgis_url):
    engine = make_engine(postgis_url, pool_size=1)
    reads = make_read_engine(postgis_url, pool_size=1)
    assert reads is not None
    try:
        with make_sessionmaker(engine)() as s:
            with single_read(s, reads) as conn:
                assert conn is not s
                # No transaction: each statement gets its own id.
                a = conn.execute(text("SELECT txid_current()")).scalar_one()
                b = conn.execute(text("SELECT txid_current()")).scalar_one()
                assert a != b
            assert not s.in_transaction()  # the session was not touched
            assert read_snapshot(s) is True  # opens a snapshot
            iso = s.execute(text("SHOW transaction_isolation")).scalar_one()
            ro = s.execute(text("SHOW transaction_read_only")).scalar_one()
            assert (iso, ro) == ("repeatable read", "on")
            assert read_snapshot(s) is False  # already in one
            with single_read(s, reads) as inside:
                assert inside is s  # a transaction under way is used as it is
            s.commit()
        with make_sessionmaker(engine)() as s:  # the pooled connection is back to normal
            s.execute(text("SELECT 1"))
            assert s.execute(text("SHOW transaction_isolation")).scalar_one() == "read committed"
            assert s.execute(text("SHOW transaction_read_only")).scalar_one() == "off"
        with reads.connect() as conn:  # and the read pool's stays in autocommit
            a = conn.execute(text("SELECT txid_current()")).scalar_one()
            assert conn.execute(text("SELECT txid_current()")).scalar_one() != a
    finally:
        engine.dispose()
        reads.dispose()


def test_read_helpers_keep_the_transaction_on_sqlite(sqlite_url):
    engine = make_engine(sqlite_url)
    try:
        with make_sessionmaker(engine)() as s:
            assert make_read_engine(sqlite_url) is None
            with single_read(s, None) as source:
                assert source is s
            assert read_snapshot(s) is False
    finally:
        engine.dispose()


def test_postgresql_connections_speak_utc_and_an_explicit_zone_still_reads_utc(postgis_url):
    """Connections start in UTC (timestamps need no conversion on the way out);
    a time zone the URL asks for wins, and UTC columns still come back in UTC."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import column, select
    from sqlalchemy import text as sql

    from app.core.db import UTC_SESSIONS, UTCDateTime

    at = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    query = select(column("t", UTCDateTime())).select_from(
        sql("(SELECT CAST(:at AS timestamptz) AS t) AS x")
    )
    zoned = (
        postgis_url + ("&" if "?" in postgis_url else "?") + "options=-c%20TimeZone%3DAsia/Shanghai"
    )
    for url, zone in ((postgis_url, "UTC"), (zoned, "Asia/Shanghai")):
        engine = make_engine(url, pool_size=1)
        try:
            with engine.connect() as c:
                assert c.execute(sql("SHOW TimeZone")).scalar_one() == zone
                got = c.execute(query, {"at": at}).scalar_one()
            assert got == at and got.tzinfo is UTC, (zone, got)
            # Values pass through untouched only where the session is known to be in UTC.
            assert getattr(engine.dialect, UTC_SESSIONS) is (zone == "UTC")
        finally:
            engine.dispose()


def test_a_held_write_that_fails_at_commit_leaves_its_connection_clean(postgis_url):
    """Writes held for the COMMIT fail inside SQLAlchemy's commit, which then counts
    the transaction as ended and returns the connection unreset: the failed
    transaction must be rolled back there, or the connection's next user finds
    it aborted. With one pooled connection, the next session gets that one."""
    engine = make_engine(postgis_url, pool_size=1)
    factory = make_sessionmaker(engine)
    try:
        with factory() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
            send_with_commit(s, "SELECT 1 / %s", (0,))
            with pytest.raises(exc.DataError):  # division by zero
                s.commit()
        with factory() as s:
            assert s.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
            assert s.execute(text("SELECT 1")).scalar_one() == 1
            s.commit()
    finally:
        engine.dispose()

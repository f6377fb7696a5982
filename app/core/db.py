"""Database plumbing: declarative base, engine factory, per-request session.

One transaction per request: the session dependency commits when the endpoint
returns and rolls back when it raises, before the response is sent. Services
flush, never commit. Two helpers let read-only paths that are polled often
spend fewer round trips: :func:`single_read` (one statement, no transaction) and
:func:`read_snapshot` (several reads, one snapshot).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from pydantic_core import from_json
from sqlalchemy import DateTime, MetaData, create_engine, event, exc, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import Pool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Set on the dialect of an engine whose PostgreSQL sessions all start in UTC.
UTC_SESSIONS = "gridfix_utc_sessions"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no such type, so values are
    normalised to UTC on the way in and given their ``tzinfo`` back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        # PostgreSQL sessions that make_engine started in UTC hand back UTC-aware
        # values already: no Python call per value (seven a ticket row).
        if getattr(dialect, UTC_SESSIONS, False):
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_from_json(value: str) -> datetime:
    """A ``timestamptz`` as PostgreSQL writes it in JSON (ISO 8601), in UTC, as
    :class:`UTCDateTime` hands it back."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo is UTC else at.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the writer; busy_timeout makes writers queue
    # instead of failing with "database is locked".
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


# A pooled connection returned this recently is taken as alive without a ping.
PING_IDLE_S = 10.0


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection on checkout only when it sat idle ``idle_s`` or more.

    ``pool_pre_ping`` pings on every checkout: one more round trip for each
    request, the price of a 304 poll's only query. Connections die while idle
    (server restart, idle timeouts, NAT), so those are checked; a dead one raises
    ``DisconnectionError``, and the pool retries the checkout with a fresh
    connection. A connection that breaks while in steady use fails its request;
    SQLAlchemy then recycles every older pooled connection, and ``pool_recycle``
    bounds any connection's age.
    """

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(f"stale pooled connection: {err}") from err


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    ping_idle_s: float = PING_IDLE_S,
    autocommit: bool = False,
) -> Engine:
    """Build the engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys.

    ``autocommit`` (PostgreSQL only): every pooled connection stays in autocommit,
    for :func:`single_read`.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        # pysqlite opens transactions lazily and not for SELECT; begin explicitly
        # so a read-then-write request is one transaction (SQLAlchemy's recipe).
        @event.listens_for(engine, "connect")
        def _no_pysqlite_tx(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the write lock up front ("BEGIN IMMEDIATE"): a deferred
            # transaction that read first and writes later fails at once with
            # SQLITE_BUSY_SNAPSHOT when another writer got in between, instead
            # of waiting its turn.
            conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

        return engine
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=_pg_connect_args(url),
        # psycopg parses json/jsonb columns; pydantic-core's parser is several
        # times faster than the standard library's on the small arrays they hold.
        json_deserializer=from_json,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    _ping_when_idle(engine, ping_idle_s)
    event.listen(engine, "do_execute", _hold_for_commit)
    # Unless the URL's own options choose a zone, every session is in UTC.
    setattr(engine.dialect, UTC_SESSIONS, "timezone" not in _url_options(url).lower())
    return engine


def _url_options(url: str) -> str:
    """The ``options`` query parameter of a PostgreSQL URL (server settings), or ''."""
    options = make_url(url).query.get("options")
    return " ".join(options) if isinstance(options, tuple) else (options or "")


def _pg_connect_args(url: str) -> dict[str, Any]:
    """Session settings every PostgreSQL connection starts with: the UTC time
    zone, so timestamps arrive already in UTC (no conversion per value; figures
    are bucketed by zone in Python, never by the session's zone); and cursors
    that describe a result only when asked (see ``app.core.pgcursor``)."""
    from app.core.pgcursor import LazyDescriptionCursor

    # An explicit choice in the URL comes later in the options, so it wins.
    return {
        "options": f"-c TimeZone=UTC {_url_options(url)}".strip(),
        "cursor_factory": LazyDescriptionCursor,
    }


def make_read_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine | None:
    """PostgreSQL: a second pool whose connections stay in autocommit, for
    :func:`single_read`; SQLite: None (reads use the request's session)."""
    if url.startswith("sqlite"):
        return None
    return make_engine(url, pool_size=pool_size, echo=echo, autocommit=True)


def driver_error(
    conn: Connection, error: Any, statement: str, params: Any, cursor: Any = None
) -> exc.StatementError:
    """A driver error met on ``conn``'s DBAPI connection, as SQLAlchemy would have
    raised it (so the app's handlers map it the same way), for code that runs on
    the driver's cursor itself; a disconnect invalidates the connection first, so
    the pool never hands it out again."""
    raw = conn.connection.dbapi_connection
    if conn.dialect.is_disconnect(error, raw, cursor):
        conn.invalidate(error)
    wrapped: exc.StatementError = exc.DBAPIError.instance(
        statement, params, error, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
    )
    return wrapped


_AT_COMMIT = "gridfix.db.at_commit"  # Connection.info: writes to send with the COMMIT


def send_with_commit(session: Session, sql: str, params: Sequence[Any]) -> None:
    """PostgreSQL: run ``sql`` (driver placeholders) just before this session's
    transaction commits, in one pipelined round trip with the COMMIT itself.

    For writes nothing in the request reads back, to rows other transactions
    want too: their locks are then held for the server's time only, never
    while the request's thread waits for the interpreter between statements.
    Held writes are dropped on rollback and never outlive their transaction.
    """
    session.connection().info.setdefault(_AT_COMMIT, []).append((sql, tuple(params)))


# Execution option: a statement executed with it on PostgreSQL is not sent now but
# held, like :func:`send_with_commit`'s, for the COMMIT's pipeline. SQLAlchemy
# still compiles it and converts its parameters; it must return no rows.
HOLD_FOR_COMMIT = "gridfix_hold_for_commit"


def _hold_for_commit(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """The engine's ``do_execute`` hook: hold statements marked ``HOLD_FOR_COMMIT``."""
    if not context.execution_options.get(HOLD_FOR_COMMIT):
        return False
    if context.compiled is not None and context.compiled.effective_returning:
        raise exc.ArgumentError("a statement held for the commit returns nothing")
    context.root_connection.info.setdefault(_AT_COMMIT, []).append((statement, parameters))
    return True  # "executed": SQLAlchemy sees a statement that returned no rows


def held_for_commit(session: Session) -> int:
    """How many writes wait to be sent with this session's COMMIT."""
    return len(session.connection().info.get(_AT_COMMIT, ()))


def _write_with_commit(conn: Connection) -> None:
    """Before SQLAlchemy commits: send the held writes and the COMMIT in one
    pipeline. SQLAlchemy's own COMMIT that follows finds no transaction and
    sends nothing. Errors surface as SQLAlchemy's, like any statement's."""
    pending = None if conn.invalidated else conn.info.pop(_AT_COMMIT, None)
    if not pending:
        return
    raw: Any = conn.connection.dbapi_connection
    sql, params = pending[0]
    try:
        with raw.pipeline():
            cursor = raw.cursor()  # one for all: their results are not read
            for sql, params in pending:
                cursor.execute(sql, params)
            raw.commit()
    except conn.dialect.loaded_dbapi.Error as error:
        # A value the driver cannot send names its own statement; the server's
        # errors arrive with the sync, after every statement was sent.
        wrapped = driver_error(conn, error, sql, params)
        if not conn.invalidated:
            # SQLAlchemy counts its transaction as ended here, and the pool then
            # skips its reset: the failed transaction is rolled back now, or the
            # connection's next user would find it aborted.
            try:
                raw.rollback()
            except conn.dialect.loaded_dbapi.Error:
                conn.invalidate()
        raise wrapped from error


def _drop_held(conn: Connection) -> None:
    if not conn.invalidated:  # an invalidated connection's record was cleared already
        conn.info.pop(_AT_COMMIT, None)


def _drop_held_on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    connection_record.info.pop(_AT_COMMIT, None)  # a connection back in the pool holds nothing


event.listen(Engine, "commit", _write_with_commit)
event.listen(Engine, "rollback", _drop_held)
event.listen(Pool, "reset", _drop_held_on_reset)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session, one transaction per request: commit on success, roll back on error.

    Async on purpose: making a session does no I/O, so it happens on the event
    loop, and only a session that has work to end (a transaction, pending
    objects) goes to a worker thread to commit or roll back. A sync generator
    would cost two thread hand-offs on every request, a large share of a cheap
    one such as a 304 poll. Ending the session takes its own limiter, so it
    never waits for a worker thread held by a request that is itself waiting for
    a pooled connection (the deadlock FastAPI's own sync dependencies avoid the
    same way).
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        if request.method in WRITE_METHODS and session.get_bind().dialect.name == "sqlite":
            await anyio.to_thread.run_sync(mark_writer, session)  # may wait for the lock
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _end(session, commit=False)
        raise
    with anyio.CancelScope(shield=True):
        await _end(session, commit=True)


async def _end(session: Session, *, commit: bool) -> None:
    if not (session.in_transaction() or session.new or session.dirty or session.deleted):
        session.close()  # nothing begun: no I/O
        return

    def end() -> None:
        with session:
            if commit:
                session.commit()
            else:
                session.rollback()

    await anyio.to_thread.run_sync(end, limiter=anyio.CapacityLimiter(1))


def end_transaction(session: Session) -> None:
    """Commit now, from the endpoint's own worker thread, once its answer is built.

    :func:`get_session` would commit the same transaction just after, but from
    the event loop, with a hand-off to a worker thread and back (about 0.1 ms
    of CPU and two wake-ups); after this it finds nothing to do. An error here
    is an error of the request, as it would be there.
    """
    if session.in_transaction():
        session.commit()


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def mark_writer(session: Session) -> None:
    """Make the session's transaction start as a writer (SQLite: BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})


DbSession = Annotated[Session, Depends(get_session, scope="function")]


@contextmanager
def single_read(session: Session, read_engine: Engine | None) -> Iterator[Session | Connection]:
    """Where to run a single read statement.

    On PostgreSQL, when the request's transaction has not begun yet, a
    connection of ``read_engine``, which stays in autocommit: a statement is
    atomic on its own, and BEGIN and COMMIT round trips, or switching a pooled
    connection in and out of autocommit, would cost more than it does. Else the
    session itself (SQLite, where transactions are local calls, or a
    transaction already under way).
    """
    if read_engine is None or session.in_transaction():
        yield session
        return
    with read_engine.connect() as conn:
        yield conn


_SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


def read_snapshot(session: Session) -> bool:
    """Make the session's following reads see one snapshot of the database.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction (read-only ones never
    fail to serialise). What the request did before is committed first (the
    credential check: at most a key's last-use stamp). Returns True when a new
    snapshot began, so earlier reads must be repeated to belong to it. SQLite:
    the request's transaction already reads one snapshot (WAL), so nothing
    changes and it returns False.
    """
    if session.get_bind().dialect.name != "postgresql":
        return False
    if session.in_transaction():
        opts = session.connection().get_execution_options()
        if opts.get("isolation_level") == _SNAPSHOT["isolation_level"]:
            return False
        session.commit()
    session.connection(execution_options=_SNAPSHOT)
    return True


def utcnow() -> datetime:
    return datetime.now(UTC)

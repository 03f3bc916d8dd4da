"""Engines and sessions from a URL, the database's clock, write transactions and page cursors.

SQLite is the embedded default and PostgreSQL the cluster one; everything above this module
is written once for both. Two SQLite details matter for correctness, not speed:

- pysqlite's own transaction handling is switched off and we emit BEGIN ourselves, so a
  transaction really starts at its first statement (a read included) and DDL is transactional;
- write transactions start with BEGIN IMMEDIATE. In WAL mode a deferred transaction that read
  first and writes later fails at once with "database is locked" when another connection
  committed in between (the busy timeout cannot help it); taking the write lock up front
  makes writers queue on the busy timeout instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Double, Engine, create_engine, event, exc, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from adamant.store.exceptions import InvalidCursor, StoreError, StoreUnavailable

SQLITE_BEGIN_OPTION = "adamant_sqlite_begin"
IDLE_IN_TRANSACTION_TIMEOUT = "25P03"  # PostgreSQL ended a session paused inside a transaction


def normalize_url(url: str | URL) -> URL:
    """postgres:// and postgresql:// mean psycopg 3; anything else is taken as given."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL, *, busy_timeout_s: float = 30.0, idle_in_transaction_timeout_s: float | None = None, **engine_kwargs: Any
) -> Engine:
    """An engine for `url`; for SQLite: WAL, busy timeout, foreign keys and our own BEGIN.

    idle_in_transaction_timeout_s (PostgreSQL): the server ends a session that sits inside a
    transaction, waiting on its client, for longer than this. A process paused mid-transaction
    (SIGSTOP, a frozen VM, a debugger) would otherwise hold its row locks, and the job row with
    them, for as long as it stays paused; the reaper could never take its job back. Processes
    holding a lease pass the lease TTL: a holder silent that long has lost its lease anyway.
    SQLite has no such guard: the embedded setup runs on one machine, where a paused process is
    the operator's own doing.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine_kwargs.setdefault("pool_pre_ping", True)
        if idle_in_transaction_timeout_s is not None:
            timeout_ms = max(1, int(idle_in_transaction_timeout_s * 1000))
            connect_args = engine_kwargs.setdefault("connect_args", {})
            options = connect_args.get("options", "")
            connect_args["options"] = f"{options} -c idle_in_transaction_session_timeout={timeout_ms}".strip()
        return create_engine(parsed, **engine_kwargs)

    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = engine_kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", busy_timeout_s)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(parsed, connect_args=connect_args, **engine_kwargs)
    busy_timeout_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not BEGIN or COMMIT behind our back
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")  # before WAL: switching takes a lock
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; safe in WAL mode
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def engine_for(settings: Any, **engine_kwargs: Any) -> Engine:
    """The engine of a service or worker process: settings.database_url, with transactions left
    idle longer than settings.lease_ttl_s cut off by the server (see make_engine)."""
    return make_engine(settings.database_url, idle_in_transaction_timeout_s=settings.lease_ttl_s, **engine_kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose rows stay readable after the store's functions commit."""
    return sessionmaker(engine, expire_on_commit=False)


class DbNow(FunctionElement[float]):
    """The database server's clock as float epoch seconds; leases never trust a worker's clock."""

    type = Double()
    name = "db_now"
    inherit_cache = True


@compiles(DbNow)
def _db_now_sqlite(element: DbNow, compiler: Any, **kw: Any) -> str:
    # julianday('now') is fixed for the duration of one statement (millisecond resolution).
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(DbNow, "postgresql")
def _db_now_postgresql(element: DbNow, compiler: Any, **kw: Any) -> str:
    # statement_timestamp(), not now(): a lease must not be dated back to the start of its
    # transaction; and one value per statement, like SQLite's 'now', so a row's columns agree.
    return "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS DOUBLE PRECISION)"


def db_now() -> DbNow:
    """SQL expression: the database's current time in float epoch seconds."""
    return DbNow()


def database_time(session: Session) -> float:
    """The database's current time, read now."""
    with translated_errors():
        return float(session.execute(select(db_now())).scalar_one())


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn SQLAlchemy and driver errors into StoreError subclasses."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError) as error:
        raise StoreUnavailable(f"database unavailable: {_first_line(error)}") from error
    except exc.DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != IDLE_IN_TRANSACTION_TIMEOUT:
            raise StoreError(f"database rejected the operation: {_first_line(error)}") from error
        raise StoreUnavailable(f"database unavailable: {_first_line(error)}") from error
    except exc.SQLAlchemyError as error:
        raise StoreError(f"database rejected the operation: {_first_line(error)}") from error


@contextmanager
def write_transaction(session: Session, *, durable: bool = True) -> Iterator[Session]:
    """One atomic write that commits itself: BEGIN IMMEDIATE on SQLite; rollback and translate on error.

    A transaction the session already holds (a read left open by the caller) is committed
    first, so the write starts from a fresh snapshot.

    durable=False lets PostgreSQL acknowledge the commit before its WAL reaches the disk
    (synchronous_commit off for this transaction only): used for the worker's claim, heartbeats,
    metrics and logs, where a crash of the database server can lose the last fraction of a
    second of them — a lost claim is re-dispatched, a lost heartbeat is the next one — and the
    worker's hot path saves an fsync per write. A user's submit is always durable.
    """
    try:
        with translated_errors():
            if session.in_transaction():
                session.commit()
            connection = session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            if not durable and connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield session
            session.commit()
    except BaseException:
        session.rollback()
        raise


def encode_cursor(*values: str | int | float) -> str:
    """An opaque page cursor (url-safe base64 of a JSON array)."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """Read a cursor made by encode_cursor with values of `types`; InvalidCursor otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        out = []
        for value, kind in zip(values, types, strict=True):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError("wrong type")
            out.append(value)
        return tuple(out)
    except ValueError as error:  # binascii.Error and JSONDecodeError are ValueErrors
        raise InvalidCursor(f"invalid page cursor {cursor[:40]!r}") from error


def _first_line(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]

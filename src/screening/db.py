"""Engine, sessions and the declarative base shared by every table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migration names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and write transactions that lock early."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg":
            # No server-side prepared statements: after a few executions PostgreSQL would
            # switch them to a generic plan that ignores how selective the values are.
            kwargs.setdefault("connect_args", {"prepare_threshold": None})
        return create_engine(url, **kwargs)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """Turn off pysqlite's own transaction handling and begin IMMEDIATE for writers.

    A deferred transaction that later writes can fail at once with SQLITE_BUSY when another
    writer committed in between; taking the write lock at BEGIN makes writers queue instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("writes") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never expire on commit (the boundary commits once per request)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def writer_session(factory: sessionmaker[Session]) -> Session:
    """A session whose transaction takes the write lock at once (SQLite; no-op elsewhere)."""
    engine = factory.kw["bind"]
    return factory(bind=engine.execution_options(writes=True))


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool) -> Iterator[Session]:
    """One session and its transaction: committed when the block succeeds, else rolled back."""
    session = writer_session(factory) if write else factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

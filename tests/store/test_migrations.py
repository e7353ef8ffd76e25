"""Migrations go up and down on both backends, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

import screening.store.models  # noqa: F401
from pgcluster import PgCluster
from screening.db import Base
from screening.migrate import downgrade, upgrade


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _roundtrip(url: str) -> None:
    upgrade(url)
    assert _tables(url) == set(Base.metadata.tables)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url)
    assert _tables(url) == set(Base.metadata.tables)


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _account_details_step(url: str) -> None:
    """3e810478ba88 adds registration and profession to existing accounts (as "") and
    takes them away again, keeping the accounts."""
    upgrade(url, "a1c904e2f925")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_account (id, username, full_name, password_hash, role,"
                " language, created) VALUES ('u1', 'zahra', 'Z', 'h', 'screener', 'fa',"
                " '2026-11-24 05:00:00')"
            )
        )
    upgrade(url, "3e810478ba88")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT registration, profession FROM user_account")).one()
    assert tuple(row) == ("", "")
    with engine.begin() as conn:
        conn.execute(text("UPDATE user_account SET registration = 'MoPH-1', profession = 'nurse'"))
    downgrade(url, "a1c904e2f925")
    assert not {"registration", "profession"} & _columns(url, "user_account")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM user_account")).scalars().all() == ["zahra"]
    engine.dispose()
    upgrade(url)
    assert {"registration", "profession"} <= _columns(url, "user_account")


def test_sqlite_up_down(tmp_path: object) -> None:
    _roundtrip(f"sqlite:///{tmp_path}/m.db")


def test_postgresql_up_down(pg_cluster: PgCluster) -> None:
    _roundtrip(pg_cluster.create_database("migrations_roundtrip"))


def test_sqlite_account_details(tmp_path: object) -> None:
    _account_details_step(f"sqlite:///{tmp_path}/details.db")


def test_postgresql_account_details(pg_cluster: PgCluster) -> None:
    _account_details_step(pg_cluster.create_database("migrations_account_details"))

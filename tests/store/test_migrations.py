"""Migrations go up and down on both backends, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

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


def test_sqlite_up_down(tmp_path: object) -> None:
    _roundtrip(f"sqlite:///{tmp_path}/m.db")


def test_postgresql_up_down(pg_cluster: PgCluster) -> None:
    _roundtrip(pg_cluster.create_database("migrations_roundtrip"))

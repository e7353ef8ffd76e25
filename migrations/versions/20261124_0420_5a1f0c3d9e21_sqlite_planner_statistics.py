"""SQLite planner statistics: representative sqlite_stat1 rows for the store's indexes.

Without statistics SQLite guesses that every index narrows equally well and drives a
search from the resource table, scanning every resource of the type: a search then slows
down with the size of the store. These rows tell it what is true of this schema at any
size: a reference target or a resource id picks a handful of rows, a code or a status
picks many. (Hand-written sqlite_stat1 rows are a documented SQLite technique; a later
ANALYZE replaces them with measured ones.) PostgreSQL gathers its own statistics.

Revision ID: 5a1f0c3d9e21
Revises: c8b325032cf2
Create Date: 2026-11-24 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5a1f0c3d9e21"
down_revision = "c8b325032cf2"
branch_labels = None
depends_on = None

ROWS = 1_000_000
# Rows per distinct value of each indexed column, when it follows the columns before it.
PER_VALUE = {
    "res_type": 100_000,
    "name": 20_000,
    "rid": 3,
    "fhir_id": 1,
    "target_id": 5,
    "target_type": 5,
    "code": 2_000,
    "system": 2_000,
    "value_norm": 20,
    "value": 50,
    "low": 50,
    "high": 50,
    "last_updated": 2,
    "created": 2,
    "version": 1,
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    for table, index, columns in _indexes(bind):
        stat = " ".join([str(ROWS), *_narrowing(columns)])
        bind.execute(
            sa.text("DELETE FROM sqlite_stat1 WHERE tbl = :t AND idx = :i"),
            {"t": table, "i": index},
        )
        bind.execute(
            sa.text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (:t, :i, :s)"),
            {"t": table, "i": index, "s": stat},
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        names = [table for table, _, _ in _indexes(bind)]
        for table in dict.fromkeys(names):
            bind.execute(sa.text("DELETE FROM sqlite_stat1 WHERE tbl = :t"), {"t": table})


def _indexes(bind: sa.engine.Connection) -> list[tuple[str, str, list[str]]]:
    """(table, index, columns) of every index of the store's tables."""
    found = []
    inspector = sa.inspect(bind)
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        for index in inspector.get_indexes(table):
            found.append((table, str(index["name"]), [str(c) for c in index["column_names"]]))
        unique = bind.exec_driver_sql(f"PRAGMA index_list('{table}')").fetchall()
        for row in unique:
            if str(row[1]).startswith("sqlite_autoindex"):
                cols = bind.exec_driver_sql(f"PRAGMA index_info('{row[1]}')").fetchall()
                found.append((table, str(row[1]), [str(c[2]) for c in cols]))
    return found


def _narrowing(columns: list[str]) -> list[str]:
    """Rows per distinct prefix of the index's columns, never growing along the index."""
    per, out = ROWS, []
    for column in columns:
        per = max(1, min(per, PER_VALUE.get(column, 100)))
        out.append(str(per))
    return out

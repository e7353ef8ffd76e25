"""Run the Alembic migrations in migrations/ against a database URL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from screening.paths import data_dir


def alembic_config(database_url: str) -> AlembicConfig:
    """An Alembic config pointing at the project's migrations and this database."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(data_dir("migrations")))
    cfg.set_main_option(
        "file_template",
        "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s",
    )
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database down to `revision` (e.g. "base")."""
    command.downgrade(alembic_config(database_url), revision)

"""Tests for the throwaway PostgreSQL cluster helper."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from pgcluster import EXISTING_URL_ENV, PgCluster, find_pg_bin


def _require_postgres() -> None:
    """Fail (never skip) when there is neither a local PostgreSQL nor an existing server."""
    assert find_pg_bin() is not None or os.environ.get(EXISTING_URL_ENV), (
        "PostgreSQL server binaries are missing: run scripts/test (it installs them) or "
        "`apt-get install postgresql`, or set SCREENING_PG_BIN / SCREENING_TEST_POSTGRES_URL"
    )


def _port_open(port: int) -> bool:
    """Tell whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.postgres
def test_cluster_starts_creates_database_runs_query_and_stops() -> None:
    """A cluster starts, makes a database that SQLAlchemy can use, and is gone after stop."""
    _require_postgres()
    with PgCluster() as cluster:
        with psycopg.connect(cluster.conninfo) as conn:
            row = conn.execute("select current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] >= 120000
        url = cluster.create_database("pgcluster_selftest")
        assert url.startswith("postgresql+psycopg://") and url.endswith("/pgcluster_selftest")
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn2:
                conn2.execute(sa.text("create table t (id int primary key, name text)"))
                conn2.execute(sa.text("insert into t values (1, 'ünïcode')"))
                assert conn2.execute(sa.text("select name from t")).scalar_one() == "ünïcode"
                assert conn2.execute(sa.text("select current_database()")).scalar_one() == (
                    "pgcluster_selftest"
                )
        finally:
            engine.dispose()
        port, tmpdir = cluster.port, cluster.tmpdir
    if cluster.existing_url is None:
        assert port is not None and tmpdir is not None
        assert not tmpdir.exists()
        assert not _port_open(port)


def test_missing_binaries_raise_a_clear_error() -> None:
    """Pointing at a folder without PostgreSQL fails with a message that says what to do."""
    cluster = PgCluster(pg_bin=Path("/nonexistent/pg/bin"), use_existing=False)
    with pytest.raises(RuntimeError, match="No PostgreSQL server binaries found"):
        cluster.start()
    assert cluster.tmpdir is None


@pytest.mark.postgres
def test_failed_start_reports_the_server_log() -> None:
    """A server that cannot start raises RuntimeError with the log tail and cleans up."""
    _require_postgres()
    cluster = PgCluster(settings={"shared_buffers": "not-a-size"}, use_existing=False)
    with pytest.raises(RuntimeError, match="shared_buffers") as info:
        cluster.start()
    assert "server log tail" in str(info.value)
    assert cluster.tmpdir is None
    cluster.stop()

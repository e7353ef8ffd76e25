"""Shared fixtures: the app on SQLite and on a real, throwaway PostgreSQL cluster.

Each backend gets one migrated database per test session; every test starts from empty
tables (they are cleared after each test), through the real HTTP stack of the app.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from pgcluster import PgCluster
from screening import create_app
from screening.auth.service import create_client
from screening.boundary import unit_of_work
from screening.config import Config
from screening.migrate import upgrade
from screening.store.seed import ig_resources, seed_database

FHIR_JSON = "application/fhir+json"
SEEDED_ROWS = len(ig_resources())  # the IG resources are the first rows of each database


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL server for the whole test session, stopped at the end."""
    with PgCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'screening.db'}"
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database("screening_test")
    upgrade(url)
    seed_database(url)
    return url


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app on a clean database."""
    application = create_app(
        Config(database_url=database_url, testing=True, base_url="http://testserver/fhir")
    )
    yield application
    state = application.extensions["screening"]
    _clear(state.engine)
    state.engine.dispose()


def api_token(app: Flask, scopes: str = "system/*.*", **kw: Any) -> str:
    """The bearer token of a new API client of the app (name unique per call)."""
    state = app.extensions["screening"]
    with unit_of_work(state, write=True) as session:
        name = kw.pop("name", None) or f"client-{uuid.uuid4().hex[:12]}"
        _, token = create_client(session, name, scopes, frozenset(state.fhir.resource_types), **kw)
    return token


def _clear(engine: Any) -> None:
    """Remove what a test wrote: every resource but the seeded IG ones (their versions and
    index rows go with them by cascade), and every search snapshot."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM search_snapshot"))
        for table in ("access_grant", "web_session", "login_failure", "user_account", "api_client"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DELETE FROM resource WHERE rid > :seeded"), {"seeded": SEEDED_ROWS})
        conn.execute(
            text("DELETE FROM resource_version WHERE rid > :seeded"), {"seeded": SEEDED_ROWS}
        )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that sends the bearer token of an API client with every scope (but
    AuditEvent's, which `*` leaves out)."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_token(app)}"
    return test_client


class Fhir:
    """A thin FHIR client over Flask's test client: JSON in, (status, JSON, headers) out."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = FHIR_JSON,
    ) -> tuple[int, Any, dict[str, str]]:
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        hdrs = {"Content-Type": content_type} if data is not None else {}
        hdrs.update(headers or {})
        response = self.client.open(
            f"/fhir/{path.lstrip('/')}", method=method, data=data, headers=hdrs
        )
        payload = response.get_json(silent=True) if response.data else None
        return response.status_code, payload, dict(response.headers)

    def get(self, path: str, **kw: Any) -> tuple[int, Any, dict[str, str]]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any, dict[str, str]]:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> tuple[int, Any, dict[str, str]]:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> tuple[int, Any, dict[str, str]]:
        return self.request("DELETE", path, **kw)

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """POST a resource that must be accepted; returns the stored resource."""
        status, body, _ = self.post(resource["resourceType"], resource)
        assert status == 201, body
        stored: dict[str, Any] = body
        return stored


@pytest.fixture
def fhir(client: FlaskClient) -> Fhir:
    return Fhir(client)


@pytest.fixture
def make_patient(fhir: Fhir) -> Callable[..., dict[str, Any]]:
    """Factory: store a Patient with the given family name (and extra elements)."""

    def make(family: str = "Karimi", **extra: Any) -> dict[str, Any]:
        return fhir.create({"resourceType": "Patient", "name": [{"family": family}], **extra})

    return make


FIXTURES = Path(__file__).parent / "fixtures"

"""Fixtures of the page tests: the app over plain http, users, and a browser-like client."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from screening.api.guard import Guard
from screening.api.interactions import Interactions
from screening.api.messages import FhirRequest
from screening.auth import passwords
from screening.auth.models import UserAccount
from screening.auth.principal import Kind, Principal
from screening.auth.roles import Role
from screening.auth.service import create_user
from screening.boundary import unit_of_work

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with the smallest cost: the page tests sign in hundreds of times, and the
    hashing parameters are not what they test (tests/auth covers those)."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(1, 8, 1))


@pytest.fixture
def web_app(app: Flask) -> Flask:
    """The app with session cookies allowed over http (Flask's test client speaks http)."""
    state = app.extensions["screening"]
    state.config = state.config.with_overrides(cookie_secure=False)
    return app


@pytest.fixture
def make_user(app: Flask) -> Callable[..., UserAccount]:
    """Factory: a new active user of a role (a centre for centre staff)."""

    def make(role: str = "clinician", username: str | None = None, **kw: Any) -> UserAccount:
        name = username or f"{role.replace('-', '')}{uuid.uuid4().hex[:8]}"
        if role == Role.CENTRE_STAFF and "organization" not in kw:
            kw["organization"] = "centre-1"
        password = kw.pop("password", PASSWORD)
        with unit_of_work(app.extensions["screening"], write=True) as session:
            return create_user(session, name, role, password, **kw)

    return make


class Browser:
    """Someone using the pages: Flask's test client, keeping the session's CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> TestResponse:
        response = self.client.get(path, **kw)
        found = CSRF_FIELD.search(response.get_data(as_text=True))
        if found and not path.startswith("/login"):
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, **kw: Any) -> TestResponse:
        """POST a form with the session's CSRF token (unless the data names one)."""
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=form, **kw)

    def login(self, username: str, password: str = PASSWORD, next_page: str = "/") -> TestResponse:
        """Fill in and send the sign-in form; on success, load the home page (and its token)."""
        page = self.client.get("/login")
        token = login_token(page)
        form = {"username": username, "password": password, "csrf_token": token, "next": next_page}
        response = self.client.post("/login", data=form)
        if response.status_code == 303:
            self.get("/")
        return response

    def session_cookie(self) -> str | None:
        """The value of the session cookie the browser holds."""
        cookie = self.client.get_cookie("screening_session")
        return cookie.value if cookie else None


def login_token(page: TestResponse) -> str:
    """The double-submit token in a sign-in form."""
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, "the sign-in form has no csrf_token field"
    return found.group(1)


@pytest.fixture
def browser(web_app: Flask) -> Callable[[], Browser]:
    """Factory: a new browser (no cookies)."""
    return lambda: Browser(web_app.test_client())


@pytest.fixture
def signed_in(
    browser: Callable[[], Browser], make_user: Callable[..., UserAccount]
) -> Callable[..., tuple[Browser, UserAccount]]:
    """Factory: a browser signed in as a new user of a role."""

    def sign_in(role: str = "clinician", **kw: Any) -> tuple[Browser, UserAccount]:
        user = make_user(role, **kw)
        person = browser()
        response = person.login(user.username)
        assert response.status_code == 303, response.get_data(as_text=True)
        return person, user

    return sign_in


@pytest.fixture
def audit_events(app: Flask) -> Callable[..., list[dict[str, Any]]]:
    """Factory: the AuditEvents matching a FHIR search, as an auditor sees them."""

    def search(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
        state = app.extensions["screening"]
        auditor = Principal(Kind.USER, "tester", "tester", role=Role.AUDITOR)
        with unit_of_work(state, write=True) as session:
            api = Interactions(state.fhir, session, "http://t/fhir", Guard(auditor, session))
            query = [*pairs, ("_count", "200"), ("_sort", "-date")]
            body = api.handle(FhirRequest("GET", "AuditEvent", query=query)).body or {}
        return [e["resource"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]

    return search


def text_of(response: TestResponse) -> str:
    """The body of a response as text."""
    return response.get_data(as_text=True)


def operation_of(event: dict[str, Any]) -> str:
    """The entity name (the operation) of an AuditEvent, or ''."""
    return next((e["name"] for e in event.get("entity", []) if e.get("name")), "")

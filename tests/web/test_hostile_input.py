"""Hostile strings in names are stored as typed and always shown escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape

from screening.auth.service import find_user
from screening.boundary import unit_of_work
from web.conftest import Browser, text_of

Factory = Callable[..., Any]
HOSTILE = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "Robert'); DROP TABLE user_account; --",
    "\u202eevil\u202c name",
    "{{ 7*7 }} {% raw %}",
    "سارا <b>کریمی</b> &amp;",
]
LONG = "A" * 10_000


def escaped_in(body: str, value: str) -> bool:
    """Whether `value` appears HTML-escaped as Jinja escapes it."""
    return str(escape(value)) in body


@pytest.mark.parametrize("name", HOSTILE)
def test_full_names_are_stored_literally_and_escaped(
    name: str, signed_in: Factory, web_app: Flask, browser: Factory
) -> None:
    admin, _ = signed_in("administrator")
    form = {
        "username": "target.user",
        "full_name": name,
        "role": "clinician",
        "language": "en",
        "password": "a long enough password",
    }
    assert admin.post("/admin/users", form).status_code == 303
    with unit_of_work(web_app.extensions["screening"], write=False) as session:
        user = find_user(session, "target.user")
    assert user is not None and user.full_name == name.strip()
    for body in (text_of(admin.get("/admin/users")), text_of(admin.get(f"/admin/users/{user.id}"))):
        assert escaped_in(body, name)
        if "<" in name:
            assert name not in body
        if "\u202e" in name:  # an override cannot spill out of its element
            assert f"<bdi>{name}</bdi>" in body
    person: Browser = browser()
    assert person.login("target.user", "a long enough password").status_code == 303
    home = text_of(person.get("/"))
    assert escaped_in(home, name)
    if "{{" in name:  # data is never evaluated as a template
        assert "{{ 7*7 }}" in home


@pytest.mark.parametrize("username", [*HOSTILE, LONG])
def test_hostile_usernames_are_refused_and_echoed_escaped(
    username: str, signed_in: Factory, web_app: Flask
) -> None:
    admin, _ = signed_in("administrator")
    form = {"username": username, "role": "clinician", "language": "en", "password": "x" * 12}
    response = admin.post("/admin/users", form)
    assert response.status_code == 400
    body = text_of(response)
    assert 'id="f-username-error"' in body
    if len(username) <= 200:
        assert escaped_in(body, username.strip())
    if "<" in username:
        assert username not in body
    with unit_of_work(web_app.extensions["screening"], write=False) as session:
        assert find_user(session, username) is None


def test_a_ten_thousand_character_full_name_is_refused(signed_in: Factory) -> None:
    admin, _ = signed_in("administrator")
    form = {
        "username": "long.name",
        "full_name": LONG,
        "role": "clinician",
        "language": "en",
        "password": "a long enough password",
    }
    response = admin.post("/admin/users", form)
    assert response.status_code == 400
    assert 'id="f-full_name-error">This is too long<' in text_of(response)


@pytest.mark.parametrize("name", [*HOSTILE, LONG])
def test_hostile_sign_in_names_reach_the_audit_page_escaped(
    name: str, browser: Factory, signed_in: Factory
) -> None:
    stranger: Browser = browser()
    response = stranger.login(name, "some password")
    assert response.status_code == (400 if name is LONG else 200)
    if name is not LONG:
        assert escaped_in(text_of(response), name.strip())
        assert "<script>" not in text_of(response)
    auditor, _ = signed_in("auditor")
    body = text_of(auditor.get("/audit?outcome=4"))
    if name is not LONG:
        shown = "user:" + name.strip().lower()[:64]
        assert escaped_in(body, shown)
        if "<" in name:
            assert shown not in body


def test_hostile_client_names_are_escaped(signed_in: Factory) -> None:
    admin, _ = signed_in("administrator")
    name = "<script>alert(1)</script>"
    created = admin.post("/admin/clients", {"name": name, "scopes": "system/*.read"})
    assert created.status_code == 201
    for body in (text_of(created), text_of(admin.get("/admin/clients"))):
        assert str(escape(name)) in body
        assert name not in body

"""Who may open which page: sign-in first, then the role; CSRF on every form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from screening.auth.models import UserAccount
from screening.boundary import unit_of_work
from web.conftest import Browser, text_of

Factory = Callable[..., Any]
PAGES = ["/", "/admin/users", "/admin/clients", "/admin/users/some-id", "/audit?outcome=4"]
FORMS = [
    "/logout",
    "/language",
    "/admin/users",
    "/admin/users/some-id",
    "/admin/users/some-id/active",
    "/admin/users/some-id/password",
    "/admin/clients",
    "/admin/clients/some-id/active",
]
RESTRICTED = {
    "/admin/users": "administrator",
    "/admin/clients": "administrator",
    "/audit": "auditor",
}
ROLES = ["screener", "clinician", "centre-staff", "administrator", "auditor"]


def count_users(app: Flask) -> int:
    with unit_of_work(app.extensions["screening"], write=False) as session:
        return int(session.execute(select(func.count()).select_from(UserAccount)).scalar_one())


def test_pages_send_strangers_to_sign_in(browser: Factory) -> None:
    person: Browser = browser()
    for page in PAGES:
        response = person.get(page)
        assert response.status_code == 302, page
        location = response.headers["Location"]
        assert location.startswith("/login?next="), page
        assert person.get(location).status_code == 200


def test_forms_refuse_strangers(browser: Factory, web_app: Flask) -> None:
    person: Browser = browser()
    for form in FORMS:
        response = person.post(form, {"csrf_token": "guess", "active": "0"})
        assert response.status_code == 403, form
        assert "Error 403" in text_of(response)
    assert count_users(web_app) == 0


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_only_its_pages(role: str, signed_in: Factory) -> None:
    person, _ = signed_in(role)
    assert person.get("/").status_code == 200
    for page, allowed in RESTRICTED.items():
        response = person.get(page)
        assert response.status_code == (200 if role == allowed else 403), (role, page)
    forbidden = [p for p, r in RESTRICTED.items() if r != role and p.startswith("/admin")]
    for page in forbidden:
        assert person.post(page, {"name": "x", "scopes": "system/*.read"}).status_code == 403


def test_home_lists_what_the_role_can_do(signed_in: Factory) -> None:
    admin, _ = signed_in("administrator")
    body = text_of(admin.get("/"))
    assert 'href="/admin/users"' in body and 'href="/admin/clients"' in body
    assert 'href="/audit"' not in body
    auditor, _ = signed_in("auditor")
    body = text_of(auditor.get("/"))
    assert 'href="/audit"' in body and 'href="/admin/users"' not in body
    clinician, _ = signed_in("clinician")
    body = text_of(clinician.get("/"))
    assert "Referral letters" in body and 'href="/letters/import"' in body


def test_forms_need_the_session_csrf_token(signed_in: Factory, web_app: Flask) -> None:
    admin, _ = signed_in("administrator")
    new_user = {
        "username": "newbie",
        "role": "clinician",
        "language": "en",
        "password": "a long password",
    }
    before = count_users(web_app)
    for token in ("", "wrong-token", admin.csrf + "x", "é" * 43):
        response = admin.post("/admin/users", {**new_user, "csrf_token": token})
        assert response.status_code == 403
    without = admin.client.post("/admin/users", data=new_user)
    assert without.status_code == 403
    assert count_users(web_app) == before
    assert admin.post("/logout", {"csrf_token": ""}).status_code == 403
    assert admin.get("/").status_code == 200  # still signed in
    assert admin.post("/admin/users", new_user).status_code == 303
    assert count_users(web_app) == before + 1


def test_unknown_page_is_a_404_page(signed_in: Factory, browser: Factory) -> None:
    person, user = signed_in("clinician")
    response = person.get("/no/such/page")
    assert response.status_code == 404
    body = text_of(response)
    assert "Error 404" in body and user.username in body  # in the layout
    stranger: Browser = browser()
    assert stranger.get("/no/such/page").status_code == 404
    admin, _ = signed_in("administrator")
    assert admin.get("/admin/users/not-a-user").status_code == 404


def test_server_error_page_hides_the_exception(
    signed_in: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    person, _ = signed_in("clinician")

    def broken(role: Any) -> Any:
        raise RuntimeError("patient Karimi, 1990-01-01")

    monkeypatch.setattr("screening.web.pages.menu", broken)
    response = person.get("/")
    assert response.status_code == 500
    body = text_of(response)
    assert "Karimi" not in body and "Traceback" not in body
    assert "incident number" in body

"""Signing in and out of the pages: cookies, throttling, redirects, the audit trail."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from screening.auth.models import UserAccount
from screening.web.security import safe_next
from web.conftest import PASSWORD, Browser, login_token, operation_of, text_of

Factory = Callable[..., Any]
ALERT = re.compile(r'role="alert">([^<]*)<')


def set_cookie_headers(response: Any) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        found[header.split("=", 1)[0]] = header
    return found


def test_sign_in_opens_a_session_with_safe_cookie_flags(
    browser: Factory, make_user: Factory, audit_events: Factory
) -> None:
    user = make_user("clinician", full_name="Sara Karimi")
    person: Browser = browser()
    response = person.login(user.username, next_page="/?from=login")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?from=login"
    cookie = set_cookie_headers(response)["screening_session"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # cookie_secure=False in these tests
    home = person.get("/")
    assert home.status_code == 200
    assert "Sara Karimi" in text_of(home)
    [event] = audit_events(("altid", user.username))
    assert operation_of(event) == "login"
    assert event["outcome"] == "0"
    assert event["agent"][0]["who"]["display"] == f"user:{user.username}"


def test_cookies_are_secure_when_configured(app: Flask, make_user: Factory) -> None:
    user = make_user("auditor")
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    login_cookie = set_cookie_headers(page)["screening_login_csrf"]
    assert "Secure" in login_cookie
    assert "HttpOnly" in login_cookie
    assert "SameSite=Strict" in login_cookie
    form = {"username": user.username, "password": PASSWORD, "csrf_token": login_token(page)}
    response = client.post("/login", data=form, base_url="https://localhost")
    assert response.status_code == 303
    cookie = set_cookie_headers(response)["screening_session"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_failed_sign_in_says_the_same_for_any_reason(
    browser: Factory, make_user: Factory, audit_events: Factory
) -> None:
    user = make_user("clinician")
    alerts = []
    for name, password in ((user.username, "wrong password 123"), ("nobody-here", PASSWORD)):
        person: Browser = browser()
        response = person.login(name, password)
        assert response.status_code == 200
        assert "screening_session" not in set_cookie_headers(response)
        alerts.append(ALERT.findall(text_of(response)))
    assert alerts[0] == alerts[1] == ["Wrong username or password"]
    failures = audit_events(("outcome", "4"), ("subtype", "operation"))
    names = sorted(e["agent"][0]["altId"] for e in failures)
    assert names == sorted([user.username, "nobody-here"])
    assert all(operation_of(e) == "login" for e in failures)
    assert all("wrong username or password" in e["outcomeDesc"] for e in failures)


def test_sign_in_is_throttled_after_five_failures(
    browser: Factory, make_user: Factory, audit_events: Factory
) -> None:
    user = make_user("clinician")
    person: Browser = browser()
    for _ in range(5):
        assert person.login(user.username, "not the password").status_code == 200
    response = person.login(user.username)  # even the right password is refused now
    assert response.status_code == 429
    assert "Too many failed attempts; try again in 15 minutes" in text_of(response)
    assert "screening_session" not in set_cookie_headers(response)
    events = audit_events(("altid", user.username))
    assert len(events) == 6
    assert "too many failed attempts" in events[0]["outcomeDesc"]


def test_sign_in_form_needs_its_double_submit_token(
    web_app: Flask, make_user: Factory, audit_events: Factory
) -> None:
    user = make_user("clinician")
    client = web_app.test_client()
    token = login_token(client.get("/login"))
    form = {"username": user.username, "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403
    assert client.post("/login", data={**form, "csrf_token": token + "x"}).status_code == 403
    other = web_app.test_client()  # a forged form from elsewhere: no cookie
    assert other.post("/login", data={**form, "csrf_token": token}).status_code == 403
    planted = "a" * 43  # a cookie planted by someone who cannot sign it
    other.set_cookie("screening_login_csrf", planted, path="/login")
    assert other.post("/login", data={**form, "csrf_token": planted}).status_code == 403
    assert audit_events(("altid", user.username)) == []
    assert client.post("/login", data={**form, "csrf_token": token}).status_code == 303


def test_sign_out_ends_the_session(
    signed_in: Factory, web_app: Flask, audit_events: Factory
) -> None:
    person, user = signed_in("administrator")
    token = person.session_cookie()
    assert token
    response = person.post("/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "Max-Age=0" in set_cookie_headers(response)["screening_session"]
    assert person.session_cookie() is None
    stolen = web_app.test_client()
    stolen.set_cookie("screening_session", token)
    assert stolen.get("/admin/users").status_code == 302
    assert stolen.get("/fhir/Patient").status_code == 401
    assert [operation_of(e) for e in audit_events(("altid", user.username))] == [
        "logout",
        "login",
    ]


def test_disabled_user_cannot_sign_in_and_loses_open_session(
    signed_in: Factory, browser: Factory
) -> None:
    person, user = signed_in("clinician")
    assert person.get("/").status_code == 200
    admin, _ = signed_in("administrator")
    assert admin.post(f"/admin/users/{user.id}/active", {"active": "0"}).status_code == 303
    assert person.get("/").status_code == 302
    again: Browser = browser()
    response = again.login(user.username)
    assert response.status_code == 200
    assert "Wrong username or password" in text_of(response)


def test_signed_in_user_skips_the_login_page(signed_in: Factory) -> None:
    person, _ = signed_in("auditor")
    response = person.get("/login?next=/audit")
    assert response.status_code == 302
    assert response.headers["Location"] == "/audit"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/ok\r\nLocation: https://evil.example",
        " https://evil.example",
        "evil.example",
        "",
    ],
)
def test_open_redirects_are_refused(target: str) -> None:
    assert safe_next(target) == "/"


def test_same_site_next_is_kept() -> None:
    assert safe_next("/admin/users/abc?done=user_created") == "/admin/users/abc?done=user_created"


def test_sign_in_never_redirects_to_another_site(browser: Factory, make_user: Factory) -> None:
    user: UserAccount = make_user("clinician")
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        person: Browser = browser()
        response = person.login(user.username, next_page=target)
        assert response.status_code == 303
        assert response.headers["Location"] == "/"

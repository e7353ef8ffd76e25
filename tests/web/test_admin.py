"""The administrator's pages: accounts and API clients."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select

from screening.auth.models import ApiClient, UserAccount
from screening.auth.service import find_user
from screening.boundary import unit_of_work
from web.conftest import Browser, operation_of, text_of

Factory = Callable[..., Any]
NEW_USER = {
    "username": "Nasrin.Ahmadi",
    "full_name": "Nasrin Ahmadi",
    "role": "centre-staff",
    "organization": "centre-7",
    "language": "fa",
    "password": "a long enough password",
}


def stored_user(app: Flask, username: str) -> UserAccount | None:
    with unit_of_work(app.extensions["screening"], write=False) as session:
        return find_user(session, username)


def field_error(body: str, field: str) -> str | None:
    """The error shown next to a form field, or None."""
    found = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', body)
    return found.group(1) if found else None


def test_admin_creates_an_account(
    signed_in: Factory, browser: Factory, web_app: Flask, audit_events: Factory
) -> None:
    admin, me = signed_in("administrator")
    response = admin.post("/admin/users", NEW_USER)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users?done=user_created"
    listing = text_of(admin.get(response.headers["Location"]))
    assert "The account was created." in listing
    assert "nasrin.ahmadi" in listing and "Nasrin Ahmadi" in listing and "centre-7" in listing
    user = stored_user(web_app, "nasrin.ahmadi")
    assert user is not None
    assert (user.role, user.organization_id, user.language) == ("centre-staff", "centre-7", "fa")
    assert NEW_USER["password"] not in user.password_hash
    newcomer: Browser = browser()
    assert newcomer.login("nasrin.ahmadi", NEW_USER["password"]).status_code == 303
    [event] = [e for e in audit_events(("altid", me.username)) if "user-create" in operation_of(e)]
    assert operation_of(event) == "user-create user:nasrin.ahmadi role:centre-staff"


def test_errors_sit_next_to_their_field_and_values_stay(signed_in: Factory, web_app: Flask) -> None:
    admin, _ = signed_in("administrator")
    cases = [
        ({"username": "x y"}, "username", "A username has 3 to 64"),
        ({"organization": ""}, "organization", "Centre staff need the id of their centre"),
        ({"role": "clinician"}, "organization", "Only centre staff belong to a centre"),
        ({"password": "short"}, "password", "A password needs at least 10 characters"),
        ({"role": "superuser"}, "role", "Choose one of the options"),
        ({"username": ""}, "username", "This field is required"),
    ]
    for change, field, message in cases:
        response = admin.post("/admin/users", {**NEW_USER, **change})
        assert response.status_code == 400, change
        body = text_of(response)
        assert (field_error(body, field) or "").startswith(message), (change, body)
        assert 'value="Nasrin Ahmadi"' in body  # what was typed stays
        assert NEW_USER["password"] not in body  # but never a password
    assert admin.post("/admin/users", NEW_USER).status_code == 303
    taken = text_of(admin.post("/admin/users", NEW_USER))
    assert field_error(taken, "username") == "This username is taken"
    assert stored_user(web_app, "x y") is None


def test_errors_are_shown_in_persian(signed_in: Factory) -> None:
    admin, _ = signed_in("administrator", language="fa")
    body = text_of(admin.post("/admin/users", {**NEW_USER, "password": "short"}))
    assert field_error(body, "password") == "گذرواژه دست‌کم ۱۰ نویسه لازم دارد"


def test_admin_edits_role_centre_and_language(
    signed_in: Factory, make_user: Factory, web_app: Flask
) -> None:
    admin, _ = signed_in("administrator")
    user = make_user("clinician")
    page = text_of(admin.get(f"/admin/users/{user.id}"))
    assert user.username in page
    change = {"role": "centre-staff", "organization": "centre-9", "language": "fa"}
    response = admin.post(f"/admin/users/{user.id}", change)
    assert response.status_code == 303
    assert "The changes were saved." in text_of(admin.get(response.headers["Location"]))
    stored = stored_user(web_app, user.username)
    assert stored is not None
    assert stored.role == "centre-staff"
    assert (stored.organization_id, stored.language) == ("centre-9", "fa")
    bad = admin.post(f"/admin/users/{user.id}", {**change, "organization": ""})
    assert bad.status_code == 400
    assert field_error(text_of(bad), "organization") == (
        "Centre staff, and only they, belong to a centre"
    )
    assert 'value="centre-9"' not in text_of(bad)  # the typed (empty) value is kept
    back = {"role": "screener", "organization": "", "language": "en"}
    assert admin.post(f"/admin/users/{user.id}", back).status_code == 303
    stored = stored_user(web_app, user.username)
    assert stored is not None and stored.organization_id is None


def test_admin_disables_enables_and_resets_password(
    signed_in: Factory, browser: Factory, make_user: Factory
) -> None:
    admin, _ = signed_in("administrator")
    user = make_user("screener")
    base = f"/admin/users/{user.id}"
    assert admin.post(f"{base}/active", {"active": "0"}).status_code == 303
    assert "Disabled" in text_of(admin.get(base))
    assert browser().login(user.username).status_code == 200
    assert admin.post(f"{base}/active", {"active": "1"}).status_code == 303
    person: Browser = browser()
    assert person.login(user.username).status_code == 303
    short = admin.post(f"{base}/password", {"password": "tiny"})
    assert short.status_code == 400
    assert field_error(text_of(short), "password") == "A password needs at least 10 characters"
    assert admin.post(f"{base}/password", {"password": "a brand new password"}).status_code == 303
    assert person.get("/").status_code == 302  # the reset ended the session
    assert browser().login(user.username).status_code == 200
    assert browser().login(user.username, "a brand new password").status_code == 303


def test_admin_cannot_lock_themselves_out(signed_in: Factory) -> None:
    admin, me = signed_in("administrator")
    refused = admin.post(f"/admin/users/{me.id}/active", {"active": "0"})
    assert refused.status_code == 400
    assert "You cannot disable your own account" in text_of(refused)
    demoted = admin.post(
        f"/admin/users/{me.id}", {"role": "auditor", "organization": "", "language": "en"}
    )
    assert demoted.status_code == 400
    assert admin.get("/admin/users").status_code == 200
    own_language = {"role": "administrator", "organization": "", "language": "fa"}
    assert admin.post(f"/admin/users/{me.id}", own_language).status_code == 303


def test_admin_creates_a_client_and_sees_its_token_once(
    signed_in: Factory, web_app: Flask, audit_events: Factory
) -> None:
    admin, me = signed_in("administrator")
    form = {"name": "Tabriz centre system", "scopes": "system/Patient.read", "organization": "c1"}
    response = admin.post("/admin/clients", form)
    assert response.status_code == 201
    body = text_of(response)
    token = re.search(r'<code dir="ltr" id="token">(scr_[^<]+)</code>', body)
    assert token is not None
    assert "shown only this once" in body
    with unit_of_work(web_app.extensions["screening"], write=False) as session:
        stored = session.execute(select(ApiClient)).scalar_one()
    assert stored.token_hash == hashlib.sha256(token.group(1).encode()).hexdigest()
    assert token.group(1) not in (stored.token_hash, stored.scopes, stored.name)
    listing = text_of(admin.get("/admin/clients"))
    assert "Tabriz centre system" in listing and token.group(1) not in listing
    api = web_app.test_client()
    bearer = {"Authorization": f"Bearer {token.group(1)}"}
    assert api.get("/fhir/Patient", headers=bearer).status_code == 200
    assert admin.post(f"/admin/clients/{stored.id}/active", {"active": "0"}).status_code == 303
    assert "Revoked" in text_of(admin.get("/admin/clients"))
    assert api.get("/fhir/Patient", headers=bearer).status_code == 401
    operations = [operation_of(e) for e in audit_events(("altid", me.username))]
    assert "client-create client:Tabriz centre system" in operations
    assert "client-revoke client:Tabriz centre system" in operations


def test_client_errors_sit_next_to_their_field(signed_in: Factory) -> None:
    admin, _ = signed_in("administrator")
    bad_scope = admin.post("/admin/clients", {"name": "lab", "scopes": "everything"})
    assert bad_scope.status_code == 400
    body = text_of(bad_scope)
    assert "is not a system scope" in (field_error(body, "scopes") or "")
    assert 'value="lab"' in body
    lab = {"name": "lab", "scopes": "system/*.read"}
    assert admin.post("/admin/clients", lab).status_code == 201
    taken = text_of(admin.post("/admin/clients", lab))
    assert field_error(taken, "name") == "A client with this name exists"
    assert admin.post("/admin/clients/no-such-id/active", {"active": "0"}).status_code == 404

"""The account page: an administrator sets the registration number and profession that
referral letters print of a health worker."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from screening.auth.models import UserAccount
from screening.auth.service import find_user
from screening.boundary import unit_of_work
from web.conftest import operation_of, text_of

Factory = Callable[..., Any]
CLINICIAN = {"role": "clinician", "organization": "", "language": "en"}


def stored_user(app: Flask, username: str) -> UserAccount:
    with unit_of_work(app.extensions["screening"], write=False) as session:
        user = find_user(session, username)
    assert user is not None
    return user


def field_error(body: str, field: str) -> str | None:
    """The error shown next to a form field, or None."""
    found = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', body)
    return html.unescape(found.group(1)) if found else None


def selected(body: str, field: str) -> str | None:
    """The selected option of a select, or None."""
    select = re.search(rf'<select id="f-{field}" name="{field}"[^>]*>(.*?)</select>', body, re.S)
    assert select, f"no select {field}"
    found = re.search(r'<option value="([^"]*)" selected>', select.group(1))
    return found.group(1) if found else None


def test_admin_sets_and_clears_registration_and_profession(
    signed_in: Factory, make_user: Factory, web_app: Flask, audit_events: Factory
) -> None:
    admin, me = signed_in("administrator")
    user = make_user("clinician")
    page = text_of(admin.get(f"/admin/users/{user.id}"))
    assert '<option value="">Not given</option>' in page
    assert '<option value="prosthetist-orthotist">Prosthetist-orthotist</option>' in page
    assert selected(page, "profession") is None
    assert 'id="f-registration" name="registration" type="text" dir="auto" value=""' in page

    change = {**CLINICIAN, "profession": "physiotherapist", "registration": " MoPH-PT-10482 "}
    response = admin.post(f"/admin/users/{user.id}", change)
    assert response.status_code == 303
    stored = stored_user(web_app, user.username)
    assert (stored.registration, stored.profession) == ("MoPH-PT-10482", "physiotherapist")
    page = text_of(admin.get(response.headers["Location"]))
    assert "The changes were saved." in page
    assert selected(page, "profession") == "physiotherapist"
    assert 'name="registration" type="text" dir="auto" value="MoPH-PT-10482"' in page
    [event] = [e for e in audit_events(("altid", me.username)) if "user-update" in operation_of(e)]
    assert operation_of(event) == (
        f"user-update user:{user.username} language,organization,profession,registration,role"
    )

    assert admin.post(f"/admin/users/{user.id}", CLINICIAN).status_code == 303  # both empty
    stored = stored_user(web_app, user.username)
    assert (stored.registration, stored.profession) == ("", "")


def test_the_other_account_forms_leave_the_details_alone(
    signed_in: Factory, make_user: Factory, web_app: Flask
) -> None:
    admin, _ = signed_in("administrator")
    user = make_user("screener")
    details = {**CLINICIAN, "role": "screener", "profession": "nurse", "registration": "N-7"}
    assert admin.post(f"/admin/users/{user.id}", details).status_code == 303
    base = f"/admin/users/{user.id}"
    assert admin.post(f"{base}/active", {"active": "0"}).status_code == 303
    assert admin.post(f"{base}/password", {"password": "a brand new password"}).status_code == 303
    stored = stored_user(web_app, user.username)
    assert (stored.registration, stored.profession, stored.active) == ("N-7", "nurse", False)


def test_errors_sit_next_to_their_field_and_change_nothing(
    signed_in: Factory, make_user: Factory, web_app: Flask
) -> None:
    admin, _ = signed_in("administrator")
    user = make_user("clinician")
    good = {**CLINICIAN, "profession": "physician", "registration": "MD-1"}
    assert admin.post(f"/admin/users/{user.id}", good).status_code == 303
    cases = [
        ({"profession": "surgeon"}, "profession", "Choose one of the options"),
        ({"registration": "MD\x07-2"}, "registration", "A registration number must not hold"),
        ({"registration": "MD-\n2"}, "registration", "A registration number must not hold"),
        ({"registration": "9" * 65}, "registration", "This is too long"),
    ]
    for change, field, message in cases:
        response = admin.post(f"/admin/users/{user.id}", {**good, "language": "fa", **change})
        assert response.status_code == 400, change
        body = text_of(response)
        assert (field_error(body, field) or "").startswith(message), (change, body)
        other = "registration" if field == "profession" else "profession"
        assert field_error(body, other) is None
        assert 'name="language"' in body and selected(body, "language") == "fa"  # kept
        stored = stored_user(web_app, user.username)
        assert (stored.registration, stored.profession, stored.language) == (
            "MD-1",
            "physician",
            "en",
        )
    sixty_four = admin.post(f"/admin/users/{user.id}", {**good, "registration": "9" * 64})
    assert sixty_four.status_code == 303
    assert stored_user(web_app, user.username).registration == "9" * 64


def test_professions_and_errors_in_persian(signed_in: Factory, make_user: Factory) -> None:
    admin, _ = signed_in("administrator", language="fa")
    user = make_user("clinician")
    page = text_of(admin.get(f"/admin/users/{user.id}"))
    assert "شمارهٔ ثبت" in page and "حرفه" in page
    assert '<option value="physiotherapist">فیزیوتراپیست</option>' in page
    assert '<option value="community-health-worker">کارکن صحی جامعه</option>' in page
    bad = admin.post(f"/admin/users/{user.id}", {**CLINICIAN, "registration": "A\x1bB"})
    assert field_error(text_of(bad), "registration") == (
        "شمارهٔ ثبت نباید نویسهٔ کنترلی (مانند تب یا شکست خط) داشته باشد"
    )


def test_a_new_account_takes_its_registration_and_profession(
    signed_in: Factory, web_app: Flask
) -> None:
    admin, _ = signed_in("administrator")
    page = text_of(admin.get("/admin/users"))
    assert '<option value="physiotherapist">Physiotherapist</option>' in page
    assert 'id="f-registration" name="registration" type="text" dir="auto" value=""' in page
    new = {
        **CLINICIAN,
        "username": "farid.haidari",
        "password": "a long enough password",
        "profession": "physiotherapist",
        "registration": " MoPH-PT-10482 ",
    }
    refused = admin.post("/admin/users", {**new, "registration": "MoPH\x07"})
    assert refused.status_code == 400
    body = text_of(refused)
    assert (field_error(body, "registration") or "").startswith("A registration number must")
    assert selected(body, "profession") == "physiotherapist"  # kept
    with unit_of_work(web_app.extensions["screening"], write=False) as session:
        assert find_user(session, "farid.haidari") is None  # nothing written

    assert admin.post("/admin/users", new).status_code == 303
    stored = stored_user(web_app, "farid.haidari")
    assert (stored.registration, stored.profession) == ("MoPH-PT-10482", "physiotherapist")
    plain = {**new, "username": "omid", "profession": "", "registration": ""}
    assert admin.post("/admin/users", plain).status_code == 303
    assert (stored_user(web_app, "omid").registration, stored_user(web_app, "omid").profession) == (
        "",
        "",
    )

"""A referral from end to end in real browsers: a clinician refers a screened person and a
centre user accepts, starts and completes it while the clinician sees each change.

Two pages side by side, each in its own browser context: the clinician on a tablet in
Persian, and the staff of the Herat centre HER-01 on a tablet in English. What the test
does not look at is set up through the live server's app, not the browser: the three
centres of `referrals.pages_support`, a person living in Herat (the IG's example) and a
screening whose conclusion asks for prosthetics, physiotherapy and psychosocial support
(the screening form sent through Flask's test client). The referral itself and every step
of it go through the pages.

A last test checks the referral form with a screen reader's eyes: every control has an
accessible name, and the consent error is tied to its checkbox.

Every page may load only from the app itself and must raise no console or script error
(except the answer to the form sent without consent on purpose). With
SCREENING_SCREENSHOTS set, the form (before and after the refusal), the centre's inbox, the
referral as the centre first sees it and the finished referral are saved.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import pytest
from flask import Flask

from browser.conftest import LiveServer, Pages, sign_in
from browser.screens import shoot
from browser.test_screening_flow import (
    NAMES_SCRIPT,
    UNNAMED,
    assert_clean,
    click_and_wait,
    fits_width,
    path_of,
)
from referrals.pages_support import load_centres
from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.models import UserAccount
from screening.auth.principal import operator
from screening.referrals.directory import CentreCodeTaken
from screening.referrals.numbers import is_valid
from screening.store.clock import utcnow
from screening.web.calendar import show_date
from screenings.test_screening_pages import CONCLUSION, answers, post
from web.conftest import Browser

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

EXAMPLE_PATIENT = "fhir_profiles/examples/Patient-example-ahmad-karimi.json"
SERVICES = ("prosthetics-orthotics", "physiotherapy", "psychosocial-support")  # the conclusion's
FORM = "form.referral-form"
CONTROLS = f"{FORM} :is(input:not([type=hidden]), select, textarea, button)"
NUMBER = re.compile(r"R-(\d{4})-HER-\d{5}-\d")
# Persian words of the pages
FA_REFER = "ارجاع به مرکز"
FA_SEND = "فرستادن ارجاع"
FA_CONSENT = "شخص یا سرپرست موافق است"
FA_NO_CONSENT = "ارجاع فقط با رضایت شخص فرستاده می‌شود"
FA_NEAREST = "(نزدیک‌ترین)"
FA_STATUS = {
    "requested": "درخواست‌شده",
    "accepted": "پذیرفته‌شده",
    "in-progress": "در جریان",
    "completed": "تکمیل‌شده",
}
HER_01_FA = "مرکز توان‌بخشی فزیکی هرات"
CENTRE_USER = "Rahim Sadat"
CLINICIAN = "دکتر زهرا احمدی"


# -- set-up through the app --------------------------------------------------------------


@dataclass(frozen=True)
class Screened:
    """A person registered and screened, ready to be referred."""

    patient_id: str
    response_id: str


def screened_person(server: LiveServer, clinician: UserAccount) -> Screened:
    """The centres (once per server), the IG's example person (Herat) registered anew, and
    a screening saved by `clinician` through the screening form (Flask's test client on the
    live server's app): amputation, fall risk, slow walking and pain after a landmine; the
    conclusion asks for P&O, physiotherapy and psychosocial support, urgent."""
    app: Flask = server.app
    with contextlib.suppress(CentreCodeTaken):  # an earlier test of this session made them
        load_centres(app)
    with open(EXAMPLE_PATIENT, encoding="utf-8") as handle:
        patient = json.load(handle)
    patient.pop("id")
    send = partial(perform, app.extensions["screening"], operator("test"))
    stored = send(FhirRequest("POST", "Patient", body=patient), f"{server.url}/fhir").body
    patient_id = str((stored or {})["id"])
    person = Browser(app.test_client())
    assert person.login(clinician.username).status_code == 303
    saved = post(person, patient_id, answers(clinician.language, **CONCLUSION), "save")
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    response_id = str(saved.headers["Location"]).split("/screenings/")[1].split("?")[0]
    return Screened(patient_id, response_id)


# -- helpers ---------------------------------------------------------------------------------


def unnamed_controls(page: Page) -> list[dict[str, str]]:
    """The referral form's controls without an accessible name (radios and checkboxes also
    without the legend of their group)."""
    controls: list[dict[str, str]] = page.evaluate(NAMES_SCRIPT, CONTROLS)
    assert len(controls) > 15, controls
    return [c for c in controls if not c["label"] or not c["group"]]


def ticked_services(form: Locator) -> list[str]:
    """The services ticked on the referral form, in their order."""
    ticked = form.locator("input[name=service]:checked")
    return list(ticked.evaluate_all("all => all.map(e => e.value)"))


def status_of(page: Page) -> str:
    """The referral's status as its page shows it, under the number."""
    return page.locator(".subtitle .status").inner_text()


def last_step(page: Page) -> str:
    """The newest step of the referral page's timeline."""
    steps = page.locator("section[aria-labelledby=timeline-title] ol.timeline > li")
    return steps.last.inner_text()


def step_form(page: Page) -> Locator:
    return page.locator("section[aria-labelledby=step-title] form")


def record_step(page: Page, action: str, **fields: str) -> None:
    """On the centre's (English) referral page: choose the next status by its label, fill
    in fields by their labels (a select's option by its text), send, and see it recorded."""
    form = step_form(page)
    form.get_by_role("radio", name=action, exact=True).check()
    for label, value in fields.items():
        field = form.get_by_label(label, exact=True)
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    click_and_wait(page, form.get_by_role("button", name="Record"))
    assert page.get_by_role("status").inner_text() == "The step was recorded."


# -- the referral from both sides -------------------------------------------------------------


def test_a_clinician_refers_and_a_centre_follows_it_to_the_end(
    pages: Pages, live_server: LiveServer, make_user: Callable[..., UserAccount]
) -> None:
    from playwright.sync_api import expect

    clinician_user = make_user("clinician", language="fa", full_name=CLINICIAN)
    centre_user = make_user(
        "centre-staff", organization="her-01", language="en", full_name=CENTRE_USER
    )
    screened = screened_person(live_server, clinician_user)
    clinician = pages.open("tablet", locale="fa-IR")
    sign_in(clinician, clinician_user.username)
    assert path_of(clinician) == "/"

    # the screening page offers the referral
    clinician.goto(f"/screenings/{screened.response_id}")
    assert clinician.locator("html").get_attribute("dir") == "rtl"
    click_and_wait(clinician, clinician.get_by_role("link", name=FA_REFER, exact=True))
    form_path = f"/screenings/{screened.response_id}/refer"
    assert path_of(clinician) == form_path
    assert clinician.locator("h1").inner_text() == "ارجاع به مرکز توان‌بخشی"

    # the conclusion's services are ticked, each with the nearest centre chosen
    form = clinician.locator(FORM)
    assert ticked_services(form) == list(SERVICES)
    for service in SERVICES:
        centre = form.locator(f'select[name="centre.{service}"]')
        assert centre.evaluate("el => el.selectedIndex") == 0
        assert FA_NEAREST in centre.locator("option:checked").inner_text()
    assert form.locator('select[name="centre.prosthetics-orthotics"]').input_value() == "her-01"
    assert form.locator('select[name="centre.psychosocial-support"]').input_value() == "her-02"
    assert form.get_by_role("radio", name="فوری", exact=True).is_checked()
    consent = form.get_by_role("checkbox", name=FA_CONSENT, exact=True)
    assert not consent.is_checked()  # asked every time, never ticked in advance
    assert fits_width(clinician)
    shoot(clinician, "referral-fa-01-form")

    # sent without consent: refused, the error beside the checkbox and tied to it
    click_and_wait(clinician, form.get_by_role("button", name=FA_SEND))
    assert path_of(clinician) == form_path
    summary = clinician.locator(".error-summary")
    assert summary.get_by_role("heading").inner_text() == "لطفاً این موارد را درست کنید"
    (link,) = summary.get_by_role("link").all()
    assert link.inner_text() == f"{FA_CONSENT}: {FA_NO_CONSENT}"
    error = clinician.locator("#f-consent-error")
    assert error.inner_text() == FA_NO_CONSENT and error.is_visible()
    assert consent.get_attribute("aria-invalid") == "true"
    expect(consent).to_have_accessible_description(FA_NO_CONSENT)
    link.click()  # the summary's link moves focus to the checkbox itself
    assert clinician.evaluate("location.hash") == "#f-consent"
    assert clinician.evaluate("document.activeElement.id") == "f-consent"
    assert ticked_services(form) == list(SERVICES)  # what was chosen is kept
    shoot(clinician, "referral-fa-02-no-consent")

    # with consent: sent, the referral page with its number
    clinician.keyboard.press("Space")
    assert consent.is_checked()
    click_and_wait(clinician, form.get_by_role("button", name=FA_SEND))
    found = re.fullmatch(r"/referrals/([A-Za-z0-9.-]+)", path_of(clinician))
    assert found, clinician.url
    referral_path = found.group(0)
    assert clinician.get_by_role("status").inner_text() == (
        "ارجاع فرستاده شد. مرکز اکنون آن را در فهرست خود می‌بیند."
    )
    number = clinician.locator("h1 code").inner_text()
    printed = NUMBER.fullmatch(number)
    assert printed and is_valid(number), number
    assert int(printed.group(1)) == utcnow().year
    assert status_of(clinician) == FA_STATUS["requested"]
    details = clinician.locator("section[aria-labelledby=details-title]").inner_text()
    assert HER_01_FA in details and CLINICIAN in details and "پروتز و ارتز" in details

    # the centre finds it in its inbox and opens it
    centre = pages.open("tablet")
    sign_in(centre, centre_user.username)
    centre.goto("/referrals")
    assert centre.locator("h1").inner_text() == "Referrals to your centre"
    row = centre.locator("table.referrals tbody tr", has_text=number)
    assert row.count() == 1
    shown = row.inner_text()
    assert "Ahmad Karimi" in shown and "Prosthetics and orthotics" in shown
    assert "Urgent" in shown and "Requested" in shown
    assert fits_width(centre)
    shoot(centre, "referral-en-03-inbox")
    click_and_wait(centre, row.get_by_role("link", name=number))
    assert path_of(centre) == referral_path
    assert status_of(centre) == "Requested"
    assert fits_width(centre)
    shoot(centre, "referral-en-04-centre-step")

    # accepted, with an appointment: the clinician sees the step and who took it
    day = (utcnow() + timedelta(days=10)).date()
    record_step(
        centre,
        "Accept",
        **{"Appointment status": "Appointment scheduled", "Appointment date": day.isoformat()},
    )
    assert status_of(centre) == "Accepted"
    clinician.goto(referral_path)
    assert status_of(clinician) == FA_STATUS["accepted"]
    step = last_step(clinician)
    assert f"اکنون {FA_STATUS['accepted']}" in step and CENTRE_USER in step
    assert "(مرکز پذیرنده)" in step and "نوبت داده شد" in step
    assert show_date(day, "fa") in step  # the appointment, in the Solar Hijri calendar
    assert clinician.get_by_text("نوبت داده شد").first.is_visible()

    # started: the clinician sees it
    record_step(centre, "Start the service")
    clinician.reload()
    assert status_of(clinician) == FA_STATUS["in-progress"]
    assert f"اکنون {FA_STATUS['in-progress']}" in last_step(clinician)

    # completed with feedback: the clinician reads it, and there is nothing left to do
    record_step(centre, "Complete", **{"Feedback to the referrer": "Prosthesis fitted"})
    assert status_of(centre) == "Completed"
    clinician.reload()
    assert status_of(clinician) == FA_STATUS["completed"]
    feedback = clinician.locator("section[aria-labelledby=feedback-title]")
    assert "Prosthesis fitted" in feedback.inner_text()
    step = last_step(clinician)
    assert f"اکنون {FA_STATUS['completed']}" in step and CENTRE_USER in step
    assert clinician.locator("section[aria-labelledby=step-title]").count() == 0
    assert clinician.locator("input[name=version]").count() == 0
    assert fits_width(clinician)
    shoot(clinician, "referral-fa-05-completed")

    # the number as printed on the letter, typed in lower case, opens the ended referral
    centre.goto("/referrals")
    assert centre.locator("table.referrals tbody tr", has_text=number).count() == 0  # ended
    centre.get_by_role("searchbox", name="Referral number").fill(number.lower())
    click_and_wait(centre, centre.get_by_role("button", name="Open", exact=True))
    assert path_of(centre) == referral_path
    assert status_of(centre) == "Completed"

    assert_clean(pages.log(clinician), live_server, refused=(form_path,))
    assert_clean(pages.log(centre), live_server)


# -- screen readers ----------------------------------------------------------------------


def test_the_referral_form_with_a_screen_reader(
    pages: Pages, live_server: LiveServer, make_user: Callable[..., UserAccount]
) -> None:
    from playwright.sync_api import expect

    user = make_user("clinician", language="en")
    screened = screened_person(live_server, user)
    page = pages.open("tablet")
    sign_in(page, user.username)
    form_path = f"/screenings/{screened.response_id}/refer"
    page.goto(form_path)

    # every control has a name; checkboxes and radios the legend of their group too
    assert unnamed_controls(page) == []
    assert UNNAMED.findall(page.locator(FORM).aria_snapshot()) == []

    # sent without consent: the error is the checkbox's description, and it is invalid
    click_and_wait(page, page.get_by_role("button", name="Send the referral"))
    consent = page.get_by_role("checkbox", name="The person or guardian agrees", exact=True)
    assert consent.get_attribute("aria-invalid") == "true"
    described = (consent.get_attribute("aria-describedby") or "").split()
    assert "f-consent-error" in described
    message = "A referral is sent only with the person's consent"
    assert page.locator("#f-consent-error").inner_text() == message
    expect(consent).to_have_accessible_description(message)
    assert page.get_by_role("alert").get_by_role("link").get_attribute("href") == "#f-consent"
    assert unnamed_controls(page) == []
    assert_clean(pages.log(page), live_server, refused=(form_path,))

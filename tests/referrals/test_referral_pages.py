"""The referral pages from the outside: a clinician refers a screened person from the
screening (services, centres, priority, reasons, consent) and one transaction stores the
Consent and a ServiceRequest and Task per service; the centre's inbox and the referrer's
outbox list them; each side moves the referral through the page and sees the other's
steps on the timeline; what the workflow refuses is shown on the form (SQLite and
PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from referrals.pages_support import error_of, fetch, form_values, refer, referral_id, step
from screening.referrals.numbers import is_valid
from screening.store.clock import utcnow
from web.conftest import Browser, text_of

SignIn = Callable[..., tuple[Browser, Any]]
BASE = "http://localhost/fhir"


# ----------------------------------------------------------------- the referral form


def test_the_form_is_filled_in_from_the_screening(clinician: Browser, screening_id: str) -> None:
    page = text_of(clinician.get(f"/screenings/{screening_id}/refer"))
    data = form_values(page)
    assert data["service"] == ["prosthetics-orthotics", "physiotherapy", "psychosocial-support"]
    assert data["priority"] == "urgent"
    assert data["reason"] == [
        "limb-absence-no-prosthesis",
        "fall-risk",
        "slow-walking",
        "severe-pain",
        "conflict-survivor",
    ]
    assert "18.4 s" in data["reason_text"] and "Landmine" in data["reason_text"]
    # the nearest centre of the province that offers the service comes first
    assert data["centre.prosthetics-orthotics"] == "her-01"
    assert data["centre.psychosocial-support"] == "her-02"
    assert re.search(r'<option value="kab-01">Kabul Orthopaedic Centre', page)  # others after
    assert "consent" not in data  # consent is asked every time, never pre-ticked
    assert data["consent_by"] == "patient"


def test_a_referral_stores_one_transaction(
    web_app: Flask, clinician: Browser, screening_id: str, patient_id: str
) -> None:
    request_id = referral_id(refer(clinician, screening_id))
    requests = fetch(web_app, "ServiceRequest", ("subject", f"Patient/{patient_id}"))
    tasks = fetch(web_app, "Task", ("patient", f"Patient/{patient_id}"))
    consents = fetch(web_app, "Consent", ("patient", f"Patient/{patient_id}"))
    assert len(requests) == 3 and len(tasks) == 3 and len(consents) == 1
    assert request_id in {r["id"] for r in requests}
    numbers = [r["identifier"][0]["value"] for r in requests]
    assert all(is_valid(n) and n.startswith("R-") and "-HER-" in n for n in numbers)
    assert len(set(numbers)) == 3
    assert len({r["requisition"]["value"] for r in requests}) == 1  # written together
    consent = consents[0]
    assert {a["reference"]["reference"] for a in consent["provision"]["actor"]} == {
        "Organization/her-01",
        "Organization/her-02",
    }
    by_service = {r["code"]["coding"][0]["code"]: r for r in requests}
    assert by_service["psychosocial-support"]["performer"] == [{"reference": "Organization/her-02"}]
    for request in requests:
        assert request["status"] == "active" and request["priority"] == "urgent"
        assert request["requester"]["reference"].startswith("Practitioner/")
        supporting = {i["reference"] for i in request["supportingInfo"]}
        assert f"QuestionnaireResponse/{screening_id}" in supporting
        assert f"Consent/{consent['id']}" in supporting
        codes = [c["code"] for c in request["reasonCode"][0]["coding"]]
        assert "fall-risk" in codes and request["reasonCode"][0]["text"]
        evidence = {r["reference"].split("/")[0] for r in request["reasonReference"]}
        assert evidence == {"Observation", "Condition"}
    for task in tasks:
        assert task["status"] == "requested"
        assert task["owner"] == next(
            {"reference": r["performer"][0]["reference"]}
            for r in requests
            if f"ServiceRequest/{r['id']}" == task["focus"]["reference"]
        )


def test_without_consent_nothing_is_sent(
    web_app: Flask, clinician: Browser, screening_id: str, patient_id: str
) -> None:
    response = refer(clinician, screening_id, consent=None)
    assert response.status_code == 400
    assert (
        error_of(text_of(response), "consent")
        == "A referral is sent only with the person's consent"
    )
    assert fetch(web_app, "ServiceRequest", ("subject", f"Patient/{patient_id}")) == []
    assert fetch(web_app, "Consent", ("patient", f"Patient/{patient_id}")) == []


def test_form_errors_are_shown_next_to_their_fields(clinician: Browser, screening_id: str) -> None:
    wrong_centre = refer(clinician, screening_id, **{"centre.psychosocial-support": "her-01"})
    assert wrong_centre.status_code == 400
    page = text_of(wrong_centre)
    assert (
        error_of(page, "centre.psychosocial-support") == "Choose a centre that offers this service"
    )
    assert 'href="#f-centre.psychosocial-support"' in page  # in the summary, linked
    none = refer(clinician, screening_id, service=[], reason_text="", consent_by="guardian")
    page = text_of(none)
    assert error_of(page, "service") == "Choose at least one service"
    assert error_of(page, "reason_text") == "This field is required"
    hostile = refer(clinician, screening_id, reason_text="bad \x00 byte")
    assert hostile.status_code == 400 and error_of(text_of(hostile), "reason_text")


def test_only_clinicians_refer(signed_in: SignIn, screening_id: str) -> None:
    for role in ("screener", "centre-staff", "administrator", "auditor"):
        person, _ = signed_in(
            role, **({"organization": "her-01"} if role == "centre-staff" else {})
        )
        assert person.get(f"/screenings/{screening_id}/refer").status_code == 403
    clinician, _ = signed_in("clinician")
    assert clinician.get("/screenings/unknown-id/refer").status_code == 404
    assert "/refer" in text_of(clinician.get(f"/screenings/{screening_id}"))


# ------------------------------------------------------------------------ worklists


def test_each_centre_sees_its_own_inbox(
    signed_in: SignIn, clinician: Browser, screening_id: str
) -> None:
    request_id = referral_id(refer(clinician, screening_id))
    her01, _ = signed_in("centre-staff", organization="her-01")
    her02, _ = signed_in("centre-staff", organization="her-02")
    kab01, _ = signed_in("centre-staff", organization="kab-01")
    inbox = text_of(her01.get("/referrals"))
    assert "Referrals to your centre" in inbox and "Referrals: 2" in inbox
    assert "Prosthetics and orthotics" in inbox and "Psychosocial support" not in inbox
    assert "Referrals: 1" in text_of(her02.get("/referrals"))
    assert "Referrals: 0" in text_of(kab01.get("/referrals"))
    assert kab01.get(f"/referrals/{request_id}").status_code == 404
    outbox = text_of(clinician.get("/referrals"))
    assert "Referrals: 3" in outbox and "Herat Community Physiotherapy" in outbox


def test_overdue_referrals_come_first_and_can_be_filtered(
    signed_in: SignIn, clinician: Browser, screening_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    referral_id(refer(clinician, screening_id, service=["physiotherapy"], priority="routine"))
    referral_id(
        refer(clinician, screening_id, service=["prosthetics-orthotics"], priority="urgent")
    )
    her01, _ = signed_in("centre-staff", organization="her-01")
    assert "Overdue" not in text_of(her01.get("/referrals"))
    later = utcnow() + timedelta(hours=80)  # urgent waits 72 h at most, routine two weeks
    monkeypatch.setattr("screening.referrals.views.utcnow", lambda: later)
    page = text_of(her01.get("/referrals"))
    assert page.count('class="overdue"') == 1
    assert page.index("Prosthetics and orthotics") < page.index("Physiotherapy")
    assert "waiting 3 days" in page
    only = text_of(her01.get("/referrals?overdue=1"))
    assert "Referrals: 1" in only and "Prosthetics and orthotics" in only
    assert "Referrals: 1" in text_of(her01.get("/referrals?priority=routine"))
    assert "Referrals: 0" in text_of(her01.get("/referrals?status=ended"))
    assert "Referrals: 2" in text_of(her01.get("/referrals?status=nonsense&priority=x"))


def test_a_number_typed_as_printed_opens_the_referral(
    web_app: Flask, clinician: Browser, screening_id: str, patient_id: str
) -> None:
    request_id = referral_id(refer(clinician, screening_id, service=["physiotherapy"]))
    number = fetch(web_app, "ServiceRequest", ("_id", request_id))[0]["identifier"][0]["value"]
    typed = number.lower().translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    found = clinician.get("/referrals", query_string={"number": f" {typed} "})
    assert found.status_code == 302 and found.headers["Location"].endswith(
        f"/referrals/{request_id}"
    )
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)  # a misread check digit
    page = text_of(clinician.get("/referrals", query_string={"number": wrong}))
    assert f"No referral you can see has the number {wrong}" in page


def test_paging_of_a_long_worklist(
    web_app: Flask, signed_in: SignIn, clinician: Browser, screening_id: str
) -> None:
    for _ in range(13):
        referral_id(refer(clinician, screening_id))  # 3 referrals each: 39
    first = text_of(clinician.get("/referrals"))
    assert "Referrals: 39" in first and "Page 1 of 2" in first
    assert first.count("<tr") == 26  # a header and 25 rows
    second = text_of(clinician.get("/referrals?page=2"))
    assert second.count("<tr") == 15 and 'rel="prev"' in second
    assert "Page 2 of 2" in text_of(clinician.get("/referrals?page=99"))


# -------------------------------------------------------------------- the workflow


def test_centre_and_referrer_follow_the_referral_to_the_end(
    signed_in: SignIn, clinician: Browser, screening_id: str
) -> None:
    request_id = referral_id(refer(clinician, screening_id, service=["prosthetics-orthotics"]))
    centre, _ = signed_in("centre-staff", organization="her-01", full_name="Rahim Sadat")
    page = text_of(centre.get(f"/referrals/{request_id}"))
    assert "Requested" in page and "Dr Zahra Ahmadi" in page
    assert re.findall(r'name="status" value="([^"]+)"', page) == [
        "requested", "received", "accepted", "rejected", "failed"
    ]  # fmt: skip
    day = (utcnow() + timedelta(days=10)).date().isoformat()
    accepted = step(
        centre, request_id, status="accepted", business_status="scheduled", appointment=day
    )
    assert accepted.status_code == 303, text_of(accepted)[:2000]
    seen = text_of(clinician.get(f"/referrals/{request_id}"))
    assert "Now Accepted" in seen and "Rahim Sadat" in seen and "receiving centre" in seen
    assert "Appointment scheduled" in seen
    assert re.findall(r'name="status" value="([^"]+)"', seen) == ["cancelled"]
    assert step(centre, request_id, status="in-progress").status_code == 303
    assert "Now In progress" in text_of(clinician.get(f"/referrals/{request_id}"))
    done = step(
        centre, request_id, status="completed", business_status="attended",
        feedback="Transtibial prosthesis fitted; gait training done. Review in 6 months.",
    )  # fmt: skip
    assert done.status_code == 303
    final = text_of(clinician.get(f"/referrals/{request_id}"))
    assert "Now Completed" in final and "Transtibial prosthesis fitted" in final
    assert 'name="version"' not in final  # nothing more to do
    assert final.count("<li>\n      <p><time") >= 4 or final.count("<time") >= 4


def test_the_workflow_refuses_through_the_page(
    signed_in: SignIn, clinician: Browser, screening_id: str
) -> None:
    request_id = referral_id(refer(clinician, screening_id, service=["physiotherapy"]))
    centre, _ = signed_in("centre-staff", organization="her-01")
    no_reason = step(centre, request_id, status="rejected")
    assert no_reason.status_code == 400
    assert error_of(text_of(no_reason), "reason") == "Say why (needed for this status)"
    # the referring side may not accept: the door refuses and the page says why
    not_theirs = step(clinician, request_id, status="accepted")
    assert not_theirs.status_code == 409
    assert "Only the receiving centre" in (error_of(text_of(not_theirs), "status") or "")
    skipped = step(centre, request_id, status="completed")
    assert skipped.status_code == 409
    assert "cannot go from 'requested' to 'completed'" in (
        error_of(text_of(skipped), "status") or ""
    )
    # a page opened before someone else's step is not written over it
    page = text_of(centre.get(f"/referrals/{request_id}"))
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert step(centre, request_id, status="accepted").status_code == 303
    stale = centre.post(
        f"/referrals/{request_id}/step",
        {"version": version, "status": "rejected", "reason": "full"},
    )
    assert stale.status_code == 409 and "Someone else updated this referral" in text_of(stale)
    withdrawn = step(clinician, request_id, status="cancelled", reason="Moved to Kabul")
    assert withdrawn.status_code == 303
    assert "Moved to Kabul" in text_of(centre.get(f"/referrals/{request_id}"))


def test_pages_in_persian(signed_in: SignIn, screening_id: str) -> None:
    person, _ = signed_in("clinician", language="fa")
    page = text_of(person.get(f"/screenings/{screening_id}/refer"))
    assert 'lang="fa" dir="rtl"' in page and "ارجاع به مرکز توان‌بخشی" in page
    assert "مرکز توان‌بخشی فزیکی هرات" in page  # the centre's Persian name
    request_id = referral_id(refer(person, screening_id))
    shown = text_of(person.get(f"/referrals/{request_id}"))
    assert "درخواست‌شده" in shown and "روند" in shown
    assert "ارجاع‌ها: ۳" in text_of(person.get("/referrals"))

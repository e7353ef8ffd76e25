"""What the referral page tests share: three centres loaded through the FHIR door, a
person screened through the form, and a browser's way of filling in the referral form
and the step form."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.principal import operator
from screening.referrals.directory import CentreValues, Directory
from screenings.test_screening_pages import CONCLUSION, answers, post
from web.conftest import Browser, text_of

SignIn = Callable[..., tuple[Browser, Any]]
BASE = "http://localhost/fhir"

CENTRES = (
    CentreValues(
        code="HER-01",
        name_en="Herat Physical Rehabilitation Centre",
        name_fa="مرکز توان‌بخشی فزیکی هرات",
        province="AF-HER",
        city="Herat",
        phone="+93 40 000 0100",
        services=("prosthetics-orthotics", "physiotherapy", "wheelchair-service"),
        days=("sat", "sun", "mon", "tue", "wed"),
        latitude=Decimal("34.35"),
        longitude=Decimal("62.20"),
    ),
    CentreValues(
        code="HER-02",
        name_en="Herat Community Physiotherapy",
        name_fa="فزیوتراپی اجتماعی هرات",
        province="AF-HER",
        city="Guzara",
        services=("physiotherapy", "psychosocial-support"),
        days=("sat", "sun"),
        latitude=Decimal("34.22"),
        longitude=Decimal("62.22"),
    ),
    CentreValues(
        code="KAB-01",
        name_en="Kabul Orthopaedic Centre",
        name_fa="مرکز ارتوپیدی کابل",
        province="AF-KAB",
        city="Kabul",
        services=("prosthetics-orthotics", "physiotherapy", "psychosocial-support"),
        days=("sat", "sun", "mon"),
        latitude=Decimal("34.53"),
        longitude=Decimal("69.17"),
    ),
)


def load_centres(app: Flask) -> dict[str, str]:
    """Store the centres; their ids by code."""
    state = app.extensions["screening"]
    send = partial(perform, state, operator("test"), base_url="http://localhost/fhir")
    directory = Directory(send)
    return {values.code: directory.create(values) for values in CENTRES}


def fetch(app: Flask, res_type: str, *pairs: tuple[str, str]) -> list[dict[str, Any]]:
    """Resources of a type as the command line finds them (matches only)."""
    req = FhirRequest("GET", res_type, query=[*pairs, ("_count", "200")])
    body = perform(app.extensions["screening"], operator("test"), req, BASE).body or {}
    return [e["resource"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]


@pytest.fixture
def centres(web_app: Flask) -> dict[str, str]:
    """HER-01 (P&O, physiotherapy, wheelchair), HER-02 (physiotherapy, psychosocial) and
    KAB-01 in Kabul."""
    return load_centres(web_app)


@pytest.fixture
def patient_id(web_app: Flask) -> str:
    """The IG's example person (Herat, born 1986)."""
    with open("fhir_profiles/examples/Patient-example-ahmad-karimi.json", encoding="utf-8") as f:
        patient = json.load(f)
    patient.pop("id")
    req = FhirRequest("POST", "Patient", body=patient)
    return str(
        (perform(web_app.extensions["screening"], operator("t"), req, BASE).body or {})["id"]
    )


@pytest.fixture
def clinician(signed_in: SignIn) -> Browser:
    return signed_in("clinician", full_name="Dr Zahra Ahmadi")[0]


@pytest.fixture
def screening_id(clinician: Browser, patient_id: str, centres: dict[str, str]) -> str:
    """A screening saved through the form: amputation, fall risk, slow walking and pain
    after a landmine; the conclusion asks for P&O, physiotherapy and psychosocial support,
    urgent."""
    response = post(clinician, patient_id, answers(**CONCLUSION), "save")
    assert response.status_code == 303, text_of(response)[:2000]
    return str(response.headers["Location"]).split("/screenings/")[1].split("?")[0]


def form_values(page: str) -> dict[str, Any]:
    """The values a form is filled in with (checked boxes, radios, selects, text areas)."""
    data: dict[str, Any] = {}
    for kind, name, value in re.findall(
        r'<input type="(checkbox|radio)" id="[^"]*" name="([^"]+)" value="([^"]+)"\s*checked', page
    ):
        if kind == "checkbox":
            data.setdefault(name, []).append(value)
        else:
            data[name] = value
    for name, body in re.findall(
        r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', page, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        if chosen:
            data[name] = chosen.group(1)
    for name, text in re.findall(
        r'<textarea id="[^"]*" name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S
    ):
        data[name] = html.unescape(text)
    return data


def error_of(page: str, name: str) -> str | None:
    """The error shown next to a field, or None."""
    found = re.search(rf'id="f-{re.escape(name)}-error">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


def refer(person: Browser, screening_id: str, **changes: Any) -> TestResponse:
    """Open the referral form, give consent, apply `changes` and send it."""
    data = form_values(text_of(person.get(f"/screenings/{screening_id}/refer")))
    data["consent"] = "yes"
    data.update(changes)
    return person.post(
        f"/screenings/{screening_id}/refer", {k: v for k, v in data.items() if v is not None}
    )


def referral_id(response: TestResponse) -> str:
    assert response.status_code == 303, text_of(response)[:3000]
    return str(response.headers["Location"]).split("/referrals/")[1].split("?")[0]


def step(person: Browser, request_id: str, **fields: str) -> TestResponse:
    """Record a step on the referral page, over the version the page shows."""
    page = text_of(person.get(f"/referrals/{request_id}"))
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version, "the page offers no step form"
    return person.post(f"/referrals/{request_id}/step", {"version": version.group(1), **fields})

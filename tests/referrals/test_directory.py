"""The centre directory: resources that validate against the IG's profiles, the list and
its filters, suggestions (province first, then nearest), and the pages by role."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from screening.api.door import perform
from screening.auth.principal import operator
from screening.fhir.outcome import Forbidden
from screening.referrals.directory import (
    Centre,
    CentreValues,
    Directory,
    build_location,
    build_organization,
    build_service,
    suggest_centres,
)
from web.conftest import Browser, text_of

SignIn = Callable[..., tuple[Browser, Any]]
EXAMPLES = Path(__file__).parents[2] / "fhir_profiles" / "examples"
HERAT = CentreValues(
    code="HER-01",
    name_en="Herat Physical Rehabilitation Centre",
    name_fa="مرکز توانبخشی فزیکی هرات",
    province="AF-HER",
    district="Herat",
    city="Herat",
    line="Airport Road",
    phone="+93 40 000 0100",
    services=("prosthetics-orthotics", "physiotherapy"),
    days=("sat", "sun", "mon", "tue", "wed"),
    latitude=Decimal("34.35"),
    longitude=Decimal("62.2"),
)


def directory_of(app: Flask) -> Directory:
    """The directory as the operator at the command line sees it (may write)."""
    state = app.extensions["screening"]
    return Directory(partial(perform, state, operator("tester"), base_url="http://t/fhir"))


def centre(
    code: str, province: str, services: tuple[str, ...], at: tuple[str, str] | None, name: str = ""
) -> Centre:
    """An unstored centre for the suggestion rules."""
    lat, lon = (Decimal(at[0]), Decimal(at[1])) if at else (None, None)
    values = CentreValues(
        code,
        name or code,
        "",
        province,
        services=services,
        days=("sat",),
        latitude=lat,
        longitude=lon,
    )
    return Centre(code.lower(), 1, values, services, ("sat",))


# ------------------------------------------------------------------ resources


def test_built_resources_match_the_ig_examples() -> None:
    for built, example in (
        (build_organization(HERAT), "Organization-example-herat-centre.json"),
        (build_location(HERAT), "Location-example-herat-centre.json"),
        (
            build_service(HERAT, "prosthetics-orthotics", True),
            "HealthcareService-example-herat-prosthetics.json",
        ),
    ):
        expected = json.loads((EXAMPLES / example).read_text(encoding="utf-8"))
        for key in ("id", "text"):
            expected.pop(key)
        built = json.loads(json.dumps(built, default=float))
        built.pop("id")
        ref_fixed = (
            json.dumps(expected)
            .replace("example-herat-centre", "her-01")
            .replace("HRT-01", "HER-01")
        )
        expected = json.loads(ref_fixed)
        if example.startswith("HealthcareService"):
            expected["availableTime"][0].pop("availableStartTime")
            expected["availableTime"][0].pop("availableEndTime")
        assert built == expected, example


def test_a_centre_is_stored_validated_and_read_back(app: Flask) -> None:
    directory = directory_of(app)
    assert directory.create(HERAT) == "her-01"
    stored = directory.read("her-01")
    assert stored.values == HERAT
    assert stored.services == ("prosthetics-orthotics", "physiotherapy")
    for path in (
        "Organization/her-01",
        "Location/her-01",
        "HealthcareService/her-01-physiotherapy",
    ):
        state = app.extensions["screening"]
        from screening.api.messages import FhirRequest

        body = (
            perform(
                state,
                operator("t"),
                FhirRequest(
                    "POST",
                    f"{path.split('/')[0]}/$validate",
                    body=perform(
                        state, operator("t"), FhirRequest("GET", path), "http://t/fhir"
                    ).body,
                ),
                "http://t/fhir",
            ).body
            or {}
        )
        errors = [i for i in body.get("issue", []) if i["severity"] in ("error", "fatal")]
        assert not errors, (path, errors)


def test_a_centre_without_position_is_refused_by_the_profile(app: Flask) -> None:
    from screening.fhir.outcome import Unprocessable

    no_position = CentreValues(**{**HERAT.__dict__, "latitude": None, "longitude": None})
    with pytest.raises(Unprocessable):
        directory_of(app).create(no_position)
    assert directory_of(app).centres() == []


def test_edit_retires_a_dropped_service_and_refuses_a_stale_version(app: Flask) -> None:
    from screening.referrals.directory import EditConflict

    directory = directory_of(app)
    directory.create(HERAT)
    changed = CentreValues(
        **{**HERAT.__dict__, "services": ("physiotherapy", "wheelchair-service")}
    )
    directory.update("her-01", 1, changed)
    stored = directory.read("her-01")
    assert stored.services == ("physiotherapy", "wheelchair-service")
    assert stored.version == 2
    with pytest.raises(EditConflict):
        directory.update("her-01", 1, HERAT)


def test_list_filters_by_province_and_service(app: Flask) -> None:
    directory = directory_of(app)
    directory.create(HERAT)
    kabul = CentreValues(
        **{
            **HERAT.__dict__,
            "code": "KAB-01",
            "name_en": "Kabul Centre",
            "province": "AF-KAB",
            "services": ("physiotherapy",),
        }
    )
    directory.create(kabul)
    assert [c.fhir_id for c in directory.centres()] == ["her-01", "kab-01"]
    assert [c.fhir_id for c in directory.centres(province="AF-KAB")] == ["kab-01"]
    assert [c.fhir_id for c in directory.centres(service="prosthetics-orthotics")] == ["her-01"]
    assert [c.fhir_id for c in directory.centres("AF-KAB", "prosthetics-orthotics")] == []


def test_only_administrators_write_the_directory(app: Flask, make_user: Callable[..., Any]) -> None:
    from screening.auth.service import user_principal

    state = app.extensions["screening"]
    clinician = user_principal(make_user("clinician"), None)
    with pytest.raises(Forbidden):
        Directory(partial(perform, state, clinician, base_url="http://t/fhir")).create(HERAT)
    admin = user_principal(make_user("administrator"), None)
    assert (
        Directory(partial(perform, state, admin, base_url="http://t/fhir")).create(HERAT)
        == "her-01"
    )


# ---------------------------------------------------------------- suggestions


def test_suggestions_put_the_province_first_then_the_nearest() -> None:
    pt = ("physiotherapy",)
    centres = [
        centre("FAR-01", "AF-FRA", pt, ("32.37", "62.11")),  # Farah: 220 km from Herat
        centre("KAB-01", "AF-KAB", pt, ("34.53", "69.17")),  # Kabul: far
        centre("BDG-01", "AF-BDG", pt, ("34.98", "63.13")),  # Badghis: 110 km
        centre("HER-02", "AF-HER", pt, ("34.41", "62.28"), "B unit"),
        centre("HER-01", "AF-HER", ("wheelchair-service",), ("34.35", "62.20")),  # no PT
        centre("HER-03", "AF-HER", pt, None, "A unit"),  # no position: after
        centre("GHO-01", "AF-GHO", pt, None),
    ]
    order = [c.values.code for c in suggest_centres(centres, "AF-HER", "physiotherapy")]
    assert order == ["HER-02", "HER-03", "BDG-01", "FAR-01", "KAB-01", "GHO-01"]


def test_suggestions_without_positions_go_by_name() -> None:
    ps = ("psychosocial-support",)
    centres = [
        centre(c, p, ps, None, n)
        for c, p, n in (
            ("X-1", "AF-KAB", "Zarghun"),
            ("X-2", "AF-BAL", "Amu"),
            ("X-3", "AF-KAB", "Bagh"),
        )
    ]
    order = [c.values.code for c in suggest_centres(centres, "AF-KAB", "psychosocial-support")]
    assert order == ["X-3", "X-1", "X-2"]


def test_suggestions_from_a_given_point(app: Flask) -> None:
    directory = directory_of(app)
    directory.create(HERAT)
    kabul = CentreValues(
        **{
            **HERAT.__dict__,
            "code": "KAB-01",
            "name_en": "Kabul Centre",
            "province": "AF-KAB",
            "latitude": Decimal("34.53"),
            "longitude": Decimal("69.17"),
        }
    )
    directory.create(kabul)
    near_kabul = (34.4, 69.0)
    assert [c.fhir_id for c in directory.suggest("AF-GHO", "physiotherapy", near_kabul)] == [
        "kab-01",
        "her-01",
    ]
    assert [c.fhir_id for c in directory.suggest("AF-HER", "physiotherapy")] == ["her-01", "kab-01"]


# ---------------------------------------------------------------------- pages


def form(**changes: Any) -> dict[str, Any]:
    """A valid create form."""
    data: dict[str, Any] = {
        "code": "her-01",
        "name_en": HERAT.name_en,
        "name_fa": HERAT.name_fa,
        "province": "AF-HER",
        "district": "Herat",
        "city": "Herat",
        "line": "Airport Road",
        "phone": "+93 40 000 0100",
        "services": ["prosthetics-orthotics", "physiotherapy"],
        "days": ["sat", "sun", "mon", "tue", "wed"],
        "latitude": "۳۴٫۳۵",
        "longitude": "62.2",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


@pytest.mark.parametrize("role", ["screener", "clinician", "centre-staff", "auditor"])
def test_others_see_the_list_but_may_not_change_it(
    signed_in: SignIn, app: Flask, role: str
) -> None:
    directory_of(app).create(HERAT)
    person, _ = signed_in(role, language="en")
    page = person.get("/directory")
    assert page.status_code == 200
    assert "Herat Physical Rehabilitation Centre" in text_of(page)
    assert "/directory/new" not in text_of(page) and "/edit" not in text_of(page)
    assert person.get("/directory/new").status_code == 403
    assert person.get("/directory/her-01/edit").status_code == 403
    assert person.post("/directory/new", form(code="KAB-09")).status_code == 403
    assert person.post("/directory/her-01/edit", form(version="1")).status_code == 403


def test_strangers_are_sent_to_sign_in(browser: Callable[[], Browser]) -> None:
    response = browser().get("/directory")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_administrator_adds_filters_and_edits_a_centre(signed_in: SignIn, app: Flask) -> None:
    admin, _ = signed_in("administrator", language="en")
    assert "/directory" in text_of(admin.get("/"))
    admin.get("/directory/new")
    response = admin.post("/directory/new", form())
    assert response.status_code == 303, text_of(response)
    stored = directory_of(app).read("her-01")
    assert stored.values == HERAT
    listing = text_of(admin.get("/directory?province=AF-HER&service=physiotherapy"))
    assert "HER-01" in listing
    assert "HER-01" not in text_of(admin.get("/directory?province=AF-KAB"))
    assert "HER-01" not in text_of(admin.get("/directory?service=wheelchair-service"))

    edit = admin.get("/directory/her-01/edit")
    assert 'name="version" value="1"' in text_of(edit)
    response = admin.post(
        "/directory/her-01/edit", form(version="1", services=["wheelchair-service"])
    )
    assert response.status_code == 303, text_of(response)
    assert directory_of(app).read("her-01").services == ("wheelchair-service",)
    stale = admin.post("/directory/her-01/edit", form(version="1"))
    assert stale.status_code == 409
    assert "Someone else changed this centre" in text_of(stale)


def test_form_errors_are_shown_next_to_fields_and_values_kept(
    signed_in: SignIn, app: Flask
) -> None:
    admin, _ = signed_in("administrator", language="en")
    admin.get("/directory/new")
    response = admin.post("/directory/new", form(code="h e r/1", latitude="north", services=""))
    page = text_of(response)
    assert response.status_code == 400
    assert 'id="f-code-error"' in page and 'id="f-latitude-error"' in page
    assert 'id="f-services-error"' in page and 'id="f-longitude-error"' not in page
    assert 'value="Herat Physical Rehabilitation Centre"' in page and 'value="north"' in page
    assert directory_of(app).centres() == []
    directory_of(app).create(HERAT)
    taken = admin.post("/directory/new", form())
    assert taken.status_code == 409 and "Another centre has this code." in text_of(taken)


def test_the_persian_list(signed_in: SignIn, app: Flask) -> None:
    directory_of(app).create(HERAT)
    person, _ = signed_in("clinician", language="fa")
    page = text_of(person.get("/directory?service=physiotherapy"))
    assert "مرکز توانبخشی فزیکی هرات" in page and "فیزیوتراپی" in page and 'dir="rtl"' in page

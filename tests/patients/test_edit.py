"""Editing a person: the form filled in from the stored version, optimistic locking on
that version, unique case codes, and nothing the form does not show is lost."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from conftest import Fhir
from patients.conftest import Browser, check_html, register_form, text_of

SignIn = Callable[..., tuple[Browser, Any]]
Register = Callable[..., tuple[Browser, str]]


def form_of(body: str) -> dict[str, str]:
    """The values of the text inputs, checked radios and selected options of a form."""
    found = dict(
        re.findall(
            r'<input id="f-[^"]*" name="([^"]*)" type="(?:text|tel)"[^>]* value="([^"]*)"', body
        )
    )
    found |= dict(re.findall(r'name="(\w+)" value="([^"]*)" checked', body))
    for match in re.finditer(r'<select id="f-\w+" name="(\w+)"(.*?)</select>', body, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', match.group(2))
        if chosen:
            found[match.group(1)] = chosen.group(1)
    version = re.search(r'name="version" value="(\d+)"', body)
    if version:
        found["version"] = version.group(1)
    return found


def test_the_edit_form_shows_the_stored_values_in_the_page_calendar(
    signed_in: SignIn, register: Register
) -> None:
    _, patient_id = register()
    person, _ = signed_in("clinician", language="fa")
    page = person.get(f"/patients/{patient_id}/edit")
    assert page.status_code == 200
    body = text_of(page)
    check_html(body, "fa")
    values = form_of(body)
    assert values["birth_date"] == "۱۳۶۶/۰۵/۲۰"
    assert values["given_fa"] == "احمد" and values["family_latn"] == "Karimi"
    assert values["sex"] == "male" and values["province"] == "AF-HER"
    assert values["version"] == "1"


def test_an_edit_is_stored_as_a_new_version(
    signed_in: SignIn, register: Register, api: Fhir
) -> None:
    person, patient_id = register()
    values = form_of(text_of(person.get(f"/patients/{patient_id}/edit")))
    values.update(village="Shindand", birth_date="", estimated_age="40")
    response = person.post(f"/patients/{patient_id}/edit", values)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/patients/{patient_id}?done=updated"
    _, stored, _ = api.get(f"Patient/{patient_id}")
    assert stored["meta"]["versionId"] == "2"
    assert stored["address"][0]["city"] == "Shindand"
    assert stored["extension"][0]["valueAge"]["value"] == 40
    assert "The changes were saved." in text_of(person.get(response.headers["Location"]))


def test_an_edit_keeps_what_the_form_does_not_show(
    signed_in: SignIn, register: Register, api: Fhir
) -> None:
    person, patient_id = register()
    _, stored, _ = api.get(f"Patient/{patient_id}")
    stored["identifier"].append({"system": "urn:oid:1.2.3", "value": "other-system-id"})
    stored["telecom"].append({"system": "email", "value": "someone@example.org"})
    status, _, _ = api.put(f"Patient/{patient_id}", stored)
    assert status == 200
    values = form_of(text_of(person.get(f"/patients/{patient_id}/edit")))
    assert person.post(f"/patients/{patient_id}/edit", {**values, "phone": ""}).status_code == 303
    _, after, _ = api.get(f"Patient/{patient_id}")
    assert {"system": "urn:oid:1.2.3", "value": "other-system-id"} in after["identifier"]
    assert after["telecom"] == [{"system": "email", "value": "someone@example.org"}]


def test_a_conflicting_edit_is_refused_with_a_clear_message(
    signed_in: SignIn, register: Register, api: Fhir
) -> None:
    person, patient_id = register()
    values = form_of(text_of(person.get(f"/patients/{patient_id}/edit")))
    _, stored, _ = api.get(f"Patient/{patient_id}")
    stored["address"][0]["city"] = "Changed elsewhere"
    assert api.put(f"Patient/{patient_id}", stored)[0] == 200
    response = person.post(f"/patients/{patient_id}/edit", {**values, "village": "Mine"})
    assert response.status_code == 409
    body = text_of(response)
    check_html(body, "en")
    assert "Someone else changed this patient" in body and 'value="Mine"' in body
    assert f'href="/patients/{patient_id}/edit"' in body
    _, after, _ = api.get(f"Patient/{patient_id}")
    assert after["address"][0]["city"] == "Changed elsewhere" and after["meta"]["versionId"] == "2"


def test_edit_errors_keep_the_values_and_store_nothing(
    signed_in: SignIn, register: Register, api: Fhir
) -> None:
    person, patient_id = register()
    values = form_of(text_of(person.get(f"/patients/{patient_id}/edit")))
    response = person.post(f"/patients/{patient_id}/edit", {**values, "sex": "", "village": "X"})
    assert response.status_code == 400
    body = text_of(response)
    assert 'id="f-sex-error"' in body and 'value="X"' in body
    assert 'name="version" value="1"' in body
    assert api.get(f"Patient/{patient_id}")[1]["meta"]["versionId"] == "1"


def test_another_persons_case_code_is_refused(
    signed_in: SignIn, register: Register, api: Fhir
) -> None:
    person, first = register()
    _, second = register(
        person,
        case_code="HER-0001-AA",
        given_latn="B",
        family_latn="C",
        given_fa="",
        family_fa="",
        birth_date="1950-01-01",
    )
    values = form_of(text_of(person.get(f"/patients/{second}/edit")))
    response = person.post(f"/patients/{second}/edit", {**values, "case_code": "HER-0427-KX"})
    assert response.status_code == 409
    assert 'id="f-case_code-error"' in text_of(response)
    assert api.get(f"Patient/{second}")[1]["identifier"][0]["value"] == "HER-0001-AA"
    same = person.post(
        f"/patients/{first}/edit", form_of(text_of(person.get(f"/patients/{first}/edit")))
    )
    assert same.status_code == 303  # keeping one's own code is fine


def test_an_edit_without_the_version_is_refused(signed_in: SignIn, register: Register) -> None:
    person, patient_id = register()
    response = person.post(f"/patients/{patient_id}/edit", register_form())
    assert response.status_code == 400


def test_an_emptied_case_code_stays_as_it_was(
    signed_in: SignIn, register: Register, api: Fhir
) -> None:
    person, patient_id = register()
    values = form_of(text_of(person.get(f"/patients/{patient_id}/edit")))
    del values["case_code"]
    assert person.post(f"/patients/{patient_id}/edit", values).status_code == 303
    _, after, _ = api.get(f"Patient/{patient_id}")
    assert after["identifier"][0]["value"] == "HER-0427-KX" and after["meta"]["versionId"] == "2"


def test_a_person_sent_by_another_system_can_be_edited(signed_in: SignIn, api: Fhir) -> None:
    created = api.create(
        {"resourceType": "Patient", "name": [{"family": "Noori"}], "gender": "female"}
    )
    person, _ = signed_in("screener")
    page = text_of(person.get(f"/patients/{created['id']}"))
    assert "<bdi>Noori</bdi>" in page
    values = form_of(text_of(person.get(f"/patients/{created['id']}/edit")))
    values.update(province="AF-BAL", estimated_age="30", family_latn="Noori")
    assert person.post(f"/patients/{created['id']}/edit", values).status_code == 303
    _, after, _ = api.get(f"Patient/{created['id']}")
    assert after["identifier"][0]["value"].startswith("BAL-")
    assert {"family": "Noori"} in after["name"] and after["address"][0]["state"] == "Balkh"

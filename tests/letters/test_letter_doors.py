"""The letter's doors: the Print button and `/referrals/<id>/letter.pdf`, the FHIR
`$letter` operation, `screening letter` on the command line, and taking a referral over
from a letter (the upload page and `screening letter import`), with their refusals."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from flask import Flask
from sqlalchemy import text

from conftest import SEEDED_ROWS, api_token
from referrals.pages_support import fetch, load_centres, refer, referral_id, step
from screening.auth.principal import operator
from screening.cli import main
from screening.fhir.outcome import Forbidden, Unprocessable
from screening.letters.importing import bundle_from_pdf, take_over
from web.conftest import Browser, operation_of, text_of

LIMIT = 5 * 1024 * 1024


@pytest.fixture
def request_id(clinician: Browser, screening_id: str) -> str:
    """The first referral (P&O at HER-01) of the screening."""
    return referral_id(refer(clinician, screening_id))


def pdf_of(person: Browser, request_id: str, lang: str = "en") -> bytes:
    response = person.client.get(f"/referrals/{request_id}/letter.pdf?lang={lang}")
    assert response.status_code == 200, text_of(response)[:500]
    return bytes(response.get_data())


def embedded(pdf: bytes) -> dict[str, Any]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        (spec,) = doc.attachments.values()
        data: dict[str, Any] = json.loads(spec.get_file().read_bytes())
    return data


def with_bundle(pdf: bytes, bundle: dict[str, Any]) -> bytes:
    """The PDF with its embedded file replaced (a forged or broken letter)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        (name,) = doc.attachments.keys()
        spec = pikepdf.AttachedFileSpec(
            doc, json.dumps(bundle).encode(), mime_type="application/json"
        )
        spec.obj["/AFRelationship"] = pikepdf.Name("/Data")
        doc.attachments[name] = spec
        out = io.BytesIO()
        doc.save(out)
    return out.getvalue()


def without_bundle(pdf: bytes) -> bytes:
    """The PDF with its embedded file removed."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for name in list(doc.attachments.keys()):
            del doc.attachments[name]
        out = io.BytesIO()
        doc.save(out)
    return out.getvalue()


def forget_everything(app: Flask) -> None:
    """Empty the database but the IG, as on another installation; the centres come back
    (a centre's id follows from its code)."""
    state = app.extensions["screening"]
    with state.engine.begin() as conn:
        conn.execute(text("DELETE FROM search_snapshot"))
        conn.execute(text("DELETE FROM access_grant"))
        conn.execute(text("DELETE FROM resource WHERE rid > :n"), {"n": SEEDED_ROWS})
        conn.execute(text("DELETE FROM resource_version WHERE rid > :n"), {"n": SEEDED_ROWS})
    load_centres(app)


def upload(person: Browser, data: bytes, name: str = "letter.pdf") -> Any:
    person.get("/letters/import")
    return person.client.post(
        "/letters/import",
        data={"csrf_token": person.csrf, "letter": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


# ------------------------------------------------------------------------ the pages


def test_the_referral_page_offers_the_letter_in_both_languages(
    clinician: Browser, request_id: str
) -> None:
    page = text_of(clinician.get(f"/referrals/{request_id}"))
    assert f'action="/referrals/{request_id}/letter.pdf"' in page
    assert '<option value="fa">' in page and 'name="lang"' in page
    response = clinician.client.get(f"/referrals/{request_id}/letter.pdf?lang=fa")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert "-fa.pdf" in response.headers["Content-Disposition"]
    assert response.get_data().startswith(b"%PDF-1.7")


def test_the_letter_defaults_to_the_users_language(
    signed_in: Any, screening_id: str, clinician: Browser
) -> None:
    request_id = referral_id(refer(clinician, screening_id))
    persian, _ = signed_in("clinician", language="fa")
    response = persian.client.get(f"/referrals/{request_id}/letter.pdf")
    assert "-fa.pdf" in response.headers["Content-Disposition"]


def test_who_may_print(
    signed_in: Any, request_id: str, centres: dict[str, str], clinician: Browser
) -> None:
    assert clinician.get(f"/referrals/{request_id}/letter.pdf?lang=xx").status_code == 404
    assert clinician.get("/referrals/not..an..id/letter.pdf").status_code == 404
    assert clinician.get("/referrals/unknown-id/letter.pdf").status_code == 404
    receiving, _ = signed_in("centre-staff", organization=centres["HER-01"])
    assert receiving.client.get(f"/referrals/{request_id}/letter.pdf").status_code == 200
    other, _ = signed_in("centre-staff", organization=centres["KAB-01"])
    assert other.get(f"/referrals/{request_id}/letter.pdf").status_code == 404
    for role in ("screener", "auditor", "administrator"):
        person, _ = signed_in(role)
        assert person.get(f"/referrals/{request_id}/letter.pdf").status_code == 403


def test_every_print_is_audited_with_the_versions(
    clinician: Browser, request_id: str, audit_events: Any
) -> None:
    pdf_of(clinician, request_id)
    prints = [e for e in audit_events(("action", "E")) if operation_of(e) == "letter"]
    assert len(prints) == 1
    whats = [str(e.get("what", {}).get("reference")) for e in prints[0]["entity"]]
    assert f"ServiceRequest/{request_id}/_history/1" in whats
    assert any(w.startswith("Patient/") for w in whats)
    assert prints[0]["agent"][0]["altId"].startswith("clinician")


# ---------------------------------------------------------------------- the FHIR door


def test_the_letter_operation_answers_a_binary_or_the_pdf(
    app: Flask, clinician: Browser, request_id: str
) -> None:
    token = api_token(app, "system/*.read")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    response = client.get(f"/fhir/ServiceRequest/{request_id}/$letter?lang=fa", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    binary = response.get_json()
    assert binary["resourceType"] == "Binary" and binary["contentType"] == "application/pdf"
    pdf = base64.b64decode(binary["data"])
    assert pdf == pdf_of(clinician, request_id, "fa")  # the same versions, the same bytes
    raw = client.get(
        f"/fhir/ServiceRequest/{request_id}/$letter",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/pdf"},
    )
    assert raw.mimetype == "application/pdf" and raw.get_data().startswith(b"%PDF")
    statement = client.get("/fhir/metadata").get_json()
    (service_request,) = [
        r for r in statement["rest"][0]["resource"] if r["type"] == "ServiceRequest"
    ]
    assert "letter" in [o["name"] for o in service_request["operation"]]


def test_the_letter_operation_refuses_clearly(app: Flask, request_id: str) -> None:
    client = app.test_client()
    no_token = client.get(f"/fhir/ServiceRequest/{request_id}/$letter")
    assert no_token.status_code == 401
    token = api_token(app, "system/Patient.read")
    headers = {"Authorization": f"Bearer {token}"}
    refused = client.get(f"/fhir/ServiceRequest/{request_id}/$letter", headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["resourceType"] == "OperationOutcome"
    reader = {"Authorization": f"Bearer {api_token(app, 'system/*.read')}"}
    unknown = client.get("/fhir/ServiceRequest/nope/$letter", headers=reader)
    assert unknown.status_code == 404 and unknown.get_json()["resourceType"] == "OperationOutcome"
    wrong_lang = client.get(f"/fhir/ServiceRequest/{request_id}/$letter?lang=de", headers=reader)
    assert wrong_lang.status_code == 400


# ------------------------------------------------------------------- the command line


def test_the_command_line_prints_and_imports(
    app: Flask, request_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    state = app.extensions["screening"]
    monkeypatch.setenv("SCREENING_DATABASE_URL", state.config.database_url)
    monkeypatch.setenv("SCREENING_BASE_URL", "http://testserver/fhir")
    out = tmp_path / "letter.pdf"
    assert main(["letter", request_id, "--lang", "fa", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF")
    assert main(["letter", "no-such-referral", "-o", str(tmp_path / "x.pdf")]) == 2
    assert "is not known" in capsys.readouterr().err
    assert main(["letter", "import", str(out)]) == 0
    assert "already here" in capsys.readouterr().out
    forget_everything(app)
    assert main(["letter", "import", str(out)]) == 0
    assert "stored" in capsys.readouterr().out
    assert [r["id"] for r in fetch(app, "ServiceRequest")] == [request_id]
    not_pdf = tmp_path / "notes.txt"
    not_pdf.write_text("hello")
    assert main(["letter", "import", str(not_pdf)]) == 2
    assert "not a PDF" in capsys.readouterr().err


# ------------------------------------------------------------- taking over from paper


def test_a_centre_takes_a_referral_over_from_its_letter(
    app: Flask, signed_in: Any, clinician: Browser, request_id: str, centres: dict[str, str],
    audit_events: Any,
) -> None:  # fmt: skip
    pdf = pdf_of(clinician, request_id)
    step(clinician, request_id, status="cancelled", reason="sent on paper instead")
    pdf_cancelled = pdf_of(clinician, request_id)
    forget_everything(app)
    staff, _ = signed_in("centre-staff", organization=centres["HER-01"])
    response = upload(staff, pdf_cancelled)
    assert response.status_code == 303, text_of(response)[:2000]
    assert f"/referrals/{request_id}?done=imported" in response.headers["Location"]
    page = text_of(staff.get(f"/referrals/{request_id}?done=imported"))
    assert "taken over from its letter" in page
    (task,) = fetch(app, "Task")
    assert task["status"] == "requested"  # it starts again here
    assert "status at the issuing installation: cancelled" in task["note"][-1]["text"]
    assert task["owner"]["reference"] == f"Organization/{centres['HER-01']}"
    for res_type in ("Patient", "Consent", "ServiceRequest", "Practitioner"):
        assert len(fetch(app, res_type)) == 1, res_type
    assert fetch(app, "Observation") and fetch(app, "Condition")
    assert step(staff, request_id, status="accepted").status_code == 303
    again = upload(staff, pdf)
    assert again.status_code == 303 and "done=already_here" in again.headers["Location"]
    imports = [e for e in audit_events(("action", "E")) if operation_of(e) == "letter-import"]
    assert len(imports) == 1


def test_a_letter_for_another_centre_or_a_bad_file_is_refused_next_to_the_field(
    app: Flask, signed_in: Any, clinician: Browser, request_id: str, centres: dict[str, str]
) -> None:
    pdf = pdf_of(clinician, request_id)
    forget_everything(app)
    other, _ = signed_in("centre-staff", organization=centres["KAB-01"])
    cases = {
        "other centre": (pdf, 403, "addressed to another centre"),
        "not a pdf": (b"<html>not a letter</html>", 415, "not a PDF"),
        "damaged": (b"%PDF-1.7\n" + b"\x00garbage" * 50, 400, "cannot be read"),
        "no referral": (without_bundle(pdf), 422, "no embedded FHIR Bundle"),
    }
    for name, (data, status, words) in cases.items():
        response = upload(other, data)
        assert response.status_code == status, name
        page = text_of(response)
        assert 'id="f-letter-error"' in page and 'aria-invalid="true"' in page, name
        assert words in page, name
    empty = other.client.post("/letters/import", data={"csrf_token": other.csrf})
    assert empty.status_code == 400 and 'id="f-letter-error"' in text_of(empty)
    assert fetch(app, "ServiceRequest") == [] and fetch(app, "Patient") == []


def test_a_forged_letter_stores_nothing(
    app: Flask, signed_in: Any, clinician: Browser, request_id: str, centres: dict[str, str]
) -> None:
    pdf = pdf_of(clinician, request_id)
    bundle = embedded(pdf)
    forget_everything(app)
    staff, _ = signed_in("centre-staff", organization=centres["HER-01"])
    broken = copy.deepcopy(bundle)
    for entry in broken["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            entry["resource"]["status"] = "not-a-status"  # fails its profile
    response = upload(staff, with_bundle(pdf, broken))
    assert response.status_code == 422, text_of(response)[:1000]
    for res_type in ("Patient", "ServiceRequest", "Task", "Consent", "Observation"):
        assert fetch(app, res_type) == [], res_type  # all or nothing
    no_number = copy.deepcopy(bundle)
    no_number.pop("identifier")
    assert upload(staff, with_bundle(pdf, no_number)).status_code == 422
    huge = with_bundle(pdf, {**bundle, "padding": "x" * (3 * 1024 * 1024)})
    assert upload(staff, huge).status_code == 413


def test_the_receiving_centre_is_found_by_its_code(
    app: Flask, clinician: Browser, request_id: str, centres: dict[str, str]
) -> None:
    bundle = embedded(pdf_of(clinician, request_id))
    forget_everything(app)
    moved = json.loads(
        json.dumps(bundle).replace(f"Organization/{centres['HER-01']}", "Organization/far-away")
    )
    for entry in moved["entry"]:
        if entry["resource"]["resourceType"] == "Organization":
            entry["resource"]["id"] = "far-away"
    state = app.extensions["screening"]
    done = take_over(state, operator("t"), moved, "http://testserver/fhir")
    assert done.created
    (request,) = fetch(app, "ServiceRequest")
    assert request["performer"] == [{"reference": f"Organization/{centres['HER-01']}"}]
    unknown = json.loads(json.dumps(moved).replace('"HER-01"', '"XYZ-99"'))
    forget_everything(app)
    with pytest.raises(Unprocessable, match="XYZ-99 is not in this installation"):
        take_over(state, operator("t"), unknown, "http://testserver/fhir")


def test_only_printers_import(app: Flask, signed_in: Any) -> None:
    screener, _ = signed_in("screener")
    assert screener.get("/letters/import").status_code == 403
    state = app.extensions["screening"]
    from screening.auth.principal import Kind, Principal
    from screening.auth.roles import Role

    auditor = Principal(Kind.USER, "a", "a", role=Role.AUDITOR)
    with pytest.raises(Forbidden):
        take_over(state, auditor, {"resourceType": "Bundle"}, "http://t/fhir")
    with pytest.raises(Exception, match="not a PDF"):
        bundle_from_pdf(b"GIF89a", LIMIT)

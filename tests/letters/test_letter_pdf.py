"""The printed referral letter as a file: what it says in English and in Persian (read back
with pdftotext), that it is a PDF/A-3b (read with pikepdf), that it carries the referral as
a valid FHIR Bundle, that the same versions always give the same bytes, that text from the
records is printed literally and fetches nothing, what a sensitive referral leaves out, how
a long letter runs onto more pages, that every print is audited, and that it renders to
images (SQLite and PostgreSQL; real WeasyPrint, poppler and pikepdf).

Screenshots of the letters are left in $LETTER_SHOTS (default /tmp/letter-shots) to look at.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import jdatetime
import pikepdf
import pytest
from flask import Flask
from PIL import Image
from weasyprint import HTML

from letters.pdf_support import (
    BASE,
    catalogue,
    embedded_bundle,
    font_is_embedded,
    fonts_of,
    page_count,
    parens_folded,
    pdf_text,
    persian_digits,
    plain,
    plain_lines,
    print_as,
    render_pngs,
    visual,
)
from referrals.pages_support import fetch, refer, referral_id, step
from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.models import UserAccount
from screening.auth.principal import Principal, operator
from screening.auth.service import user_principal
from screening.fhir.outcome import BadRequest, Forbidden, NotFound
from screening.letters.content import compose, local_day
from screening.letters.render import BASE as ASSET_BASE
from screening.letters.render import AssetFetcher, Embedded, Renderer
from screening.letters.service import renderer, setting
from screening.letters.sources import bundle_bytes, gather, letter_bundle
from screening.paths import data_dir
from screening.referrals.building import SENSITIVE
from screening.web.calendar import show_date
from screenings.test_screening_pages import CONCLUSION, answers, post
from web.conftest import Browser, operation_of, text_of

pytestmark = pytest.mark.filterwarnings(
    # WeasyPrint 70 opens its sRGB output profile for every PDF/A and never closes it
    # (weasyprint/pdf/__init__.py, ColorProfile(... .open('rb'))): not this project's leak
    r"ignore:Exception ignored in.*sRGB2014\.icc:pytest.PytestUnraisableExceptionWarning"
)

SignIn = Callable[..., tuple[Browser, UserAccount]]
LETTERS = data_dir("templates") / "letters"
SHOTS = Path(os.environ.get("LETTER_SHOTS", "/tmp/letter-shots"))
SERVICE = ["prosthetics-orthotics"]
REASONS = ["limb-absence-no-prosthesis", "fall-risk"]
REASON_TEXT = "Left transtibial amputation after a landmine; walks with crutches."
CASE_CODE = "HRT-0427-KX"  # the IG example person's (tests/referrals/pages_support.py)
NATIONAL_ID = "1400-0101-23456"
CENTRE_EN = "Herat Physical Rehabilitation Centre"
CENTRE_FA = "مرکز توان‌بخشی فزیکی هرات"
HOSTILE = (
    "<script>alert(1)</script>",
    '<img src="http://example.com/x.png">',
    '<link rel=stylesheet href="file:///etc/passwd">',
    "{{ 7*7 }}",
    '"); } body { display:none }',
)
OVERRIDES = "\u202etxet desrever\u202c \u202dforced ltr\u202c \u2067isolated\u2069 \u200fmark"

ZONE = "Asia/Kabul"  # the default SCREENING_TIMEZONE: letters print local days


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def printer(make_user: Callable[..., UserAccount]) -> Principal:
    """Another clinician than the referrer, as the pages see a signed-in user."""
    return user_principal(make_user("clinician", full_name="Dr Nasrin Haidari"), "127.0.0.1")


@pytest.fixture
def request_id(clinician: Browser, screening_id: str) -> str:
    """A P&O referral to HER-01, urgent, for two reasons and one line of text: a letter
    that fits on one page."""
    return referral_id(
        refer(clinician, screening_id, service=SERVICE, reason=REASONS, reason_text=REASON_TEXT)
    )


def stored(app: Flask, reference: str) -> dict[str, Any]:
    """The current version of a resource, as stored."""
    res_type, fhir_id = reference.split("/")
    (found,) = fetch(app, res_type, ("_id", fhir_id))
    return found


def task_of(app: Flask, request_id: str) -> dict[str, Any]:
    (task,) = fetch(app, "Task", ("focus", f"ServiceRequest/{request_id}"))
    return task


def supporting(app: Flask, request: dict[str, Any], res_type: str) -> dict[str, Any]:
    """The Consent or QuestionnaireResponse a referral names in supportingInfo."""
    (ref,) = [
        i["reference"] for i in request["supportingInfo"] if i["reference"].startswith(res_type)
    ]
    return stored(app, ref)


def versioned(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}/_history/{resource['meta']['versionId']}"


def jalali(value: str) -> str:
    """A FHIR date's day in the Solar Hijri calendar as a Persian reader writes it
    ('۳ آذر ۱۴۰۵'), worked out here with jdatetime alone."""
    day = jdatetime.date.fromgregorian(date=date.fromisoformat(local_day(value, ZONE)))
    month = jdatetime.date.j_months_fa[day.month - 1]
    return persian_digits(f"{day.day} {month} {day.year}")


def gregorian_fa(value: str) -> str:
    """The Gregorian date printed beside it: '(۲۰۲۶/۱۱/۲۴)'."""
    return f"({persian_digits(local_day(value, ZONE).replace('-', '/'))})"


def keep_shots(pdf: bytes, name: str, folder: Path) -> list[Path]:
    """Render a letter's pages and leave a copy in SHOTS for a person to look at."""
    pngs = render_pngs(pdf, folder, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for png in pngs:
        shutil.copyfile(png, SHOTS / png.name)
    return pngs


# ------------------------------------------------------------------------ what it says


def test_the_english_letter_says_what_the_referral_says(
    web_app: Flask, printer: Principal, request_id: str
) -> None:
    letter = print_as(web_app, printer, request_id, "en")
    request = stored(web_app, f"ServiceRequest/{request_id}")
    task = task_of(web_app, request_id)
    consent = supporting(web_app, request, "Consent")
    screening = supporting(web_app, request, "QuestionnaireResponse")
    number = request["identifier"][0]["value"]
    assert (letter.number, letter.lang) == (number, "en")
    assert letter.filename == f"referral-{number}-en.pdf"
    assert page_count(letter.pdf) == 1

    text = plain(pdf_text(letter.pdf, raw=True))  # table cells stay whole in -raw
    source = f"{versioned(request)} · {versioned(task)}"
    consented = (
        f"Ahmad Karimi agreed on {local_day(consent['dateTime'], ZONE)} that this referral and the "
        f"findings above are shared with {CENTRE_EN} for treatment, until "
        f"{consent['provision']['period']['end'][:10]}."
    )
    for expected in (
        "Red Crescent Society: physical rehabilitation programme",  # the running header
        f"Rehabilitation referral letter {number}",
        f"Referral number: {number}",
        f"Date: {local_day(request['authoredOn'], ZONE)}",
        "Urgent — to be seen within 72 hours",
        "Referrer Dr Zahra Ahmadi",
        f"Receiving centre {CENTRE_EN} (HER-01)",
        "Address Herat",
        "Telephone +93 40 000 0100",
        "Service requested Prosthetics and orthotics",
        "Ahmad Karimi",
        f"Case code {CASE_CODE}",
        f"National ID {NATIONAL_ID}",
        "Reason for referral",
        "Limb absence without a prosthesis in use",
        "Risk of falls",
        REASON_TEXT,
        f"Findings of the screening of {local_day(screening['authored'], ZONE)}",
        "Flagged Timed Up and Go: 18.4 s: at risk of falls",
        "Devices in use: Crutches",
        "Consent",
        consented,
        "Return slip: the centre's feedback",
        f"Referral number: {number} · Case code: {CASE_CODE} · Receiving centre: {CENTRE_EN}",
        f"Made from {source} (status Requested).",
    ):
        assert expected in text, expected
    assert "Slow walking" not in text  # only the reasons the clinician kept

    layout = plain_lines(pdf_text(letter.pdf))
    assert layout[0] == "Red Crescent Society: physical rehabilitation programme"
    assert "Rehabilitation referral letter" in layout[1] and number in layout[1]
    (footer,) = [line for line in layout if "Page 1 of 1" in line]  # bottom-right
    assert footer == f"{source} Page 1 of 1"  # the versions it was made from, bottom-left


def test_the_persian_letter_has_both_calendars_and_persian_digits(
    web_app: Flask, printer: Principal, request_id: str
) -> None:
    letter = print_as(web_app, printer, request_id, "fa")
    request = stored(web_app, f"ServiceRequest/{request_id}")
    consent = supporting(web_app, request, "Consent")
    screening = supporting(web_app, request, "QuestionnaireResponse")
    number = request["identifier"][0]["value"]
    assert page_count(letter.pdf) == 1

    # RTL lines compared as printed, left to right (see pdf_support)
    text = plain(pdf_text(letter.pdf, raw=True))
    written = request["authoredOn"]
    issued = f"{jalali(written)} {gregorian_fa(written)}"
    assert re.fullmatch(r"[۰-۹]+ \S+ ۱[۳-۴][۰-۹]{2} \([۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2}\)", issued)
    assert jalali(written) == show_date(
        local_day(written, ZONE), "fa"
    )  # the pages' calendar agrees
    for expected in (
        visual("نامهٔ ارجاع به خدمات توان‌بخشی"),
        visual("جمعیت هلال احمر: برنامهٔ توان‌بخشی فیزیکی"),  # the running header
        number,
        visual(f"تاریخ: {issued}"),  # Solar Hijri, the Gregorian date beside it
        visual("فوری — مراجعه در ۷۲ ساعت"),
        visual(CENTRE_FA),
        visual("پروتز و ارتز"),
        visual("احمد کریمی"),
        CASE_CODE,
        REASON_TEXT,  # an English text stays English (left to right) on a Persian letter
        visual(f"یافته‌های غربالگری {jalali(screening['authored'])}"),
        visual(f"در تاریخ {jalali(consent['dateTime'])} رضایت داد"),
        visual("برگهٔ بازگشت: پاسخ مرکز"),
        visual("صفحهٔ ۱ از ۱"),  # the page counter in the persian counter style
    ):
        assert plain(expected) in text, expected
    for english in ("Rehabilitation referral letter", "Page 1 of 1", "Return slip"):
        assert english not in text
    # dates in Persian digits: no Gregorian date in Latin digits anywhere
    assert re.findall(r"\b20\d\d[-/]\d\d[-/]\d\d\b", text) == []
    # the running footer: the versions it was made from, and the page counter
    task = task_of(web_app, request_id)
    counter = visual("صفحهٔ ۱ از ۱")
    (footer,) = [line for line in plain_lines(pdf_text(letter.pdf, raw=True)) if counter in line]
    assert footer == f"{versioned(request)} · {versioned(task)} {counter}"


def test_the_persons_phone_reads_as_written_on_a_persian_letter(
    web_app: Flask, printer: Principal, request_id: str
) -> None:
    text = plain(pdf_text(print_as(web_app, printer, request_id, "fa").pdf, raw=True))
    assert "+93 40 000 0100" in text  # the centre's phone (class ltr) reads as written
    assert "+93 70 000 0427" in text


def test_the_letter_is_a_pdfa3b_with_the_bundle_attached(
    web_app: Flask, printer: Principal, request_id: str
) -> None:
    for lang in ("en", "fa"):
        letter = print_as(web_app, printer, request_id, lang)
        with pikepdf.open(io.BytesIO(letter.pdf)) as doc:
            meta = doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
            assert meta["pdfaid:part"] == "3"
            assert meta["pdfaid:conformance"] == "B"
            title = f"{catalogue().text(lang, 'letter.title')} {letter.number}"
            assert meta["dc:title"] == title
            assert str(doc.docinfo["/Title"]) == title  # the Info dictionary agrees
            assert str(doc.Root.Lang) == lang
            assert not doc.is_encrypted and len(doc.trailer.ID) == 2

            (intent,) = doc.Root.OutputIntents
            assert str(intent.S) == "/GTS_PDFA1"
            profile = intent.DestOutputProfile
            assert isinstance(profile, pikepdf.Stream) and int(profile.N) == 3
            assert profile.read_bytes()[36:40] == b"acsp"  # an ICC profile

            fonts = list(fonts_of(doc))
            assert {page for page, _, _ in fonts} == set(range(1, len(doc.pages) + 1))
            bare = [(page, name) for page, name, font in fonts if not font_is_embedded(font)]
            assert bare == []
            for _, _, font in fonts:
                if font.Subtype == "/Type0":
                    (descendant,) = font.DescendantFonts
                    assert "/FontFile2" in descendant.FontDescriptor  # Vazirmatn, TrueType

            ((name, attached),) = doc.attachments.items()
            assert name == f"referral-{letter.number}.json"
            spec = attached.obj
            assert spec.AFRelationship == pikepdf.Name("/Data")
            assert spec.EF.F.Subtype == pikepdf.Name("/application/json")
            assert attached.get_file().mime_type == "application/json"
            assert attached.description == f"FHIR R4 Bundle of referral {letter.number}"
            # the catalog's associated files name that file spec (WeasyPrint 70 lists it
            # twice: from the name tree and again from the objects; both are the same one)
            assert {af.objgen for af in doc.Root.AF} == {spec.objgen}
            # the file's dates are the referral's (written) and its latest record's
            params = spec.EF.F.Params
            assert str(params.CreationDate).startswith(
                "D:" + re.sub(r"\D", "", letter.bundle["entry"][0]["resource"]["authoredOn"])[:12]
            )
            assert int(params.Size) == len(bundle_bytes(letter.bundle))


def test_the_letter_carries_the_referral_as_valid_fhir(
    web_app: Flask, printer: Principal, request_id: str, patient_id: str
) -> None:
    letter = print_as(web_app, printer, request_id, "en")
    bundle = embedded_bundle(letter.pdf)
    assert bundle == letter.bundle
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    request = stored(web_app, f"ServiceRequest/{request_id}")
    assert bundle["identifier"]["value"] == request["identifier"][0]["value"] == letter.number
    entries = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e for e in bundle["entry"]}
    for ref, entry in entries.items():
        assert entry["fullUrl"] == f"{BASE}/{ref}"
    resources = {ref: entry["resource"] for ref, entry in entries.items()}

    # each one is the stored resource, at its stored version
    task = task_of(web_app, request_id)
    expected = [
        request,
        task,
        stored(web_app, f"Patient/{patient_id}"),
        supporting(web_app, request, "Consent"),
        *(stored(web_app, r["reference"]) for r in request["reasonReference"]),
        stored(web_app, request["requester"]["reference"]),
        stored(web_app, request["performer"][0]["reference"]),
    ]
    for resource in expected:
        ref = f"{resource['resourceType']}/{resource['id']}"
        assert resources.get(ref) == resource, ref
    assert resources[f"ServiceRequest/{request_id}"]["meta"]["versionId"] == "1"
    types = {r["resourceType"] for r in resources.values()}
    assert types >= {"ServiceRequest", "Task", "Patient", "Consent", "Observation", "Condition",
                     "Practitioner", "Organization"}  # fmt: skip
    assert {r["reference"].split("/")[0] for r in request["reasonReference"]} == {
        "Observation",
        "Condition",
    }
    assert bundle["timestamp"] == max(r["meta"]["lastUpdated"] for r in resources.values())

    validator = web_app.extensions["screening"].fhir.validator
    for ref, resource in resources.items():
        assert resource["meta"].get("profile") or resource["resourceType"] in (
            "Practitioner",
            "Location",
        ), ref
        errors = [i.to_json() for i in validator.validate(resource) if i.is_error]
        assert errors == [], ref
    errors = [i.to_json() for i in validator.validate(bundle) if i.is_error]
    assert errors == []


# ----------------------------------------------------------------------- determinism


def test_the_same_versions_print_the_same_bytes(
    web_app: Flask, printer: Principal, request_id: str, signed_in: SignIn
) -> None:
    first = {lang: print_as(web_app, printer, request_id, lang).pdf for lang in ("en", "fa")}
    assert print_as(web_app, printer, request_id, "en").pdf == first["en"]
    assert print_as(web_app, printer, request_id, "fa").pdf == first["fa"]
    assert first["en"] != first["fa"]
    centre, staff = signed_in("centre-staff", organization="her-01")
    assert print_as(web_app, user_principal(staff, None), request_id, "en").pdf == first["en"]
    assert print_as(web_app, operator("archive"), request_id, "en").pdf == first["en"]

    task = task_of(web_app, request_id)
    assert task["meta"]["versionId"] == "1"
    assert step(centre, request_id, status="received").status_code == 303
    task = task_of(web_app, request_id)
    assert task["meta"]["versionId"] == "2"
    request = stored(web_app, f"ServiceRequest/{request_id}")

    later = print_as(web_app, printer, request_id, "en")
    assert later.pdf != first["en"]
    assert print_as(web_app, printer, request_id, "en").pdf == later.pdf
    source = f"{versioned(request)} · Task/{task['id']}/_history/2"
    (footer,) = [line for line in plain_lines(pdf_text(later.pdf)) if "Page 1 of" in line]
    assert footer.startswith(source)
    text = plain(pdf_text(later.pdf, raw=True))
    assert f"Made from {source} (status Received)." in text
    assert f"Task/{task['id']}/_history/1" not in text
    (inside,) = [
        e["resource"]
        for e in embedded_bundle(later.pdf)["entry"]
        if e["resource"]["id"] == task["id"]
    ]
    assert inside == task and inside["status"] == "received"
    assert print_as(web_app, printer, request_id, "fa").pdf != first["fa"]


# ------------------------------------------------------------------ hostile record text


@pytest.fixture
def hostile_patient(web_app: Flask) -> str:
    """A person whose name is markup, a template expression and a bidi override."""
    example = data_dir("fhir_profiles") / "examples" / "Patient-example-ahmad-karimi.json"
    patient = json.loads(example.read_text(encoding="utf-8"))
    patient.pop("id")
    patient["identifier"] = [
        {"system": i["system"], "value": v}
        for i, v in zip(patient["identifier"], ("HRT-0999-ZX", "1400-0999-99999"), strict=True)
    ]
    name = "Zarmina <script>alert(1)</script> {{ 7*7 }} \u202eZARMINA"  # not closed
    patient["name"] = [{"use": "official", "text": name, "family": "{{ 7*7 }}"}]
    req = FhirRequest("POST", "Patient", body=patient)
    found = perform(web_app.extensions["screening"], operator("t"), req, BASE).body
    return str((found or {})["id"])


def test_record_text_is_printed_literally_and_fetches_nothing(
    web_app: Flask,
    printer: Principal,
    clinician: Browser,
    centres: dict[str, str],
    hostile_patient: str,
    tmp_path: Path,
) -> None:
    screened = post(clinician, hostile_patient, answers(**CONCLUSION), "save")
    assert screened.status_code == 303, text_of(screened)[:2000]
    screening_id = str(screened.headers["Location"]).split("/screenings/")[1].split("?")[0]
    reason_text = "\n".join([*HOSTILE, f"Overrides: {OVERRIDES}", "Last line."])
    response = refer(
        clinician, screening_id, service=SERVICE, reason=REASONS, reason_text=reason_text
    )
    request_id = referral_id(response)
    request = stored(web_app, f"ServiceRequest/{request_id}")
    assert request["reasonCode"][0]["text"] == reason_text  # stored as typed

    refused_before = list(renderer().fetcher.refused)
    letter = print_as(web_app, printer, request_id, "en")
    assert renderer().fetcher.refused == refused_before  # nothing was even tried
    keep_shots(letter.pdf, "hostile-en", tmp_path)

    raw = pdf_text(letter.pdf, raw=True)
    text = plain(raw)
    for hostile in HOSTILE:
        assert hostile in text, hostile
    assert "Zarmina <script>alert(1)</script> {{ 7*7 }}" in text  # the name, as written
    assert plain("\n".join(HOSTILE)) in text  # line after line, as typed: none evaluated
    assert "Last line." in text  # nothing after the style-breaking line was lost
    assert "Return slip: the centre's feedback" in text  # nor the rest of the letter
    # explicit direction controls are left out of the print (one left open would turn the
    # rest of the line around): the characters are printed in the order they were written
    assert "Overrides: txet desrever forced ltr isolated mark" in text
    inside = embedded_bundle(letter.pdf)["entry"][0]["resource"]
    assert inside["reasonCode"][0]["text"] == reason_text  # the Bundle keeps every character

    persian = print_as(web_app, printer, request_id, "fa")
    assert renderer().fetcher.refused == refused_before
    keep_shots(persian.pdf, "hostile-fa", tmp_path)
    text = parens_folded(plain(pdf_text(persian.pdf, raw=True)))
    for hostile in HOSTILE:
        assert parens_folded(hostile) in text, hostile  # left to right on a Persian letter
    assert parens_folded(plain("\n".join(HOSTILE))) in text
    assert "Last line." in text and visual("برگهٔ بازگشت: پاسخ مرکز") in text

    # the same letter rendered by a renderer of its own: the HTML escapes every tag, and
    # its fetcher was asked for its own assets only
    state = web_app.extensions["screening"]
    sources = gather(partial(perform, state, printer, base_url=BASE), request_id)
    composed = compose(sources, setting(state, catalogue(), "en", BASE))
    bundle = letter_bundle(sources, BASE)
    name = f"referral-{sources.number}.json"
    embedded = Embedded(bundle_bytes(bundle), name, request["authoredOn"], bundle["timestamp"])
    own = Renderer()
    html = own.html(composed, catalogue(), embedded)
    assert "<script>alert(1)" not in html and '<img src="http://' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;link rel=stylesheet href=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "{{ 7*7 }}" in html
    assert own.pdf(composed, catalogue(), embedded) == letter.pdf  # the same file
    assert own.fetcher.refused == []


def test_an_override_left_open_in_a_name_does_not_turn_the_letter_around(
    web_app: Flask,
    printer: Principal,
    clinician: Browser,
    centres: dict[str, str],
    hostile_patient: str,
) -> None:
    """The person's name ends in an RLO without its PDF: the consent sentence it is
    printed in must still read left to right after it, with its dates as they are."""
    screened = post(clinician, hostile_patient, answers(**CONCLUSION), "save")
    screening_id = str(screened.headers["Location"]).split("/screenings/")[1].split("?")[0]
    request_id = referral_id(
        refer(clinician, screening_id, service=SERVICE, reason=REASONS, reason_text="x")
    )
    consent = supporting(web_app, stored(web_app, f"ServiceRequest/{request_id}"), "Consent")
    for lang in ("en", "fa"):
        text = plain(pdf_text(print_as(web_app, printer, request_id, lang).pdf, raw=True))
        if lang == "en":
            day = local_day(consent["dateTime"], ZONE)
            agreed = f"agreed on {day} that this referral and the findings"
            assert agreed in text
        else:
            assert visual(f"در تاریخ {jalali(consent['dateTime'])} رضایت داد") in text


def test_the_asset_fetcher_serves_the_letter_assets_and_refuses_the_rest() -> None:
    fetcher = AssetFetcher(LETTERS)
    css = fetcher.fetch(f"{ASSET_BASE}letter.css")
    assert css.read() == (LETTERS / "letter.css").read_bytes()
    assert css.headers["Content-Type"] == "text/css"
    font = fetcher.fetch(f"{ASSET_BASE}fonts/Vazirmatn-Bold.ttf")
    assert font.read() == (LETTERS / "fonts" / "Vazirmatn-Bold.ttf").read_bytes()
    assert font.headers["Content-Type"] == "font/ttf"
    assert fetcher.refused == []
    refused = [
        "http://example.com/x.png",
        "https://example.com/letter.css",
        "file:///etc/passwd",
        "file:///letter-assets/../../etc/passwd",
        "file:///letter-assets/fonts/../letter.css",
        "file:///letter-assets/letter.css?v=1",
        f"file://{LETTERS / 'letter.css'}",
        "file:///letter-assets/",
        "FILE:///letter-assets/letter.css",
        "data:text/css,body{display:none}",
        "data:image/png;base64,iVBORw0KGgo=",
        "ftp://example.com/letter.css",
        "http://example.com/" + "a" * 500,
    ]
    for url in refused:
        with pytest.raises(ValueError, match="only its own assets"):
            fetcher.fetch(url)
    assert fetcher.refused == [url[:200] for url in refused]


def test_what_a_document_asks_for_reaches_the_fetcher_and_is_refused() -> None:
    """The control of the test above: what a letter would fetch reaches the fetcher and is
    refused there (so an empty `refused` means nothing was asked for)."""
    fetcher = AssetFetcher(LETTERS)
    page = (
        '<link rel=stylesheet href="file:///etc/passwd">'
        '<img src="http://example.com/x.png"><img src="x.png">'
        '<p style="background: url(data:image/png;base64,iVBORw0KGgo=)">text</p>'
    )
    pdf = HTML(string=page, base_url=ASSET_BASE, url_fetcher=fetcher).write_pdf()
    assert pdf.startswith(b"%PDF")
    assert set(fetcher.refused) == {
        "file:///etc/passwd",
        "http://example.com/x.png",
        f"{ASSET_BASE}x.png",
        "data:image/png;base64,iVBORw0KGgo=",
    }


# ----------------------------------------------------------------------------- privacy


def test_a_sensitive_referral_prints_the_case_code_only(
    web_app: Flask, printer: Principal, clinician: Browser, screening_id: str, tmp_path: Path
) -> None:
    sent = refer(
        clinician, screening_id, service=SERVICE, reason=REASONS, reason_text=REASON_TEXT,
        sensitive="yes",
    )  # fmt: skip
    request_id = referral_id(sent)
    request = stored(web_app, f"ServiceRequest/{request_id}")
    assert {"url": SENSITIVE, "valueBoolean": True} in request["extension"]
    phone = ("70 000 0427", "0427 000 70")  # as printed on English and Persian letters
    secrets = ("Ahmad Karimi", "Karimi", "احمد", "کریمی", NATIONAL_ID, *phone, "Injil")
    for lang in ("en", "fa"):
        letter = print_as(web_app, printer, request_id, lang)
        keep_shots(letter.pdf, f"sensitive-{lang}", tmp_path)
        text = plain(pdf_text(letter.pdf, raw=True)) + plain(pdf_text(letter.pdf))
        assert CASE_CODE in text
        for secret in secrets:
            assert plain(secret) not in text, (lang, secret)
        if lang == "en":
            assert "the letter shows only the case code, not the name" in text
            assert "The person agreed on" in text  # the consent, without the name
            assert "Sex Male" in text and "Age at screening (years)" in text
        with pikepdf.open(io.BytesIO(letter.pdf)) as doc:
            meta = doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
            described = " ".join(str(v) for _, v in meta.items()) + str(doc.docinfo)
        assert not any(secret in described for secret in secrets)

        bundle = embedded_bundle(letter.pdf)
        inside = [e["resource"] for e in bundle["entry"]]
        (patient,) = [r for r in inside if r["resourceType"] == "Patient"]
        assert "name" not in patient and "telecom" not in patient
        assert [i["value"] for i in patient["identifier"]] == [CASE_CODE]
        assert patient["address"] == [{"state": "Herat"}]
        errors = [
            i.to_json()
            for i in web_app.extensions["screening"].fhir.validator.validate(patient)
            if i.is_error
        ]
        assert errors == []
        carried = json.dumps(bundle, ensure_ascii=False)
        assert not any(secret in carried for secret in secrets), "the Bundle names the person"


# -------------------------------------------------------------------------- long letters


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_a_long_letter_runs_onto_more_pages_with_header_and_counter(
    web_app: Flask,
    printer: Principal,
    clinician: Browser,
    screening_id: str,
    lang: str,
    tmp_path: Path,
) -> None:
    lines = [f"Line {n:02d}: uses crutches" for n in range(1, 61)]
    request_id = referral_id(
        refer(
            clinician, screening_id, service=SERVICE, reason=REASONS, reason_text="\n".join(lines)
        )
    )
    letter = print_as(web_app, printer, request_id, lang)
    keep_shots(letter.pdf, f"long-{lang}", tmp_path)
    pages = page_count(letter.pdf)
    assert pages >= 2
    issuer = "Red Crescent Society: physical rehabilitation programme"
    if lang == "fa":
        issuer = visual("جمعیت هلال احمر: برنامهٔ توان‌بخشی فیزیکی")
    seen: list[str] = []
    for page in range(1, pages + 1):
        text = plain(pdf_text(letter.pdf, raw=lang == "fa", page=page))
        assert issuer in text and letter.number in text, page  # the running header
        if lang == "en":
            assert f"Page {page} of {pages}" in text
        else:
            assert visual(f"صفحهٔ {persian_digits(page)} از {persian_digits(pages)}") in text
        assert f"ServiceRequest/{request_id}/_history/1" in text  # the running footer
        seen += re.findall(r"Line (\d\d):", text)
    assert seen == [f"{n:02d}" for n in range(1, 61)]  # every line once, in order
    last = plain(pdf_text(letter.pdf, raw=True, page=pages))
    slip = "Return slip" if lang == "en" else visual("برگهٔ بازگشت: پاسخ مرکز")
    assert slip in last


# ------------------------------------------------------------------------------- audit


def test_every_print_is_audited(
    web_app: Flask,
    printer: Principal,
    request_id: str,
    patient_id: str,
    signed_in: SignIn,
    audit_events: Callable[..., list[dict[str, Any]]],
) -> None:
    def prints() -> list[dict[str, Any]]:
        return [e for e in audit_events(("action", "E")) if operation_of(e) == "letter"]

    assert prints() == []
    request = stored(web_app, f"ServiceRequest/{request_id}")
    consent = supporting(web_app, request, "Consent")
    task = task_of(web_app, request_id)
    print_as(web_app, printer, request_id, "en")
    assert len(prints()) == 1
    print_as(web_app, printer, request_id, "fa")
    print_as(web_app, printer, request_id, "fa")  # the same letter again: audited again
    events = prints()
    assert len(events) == 3
    for event in events:
        assert event["subtype"][0]["code"] == "operation" and event["action"] == "E"
        assert event["outcome"] == "0"
        agent = event["agent"][0]
        assert agent["who"]["identifier"]["value"] == printer.ident
        assert agent["altId"] == printer.name and agent["network"]["address"] == "127.0.0.1"
        what = {e["what"]["reference"]: e["role"]["code"] for e in event["entity"] if "what" in e}
        assert what[f"Patient/{patient_id}"] == "1"  # the person, as a Patient entity
        for resource in (request, task, consent):
            assert what[versioned(resource)] == "4"
        assert versioned(request) == f"ServiceRequest/{request_id}/_history/1"
    assert len(events) == 3

    centre, staff = signed_in("centre-staff", organization="her-01")
    assert step(centre, request_id, status="received").status_code == 303
    print_as(web_app, user_principal(staff, None), request_id, "en")
    newest = prints()[0]
    what = {e["what"]["reference"] for e in newest["entity"] if "what" in e}
    assert f"Task/{task['id']}/_history/2" in what
    assert newest["agent"][0]["who"]["identifier"]["value"] == staff.id
    assert len(prints()) == 4


def test_the_audit_event_of_a_print_is_valid_r4(
    web_app: Flask,
    printer: Principal,
    request_id: str,
    audit_events: Callable[..., list[dict[str, Any]]],
) -> None:
    print_as(web_app, printer, request_id, "en")
    (event,) = [e for e in audit_events(("action", "E")) if operation_of(e) == "letter"]
    validator = web_app.extensions["screening"].fhir.validator
    assert [i.to_json() for i in validator.validate(event) if i.is_error] == []


def test_who_may_print_which_letters(
    web_app: Flask,
    printer: Principal,
    request_id: str,
    make_user: Callable[..., UserAccount],
    audit_events: Callable[..., list[dict[str, Any]]],
) -> None:
    with pytest.raises(BadRequest, match="Unknown letter language"):
        print_as(web_app, printer, request_id, "de")
    for role in ("screener", "auditor", "administrator"):
        with pytest.raises(Forbidden):
            print_as(web_app, user_principal(make_user(role), None), request_id, "en")
    elsewhere = user_principal(make_user("centre-staff", organization="kab-01"), None)
    with pytest.raises(NotFound):
        print_as(web_app, elsewhere, request_id, "en")  # another centre's referral
    with pytest.raises(NotFound):
        print_as(web_app, printer, "no-such-referral", "en")
    assert [e for e in audit_events(("action", "E")) if operation_of(e) == "letter"] == []


# ---------------------------------------------------------------------------- pictures


def test_the_letters_render_to_images(
    web_app: Flask, printer: Principal, request_id: str, tmp_path: Path
) -> None:
    for lang in ("en", "fa"):
        letter = print_as(web_app, printer, request_id, lang)
        pngs = keep_shots(letter.pdf, f"letter-{lang}", tmp_path)
        assert len(pngs) == page_count(letter.pdf) == 1
        for png in pngs:
            assert png.stat().st_size > 20_000
            with Image.open(png) as image:
                assert image.size in ((496, 702), (497, 702))  # A4 at 60 dpi
                grey = image.convert("L")
                dark = sum(grey.histogram()[:128]) / (grey.width * grey.height)
            assert 0.01 < dark < 0.3, dark  # text on white, not blank, not black

"""A field screening from end to end in a real browser, as a screener works on a tablet:
sign in, register the person, open the patient page, fill in the screening by tapping and
typing, check the results, confirm the conclusion, save, and find the screening in the
person's history; then the stored Observations and Condition through the FHIR API.

In Persian (Solar Hijri dates, Persian digits typed into number fields) on a tablet and a
phone, and a shorter English run (one instrument) on a phone and a tablet. A last test
checks keyboard and screen-reader basics of the form: the error summary's links move
focus to their fields, every control has an accessible name, and every answer option is a
big enough touch target.

Every page may load only from the app itself and must raise no console or script error.
With SCREENING_SCREENSHOTS set (scripts/screenshots) each main page is saved as a PNG.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import pytest

from browser.conftest import PASSWORD, LiveServer, PageLog, Pages
from browser.screens import screenshot_dir, shoot
from screening.auth.models import UserAccount
from screening.auth.service import create_client
from screening.boundary import unit_of_work

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

IG = "https://fhir.rehab-screening.example"
PROFILE = f"{IG}/StructureDefinition/"
TAP = 44  # px: the smallest touch target the pages allow
PERSIAN_DIGITS = re.compile(r"[۰-۹]")
LATIN_DIGITS = re.compile(r"[0-9]")


# -- helpers ---------------------------------------------------------------------------------


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def assert_clean(log: PageLog, server: LiveServer, refused: tuple[str, ...] = ()) -> None:
    """Only the app's own host was asked for anything, and nothing went wrong in the page.

    `refused` names the paths of forms the test sent with mistakes on purpose: chromium logs
    their answer (the form again with its errors, status 400) as a console error.
    """
    expected = {
        f"Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
        f" ({server.url}{path})"
        for path in refused
    }
    assert log.requests, "no request was recorded"
    assert log.outside(server.origin) == []
    assert [e for e in log.console_errors if e not in expected] == []
    assert log.page_errors == []


def shoot_part(part: Locator, name: str) -> None:
    """Save a PNG of one part of the page (named as `shoot` names whole pages), with the
    form's sticky buttons put back in their place meanwhile (not over the part)."""
    folder = screenshot_dir()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    size = part.page.viewport_size or {"width": 0, "height": 0}
    # through the CSSOM: the page's Content-Security-Policy refuses injected style sheets
    sticky = "document.querySelectorAll('.sticky-actions').forEach(e => e.style.position = %s)"
    part.page.evaluate(sticky % "'static'")
    path = folder / f"{name}-{size['width']}x{size['height']}.png"
    part.screenshot(path=str(path), animations="disabled")
    part.page.evaluate(sticky % "''")


def fits_width(page: Page) -> bool:
    """Whether the page needs no sideways scrolling."""
    script = "(root => root.scrollWidth <= root.clientWidth)(document.documentElement)"
    return bool(page.evaluate(script))


def question(page: Page, name: str) -> Locator:
    """The item of the screening form with this name (linkId, `@n` inside group n)."""
    return page.locator(f'[data-q="{name}"]')


def tap(page: Page, name: str, *labels: str) -> None:
    """Tap the answer options of a question by their visible text, as a user would."""
    item = question(page, name)
    for label in labels:
        item.locator("label.option").get_by_text(label, exact=True).click()
        assert chosen(page, name, label), f"{name}: '{label}' is not chosen"


def chosen(page: Page, name: str, label: str) -> bool:
    """Whether the answer option named `label` (its accessible name) is checked."""
    return question(page, name).get_by_label(label, exact=True).is_checked()


def not_done(page: Page, *instruments: str, no: str) -> None:
    """Answer 'not done' to each of these instruments."""
    for instrument in instruments:
        tap(page, f"{instrument}.performed", no)


def type_text(field: Locator, text: str) -> None:
    """Type into a field key by key (Persian digits included), after clearing it."""
    field.click()
    field.fill("")
    field.press_sequentially(text)


def click_and_wait(page: Page, target: Locator) -> None:
    """Click a link or a submit button and wait for the next page."""
    with page.expect_navigation():
        target.click()


def sign_in_as(page: Page, user: UserAccount, username_label: str, password_label: str) -> None:
    """Sign in through the sign-in page (open in `page`), finding its fields by their
    labels."""
    assert path_of(page) == "/login"
    page.get_by_label(username_label).fill(user.username)
    page.get_by_label(password_label).fill(PASSWORD)
    click_and_wait(page, page.locator("main form button[type=submit]"))
    assert path_of(page) == "/", f"sign-in failed: {page.url}"


# -- the FHIR API ----------------------------------------------------------------------------


@dataclass
class Api:
    """The live server's FHIR API over http, as an API client of some scopes."""

    server: LiveServer
    token: str

    @classmethod
    def client(cls, server: LiveServer, scopes: str) -> Api:
        """A new API client of the live server's app (its token)."""
        state = server.app.extensions["screening"]
        with unit_of_work(state, write=True) as session:
            _, token = create_client(
                session,
                f"browser-{uuid.uuid4().hex[:10]}",
                scopes,
                frozenset(state.fhir.resource_types),
            )
        return cls(server, token)

    def send(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET `path` (with the query in it), or POST `body` to it; the answer's body."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/fhir+json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/fhir+json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(f"{self.server.url}/fhir/{path}", data, headers)
        with urllib.request.urlopen(request) as answer:
            assert answer.status == (200 if body is None else 201)
            return dict(json.load(answer))

    def get(self, path: str, **query: str) -> dict[str, Any]:
        return self.send(f"{path}?{urlencode(query)}" if query else path)

    def search(self, res_type: str, **query: str) -> list[dict[str, Any]]:
        bundle = self.get(res_type, _count="100", **query)
        return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]

    def errors_of(self, res_type: str, fhir_id: str) -> list[str]:
        """The error issues of the stored resource validated again ($validate)."""
        outcome = self.get(f"{res_type}/{fhir_id}/$validate")
        assert outcome["resourceType"] == "OperationOutcome"
        return [
            str(i.get("diagnostics", i.get("details", "")))
            for i in outcome.get("issue", [])
            if i["severity"] in ("error", "fatal")
        ]


@pytest.fixture
def api(live_server: LiveServer) -> Api:
    """A read-only API client."""
    return Api.client(live_server, "system/*.read")


def assert_extracted(
    api: Api, patient_id: str, response_id: str, profiles: set[str]
) -> list[dict[str, Any]]:
    """The screening's Observations (extracted from the response, one each of `profiles`)
    exist, point back to the response, its Encounter and the person, and are still valid
    against their profiles; returns them."""
    response = api.get(f"QuestionnaireResponse/{response_id}")
    assert response["subject"]["reference"] == f"Patient/{patient_id}"
    encounter = response["encounter"]["reference"]
    observations = api.search("Observation", subject=f"Patient/{patient_id}")
    found = {o["meta"]["profile"][0].removeprefix(PROFILE) for o in observations}
    assert found == profiles
    derived = api.search("Observation", **{"derived-from": f"QuestionnaireResponse/{response_id}"})
    assert {o["id"] for o in derived} == {o["id"] for o in observations}
    for observation in observations:
        assert observation["meta"]["profile"][0].startswith(PROFILE)
        assert observation["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{response_id}"}]
        assert observation["encounter"]["reference"] == encounter
        assert observation["subject"]["reference"] == f"Patient/{patient_id}"
        assert observation["status"] == "final"
        assert api.errors_of("Observation", observation["id"]) == []
    return observations


def by_profile(resources: list[dict[str, Any]], profile: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["meta"]["profile"][0] == PROFILE + profile]
    return found


# -- the Persian run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Who is registered: names in Persian and Latin letters, sex (its label), date of
    birth as typed (Solar Hijri, Persian digits), shown and stored."""

    given: str
    family: str
    given_latn: str
    family_latn: str
    sex: str
    born: str
    shown: str
    birth_date: str


PERSIAN_PEOPLE = {  # one each run: the search must not find the other
    "tablet": Person(
        "کریم", "رحیمی", "Karim", "Rahimi", "مرد", "۱۳۶۶/۰۵/۲۰", "۲۰ مرداد ۱۳۶۶", "1987-08-11"
    ),
    "phone": Person(
        "نسرین", "احمدزی", "Nasrin", "Ahmadzai", "زن", "۱۳۷۲/۱۱/۰۳", "۳ بهمن ۱۳۷۲", "1994-01-23"
    ),
}
FA_NOT_DONE = ("berg", "walk6min", "chair-stand", "barthel", "cause")
FA_PROFILES = {"wgss-mobility", "tug", "walk-10m-speed", "pain-score", "assistive-device-use"}


@pytest.mark.parametrize("device", ["tablet", "phone"])
def test_a_screener_screens_a_new_patient_in_persian(
    pages: Pages,
    live_server: LiveServer,
    make_user: Callable[..., UserAccount],
    api: Api,
    device: str,
) -> None:
    shot = f"fa-{device}"
    user = make_user("screener", language="fa", full_name="سارا کریمی")
    page = pages.open(device, locale="fa-IR")

    # sign in through the form, in Persian before anyone is known
    page.goto("/login")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("h1").inner_text() == "ورود"
    shoot(page, f"{shot}-01-login")
    sign_in_as(page, user, "نام کاربری", "گذرواژه")
    assert page.locator("h1").inner_text() == "سارا کریمی، خوش آمدید"
    shoot(page, f"{shot}-02-home")

    # find the person: not registered yet
    click_and_wait(page, page.locator(".site-nav").get_by_role("link", name="یافتن یا ثبت بیمار"))
    assert path_of(page) == "/patients"
    person = PERSIAN_PEOPLE[device]
    page.get_by_label("نام، کد پرونده یا شماره تذکره").fill(person.family)
    click_and_wait(page, page.get_by_role("button", name="جستجو"))
    assert page.get_by_text("هیچ بیماری با این جستجو پیدا نشد.").is_visible()

    # register: the empty form first, for its errors
    click_and_wait(page, page.get_by_role("link", name="ثبت بیمار جدید").first)
    assert path_of(page) == "/patients/new"
    click_and_wait(page, page.get_by_role("button", name="ثبت بیمار"))
    summary = page.locator(".error-summary")
    assert summary.get_by_role("heading").inner_text() == "لطفاً این موارد را درست کنید"
    links = summary.get_by_role("link")
    assert links.count() >= 3  # sex, the date of birth or age, the province
    assert fits_width(page)
    shoot(page, f"{shot}-03-register-errors")
    summary.get_by_role("link", name=re.compile("^جنسیت")).click()
    assert page.evaluate("document.activeElement.id") == "f-sex-male"

    page.get_by_label("نام", exact=True).fill(person.given)
    page.get_by_label("تخلص", exact=True).fill(person.family)
    page.get_by_label("نام (به حروف لاتین)").fill(person.given_latn)
    page.get_by_label("تخلص (به حروف لاتین)").fill(person.family_latn)
    page.get_by_text(person.sex, exact=True).click()
    assert page.get_by_role("radio", name=person.sex).is_checked()
    type_text(page.get_by_label("تاریخ تولد", exact=True), person.born)
    page.get_by_label("ولایت").select_option(label="هرات")
    page.get_by_label("ولسوالی").fill("گذره")
    page.get_by_label("قریه یا شهر").fill("ده نو")
    type_text(page.get_by_label("شمارهٔ تلفن", exact=True), "۰۷۰۰۱۲۳۴۵۶")
    click_and_wait(page, page.get_by_role("button", name="ثبت بیمار"))

    # the patient page
    assert re.fullmatch(r"/patients/[A-Za-z0-9.-]+", path_of(page)), page.url
    patient_id = path_of(page).rsplit("/", 1)[1]
    assert page.get_by_role("status").inner_text() == "بیمار ثبت شد."
    assert page.locator("h1").inner_text() == (
        f"{person.given} {person.family}\n{person.given_latn} {person.family_latn}"
    )
    details = page.locator("section[aria-labelledby=details-title]").inner_text()
    assert f"تاریخ تولد\n{person.shown}\n" in details and "ولایت\nهرات" in details
    assert page.get_by_text("هنوز غربالگری‌ای ثبت نشده است.").is_visible()
    assert fits_width(page)
    shoot(page, f"{shot}-05-patient")
    case_code = page.locator(".subtitle code").inner_text()

    # the search finds the person now, by the Latin name
    click_and_wait(page, page.get_by_role("link", name="پیدا کردن بیمار"))
    page.get_by_label("نام، کد پرونده یا شماره تذکره").fill(
        f"{person.given_latn} {person.family_latn}"
    )
    click_and_wait(page, page.get_by_role("button", name="جستجو"))
    row = page.locator("table.people tbody tr", has_text=case_code)
    assert row.count() == 1 and person.family in row.inner_text()
    shoot(page, f"{shot}-04-search-results")
    click_and_wait(page, row.get_by_role("link"))
    assert path_of(page) == f"/patients/{patient_id}"

    # the screening form: the visit is filled in from the address, today in Solar Hijri
    click_and_wait(page, page.get_by_role("link", name="غربالگری جدید"))
    assert path_of(page) == f"/patients/{patient_id}/screenings/new"
    date_field = page.get_by_label("تاریخ غربالگری")
    assert re.fullmatch(r"۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2}", date_field.input_value())
    assert page.get_by_label("ولایت").input_value() == "Herat"
    assert page.get_by_label("ولسوالی").input_value() == "گذره"
    assert case_code in page.locator(".subtitle").inner_text()
    assert fits_width(page)
    shoot(page, f"{shot}-06-screening-form")

    # enableWhen without JavaScript: the TUG time shows once the test was done
    tug_time = page.get_by_label("زمان انجام آزمون (ثانیه)")
    assert question(page, "tug.seconds").is_hidden() and tug_time.is_hidden()
    tap(page, "tug.performed", "بله")
    assert question(page, "tug.seconds").is_visible() and tug_time.is_visible()
    assert question(page, "tug.reason-not-done").is_hidden()
    assert page.get_by_text("فقط در این صورت پاسخ دهید:").first.is_hidden()  # CSS did it
    type_text(tug_time, "۱۸٫۴")
    tap(page, "tug.aid", "عصای زیربغل یا آرنجی")
    assert tug_time.input_value() == "۱۸٫۴"
    shoot_part(page.locator("section[aria-labelledby=h-tug]"), f"{shot}-07-screening-tug")

    tap(page, "wgss.performed", "بله")
    tap(page, "wgss.mobility", "مشکل زیاد")
    assert question(page, "wges.uses-aid").is_hidden()
    tap(page, "wgss.extended", "خیر")
    assert question(page, "wges.uses-aid").is_hidden()

    tap(page, "walk10m.performed", "بله")
    type_text(page.get_by_label("مسافتی که زمان آن اندازه گرفته شد (متر)"), "۱۰")
    type_text(page.get_by_label("زمان طی کردن این مسافت (ثانیه)"), "۲۰")

    tap(page, "pain.performed", "بله")
    type_text(page.get_by_label("شدت درد در حال حاضر"), "۷")

    limb = page.locator("section[aria-labelledby=h-limb-absence]")
    assert question(page, "limb-absence.limb.side@1").is_hidden()
    tap(page, "limb-absence.performed", "بله")
    tap(page, "limb-absence.present", "بله")
    assert question(page, "limb-absence.limb.side@1").is_visible()
    tap(page, "limb-absence.limb.side@1", "چپ")
    tap(page, "limb-absence.limb.level@1", "زیر زانو (ترانس‌تیبیال)")
    tap(page, "limb-absence.limb.cause@1", "مین یا مهمات منفجرنشدهٔ به‌جامانده از جنگ")
    type_text(limb.get_by_label("اندام چه زمانی از دست رفت؟").first, "۱۳۹۸/۰۱/۱۵")
    shoot_part(limb, f"{shot}-08-screening-limb")

    tap(page, "device.performed", "بله")
    tap(page, "device.type", "عصای زیربغل یا آرنجی")
    not_done(page, *FA_NOT_DONE, no="خیر")
    assert question(page, "berg.sit-to-stand").is_hidden()

    # check and see what it means
    click_and_wait(page, page.get_by_role("button", name="بررسی و نمایش نتایج"))
    assert path_of(page) == f"/patients/{patient_id}/screenings/new"
    assert page.locator(".error-summary").count() == 0, page.locator(".error-summary").inner_text()
    results = page.locator("section.results")
    flagged = results.locator(".finding.flagged")
    tug_finding = flagged.filter(has_text="TUG")
    assert tug_finding.locator(".flag").inner_text() == "نیاز به توجه"
    assert (
        tug_finding.locator(".why").inner_text()
        == "۱۸٫۴ ثانیه: در معرض خطر زمین خوردن (حد برش ۱۳٫۵ ثانیه؛ STEADI مرکز CDC ۱۲ ثانیه)"
    )
    text = results.inner_text()
    assert "۰٫۵۰ متر بر ثانیه: راه رفتن محدود در اجتماع" in text
    assert "۷ از ۱۰" in text
    assert "فقدان اندام بدون استفاده از پروتز" in text
    services = results.locator(".suggestions > li > strong").all_inner_texts()
    assert services == ["پروتز و ارتز", "فیزیوتراپی", "حمایت روانی-اجتماعی"]
    assert not LATIN_DIGITS.search(text)  # numbers in Persian digits
    # the answers are kept as typed, and the conclusion starts from the suggestions
    assert tug_time.input_value() == "۱۸٫۴"
    assert chosen(page, "conclusion.referral-needed", "بله")
    for service in ("پروتز و ارتز", "فیزیوتراپی", "حمایت روانی-اجتماعی"):
        assert chosen(page, "conclusion.service", service)
    assert chosen(page, "conclusion.priority", "عادی (ظرف دو هفته)")
    shoot(page, f"{shot}-09-review")

    # the clinician's conclusion: confirmed, as urgent
    tap(page, "conclusion.priority", "فوری (ظرف ۷۲ ساعت)")
    type_text(page.get_by_label("یادداشت بالینی"), "بیمار با عصا آمد")
    click_and_wait(page, page.get_by_role("button", name="ذخیرهٔ غربالگری"))

    # the result page
    found = re.fullmatch(r"/screenings/([A-Za-z0-9.-]+)", path_of(page))
    assert found, page.url
    response_id = found.group(1)
    assert page.get_by_role("status").inner_text() == "غربالگری ذخیره شد."
    assert page.locator("h1").inner_text() == "نتیجهٔ غربالگری"
    assert "۱۸٫۴ ثانیه: در معرض خطر زمین خوردن" in page.locator("section.results").inner_text()
    conclusion = page.locator("section[aria-labelledby=conclusion-title]").inner_text()
    assert "فوری (ظرف ۷۲ ساعت)" in conclusion and "فیزیوتراپی" in conclusion
    assert "بیمار با عصا آمد" in conclusion
    records = page.locator("section[aria-labelledby=records-title] table tbody tr")
    shown = {r.locator("td").nth(2).locator(".muted").inner_text() for r in records.all()}
    assert shown == {*FA_PROFILES, "limb-absence"}
    tug_row = records.filter(has=page.get_by_text("tug", exact=True))
    assert tug_row.locator("td").nth(1).inner_text() == "۱۸٫۴ ثانیه"
    limb_row = records.filter(has=page.get_by_text("limb-absence", exact=True))
    assert limb_row.locator("td").nth(1).inner_text() == "چپ · زیر زانو (ترانس‌تیبیال)"
    assert fits_width(page)
    shoot(page, f"{shot}-10-result")

    # back on the patient page, the screening is in the history
    click_and_wait(page, page.get_by_role("link", name="بازگشت به صفحهٔ فرد"))
    assert path_of(page) == f"/patients/{patient_id}"
    history = page.locator("section[aria-labelledby=screenings-title] tbody tr")
    assert history.count() == 1
    assert PERSIAN_DIGITS.search(history.locator("td").first.inner_text())
    assert history.get_by_role("link").get_attribute("href") == f"/screenings/{response_id}"
    shoot(page, f"{shot}-11-patient-history")

    # the stored records through the FHIR API
    patient = api.get(f"Patient/{patient_id}")
    assert patient["birthDate"] == person.birth_date
    assert {n.get("family") for n in patient["name"]} == {person.family, person.family_latn}
    assert [t["value"] for t in patient["telecom"]] == ["0700123456"]
    response = api.get(f"QuestionnaireResponse/{response_id}")
    assert response["questionnaire"].startswith(f"{IG}/Questionnaire/field-screening")
    observations = assert_extracted(api, patient_id, response_id, FA_PROFILES)
    assert by_profile(observations, "tug")["valueQuantity"]["value"] == 18.4
    assert by_profile(observations, "walk-10m-speed")["valueQuantity"]["value"] == 0.5
    assert by_profile(observations, "pain-score")["valueInteger"] == 7
    (condition,) = api.search("Condition", subject=f"Patient/{patient_id}")
    assert condition["meta"]["profile"][0] == PROFILE + "limb-absence"
    assert condition["encounter"] == response["encounter"]
    assert api.errors_of("Condition", condition["id"]) == []
    assert_clean(pages.log(page), live_server, refused=("/patients/new",))


# -- the English run -------------------------------------------------------------------------

ENGLISH_PEOPLE = {"phone": ("Maryam", "Noori"), "tablet": ("Fatima", "Sultani")}
EN_NOT_DONE = (
    "wgss",
    "berg",
    "walk10m",
    "walk6min",
    "chair-stand",
    "barthel",
    "pain",
    "limb-absence",
    "device",
    "cause",
)


@pytest.mark.parametrize("device", ["phone", "tablet"])
def test_a_clinician_screens_with_one_instrument_in_english(
    pages: Pages,
    live_server: LiveServer,
    make_user: Callable[..., UserAccount],
    api: Api,
    device: str,
) -> None:
    shot = f"en-{device}"
    user = make_user("clinician", language="en", full_name="Sam Lee")
    page = pages.open(device)
    page.goto("/login")
    assert page.locator("html").get_attribute("dir") == "ltr"
    shoot(page, f"{shot}-01-login")
    sign_in_as(page, user, "Username", "Password")
    assert page.locator("h1").inner_text() == "Welcome, Sam Lee"
    shoot(page, f"{shot}-02-home")

    click_and_wait(page, page.locator(".site-nav").get_by_role("link", name=re.compile("patient")))
    click_and_wait(page, page.get_by_role("link", name="Register a new patient").first)
    click_and_wait(page, page.get_by_role("button", name="Register patient"))
    assert page.locator(".error-summary").is_visible()
    assert fits_width(page)
    shoot(page, f"{shot}-03-register-errors")
    given, family = ENGLISH_PEOPLE[device]
    page.get_by_label("Given name (Latin letters)").fill(given)
    page.get_by_label("Family name (Latin letters)").fill(family)
    page.get_by_text("Female", exact=True).click()
    type_text(page.get_by_label("Estimated age in years"), "41")
    page.get_by_label("Province").select_option(label="Kabul")
    click_and_wait(page, page.get_by_role("button", name="Register patient"))
    patient_id = path_of(page).rsplit("/", 1)[1]
    assert page.get_by_role("status").is_visible()
    assert fits_width(page)
    shoot(page, f"{shot}-05-patient")

    click_and_wait(page, page.get_by_role("link", name="Find a patient"))
    page.get_by_role("searchbox", name="Name, case code or national ID").fill(family)
    click_and_wait(page, page.get_by_role("button", name="Search"))
    row = page.locator("table.people tbody tr", has_text=f"{given} {family}")
    assert row.count() == 1 and "Kabul" in row.inner_text()
    shoot(page, f"{shot}-04-search-results")
    click_and_wait(page, row.get_by_role("link"))
    assert path_of(page) == f"/patients/{patient_id}"

    click_and_wait(page, page.get_by_role("link", name="New screening"))
    assert fits_width(page)
    shoot(page, f"{shot}-06-screening-form")
    tug_time = page.get_by_label("Time to complete the test (seconds)")
    assert tug_time.is_hidden()
    tap(page, "tug.performed", "Yes")
    assert tug_time.is_visible()
    type_text(tug_time, "15.2")
    shoot_part(page.locator("section[aria-labelledby=h-tug]"), f"{shot}-07-screening-tug")
    not_done(page, *EN_NOT_DONE, no="No")
    tap(page, "limb-absence.performed", "Yes")
    tap(page, "limb-absence.present", "Yes")
    shoot_part(page.locator("section[aria-labelledby=h-limb-absence]"), f"{shot}-08-screening-limb")
    tap(page, "limb-absence.performed", "No")

    click_and_wait(page, page.get_by_role("button", name="Check and show results"))
    results = page.locator("section.results")
    assert results.locator(".finding.flagged .why").inner_text() == (
        "15.2 s: at risk of falls (cut-off 13.5 s; CDC STEADI uses 12 s)"
    )
    assert results.locator(".suggestions > li > strong").all_inner_texts() == ["Physiotherapy"]
    assert chosen(page, "conclusion.referral-needed", "Yes")
    assert chosen(page, "conclusion.service", "Physiotherapy")
    assert fits_width(page)
    shoot(page, f"{shot}-09-review")
    click_and_wait(page, page.get_by_role("button", name="Save screening"))

    response_id = path_of(page).rsplit("/", 1)[1]
    assert page.get_by_role("status").inner_text() == "The screening was saved."
    records = page.locator("section[aria-labelledby=records-title] table tbody tr")
    assert records.count() == 1
    assert records.locator("td").nth(1).inner_text() == "15.2 seconds"
    assert fits_width(page)
    shoot(page, f"{shot}-10-result")
    click_and_wait(page, page.get_by_role("link", name="Back to the person's page"))
    history = page.locator("section[aria-labelledby=screenings-title] tbody tr")
    assert history.get_by_role("link").get_attribute("href") == f"/screenings/{response_id}"
    shoot(page, f"{shot}-11-patient-history")

    observations = assert_extracted(api, patient_id, response_id, {"tug"})
    assert observations[0]["valueQuantity"]["value"] == 15.2
    assert api.search("Condition", subject=f"Patient/{patient_id}") == []
    assert_clean(pages.log(page), live_server, refused=("/patients/new",))


# -- keyboard and screen readers -------------------------------------------------------------

EXAMPLES = "fhir_profiles/examples"
CONTROLS = "form.q-form :is(input:not([type=hidden]), select, textarea, button)"
# each control of the form with the name a screen reader announces for it (its labels, or
# aria-label/-labelledby) and, for radios and checkboxes, the legend of their fieldset
NAMES_SCRIPT = """selector => [...document.querySelectorAll(selector)].map(el => {
    const text = node => (node ? node.textContent : "").replace(/\\s+/g, " ").trim();
    const labelledby = (el.getAttribute("aria-labelledby") || "").split(/\\s+/)
        .filter(Boolean).map(id => text(document.getElementById(id))).join(" ");
    const labels = [...(el.labels || [])].map(text).join(" ");
    const own = el.tagName === "BUTTON" ? text(el) : "";
    const legend = el.closest("fieldset")?.querySelector(":scope > legend");
    return {
        name: el.name || el.id,
        label: (el.getAttribute("aria-label") || labelledby || labels || own).trim(),
        group: ["radio", "checkbox"].includes(el.type) ? text(legend) : "-",
    };
})"""
# a control in Playwright's ARIA snapshot without a name (a <details>, role group, has none)
UNNAMED = re.compile(r'^\s*- (textbox|radio|checkbox|combobox|button)(?! ")', re.M)


def register_by_api(server: LiveServer) -> str:
    """The IG's example patient registered through the FHIR API; returns the new id."""
    with open(f"{EXAMPLES}/Patient-example-ahmad-karimi.json", encoding="utf-8") as handle:
        patient = json.load(handle)
    patient.pop("id")
    return str(Api.client(server, "system/Patient.cruds").send("Patient", patient)["id"])


def test_the_screening_form_with_a_keyboard_and_a_screen_reader(
    pages: Pages, live_server: LiveServer, make_user: Callable[..., UserAccount]
) -> None:
    patient_id = register_by_api(live_server)
    user = make_user("screener", language="en")
    page = pages.open("tablet")
    page.goto("/login")
    sign_in_as(page, user, "Username", "Password")
    form_path = f"/patients/{patient_id}/screenings/new"
    page.goto(form_path)

    # every control has a name; radios and checkboxes have their question as group name
    controls = page.evaluate(NAMES_SCRIPT, CONTROLS)
    assert len(controls) > 150
    assert [c for c in controls if not c["label"] or not c["group"]] == []

    # what the browser tells screen readers, with every question shown: no unnamed control
    for performed in page.locator('[data-q$=".performed"]').all():
        performed.get_by_text("Yes", exact=True).click()
    tap(page, "wgss.extended", "Yes")
    tap(page, "wges.uses-aid", "Yes")
    tap(page, "limb-absence.present", "Yes")
    for summary in page.locator("details.instance > summary").all():
        summary.click()
    tree = page.locator("form.q-form").aria_snapshot()
    assert UNNAMED.findall(tree) == []
    assert tree.count('- radio "') > 200 and '- textbox "Time to complete the test' in tree

    # touch targets: every answer option of the tablet form is at least 44px square
    options = page.locator("form.q-form label.option")
    sizes = options.evaluate_all(
        "all => all.filter(o => o.offsetParent).map(o => o.getBoundingClientRect())"
        ".map(r => [Math.round(r.width), Math.round(r.height)])"
    )
    assert len(sizes) > 200
    assert [s for s in sizes if s[0] < TAP or s[1] < TAP] == []
    buttons = page.locator(".sticky-actions .button").all()
    assert all((b.bounding_box() or {"height": 0})["height"] >= TAP for b in buttons)

    # a save with two missing answers: the TUG time (a field) and whether to refer (a
    # question with options); TUG is answered with the keyboard
    page.goto(form_path)
    page.locator('[data-q="tug.performed"] input[value="true"]').focus()
    page.keyboard.press("Space")
    assert page.get_by_label("Time to complete the test (seconds)").is_visible()
    for name in EN_NOT_DONE:
        tap(page, f"{name}.performed", "No")
    click_and_wait(page, page.get_by_role("button", name="Save screening"))
    summary = page.get_by_role("alert")
    links = summary.get_by_role("link").all()
    assert [link.inner_text() for link in links] == [
        "Time to complete the test (seconds): This field is required",
        "Is a referral for rehabilitation needed?: This field is required",
    ]
    shoot(page, "en-tablet-12-screening-errors")

    # the summary is reached with Tab before the form, and its links move focus
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('.error-summary') !== null"):
            break
    assert page.evaluate("document.activeElement.getAttribute('href')") == (
        links[0].get_attribute("href")
    )
    for link in links:
        target = (link.get_attribute("href") or "").removeprefix("#")
        link.focus()
        page.keyboard.press("Enter")
        assert urlsplit(page.url).fragment == target
        element = f"document.getElementById({json.dumps(target)})"
        if page.evaluate(f"{element}.matches('input, select, textarea')"):
            assert page.evaluate("document.activeElement.id") == target  # focus is there
        else:  # a question with options: the next Tab goes to its first option
            page.keyboard.press("Tab")
            assert page.evaluate(f"{element}.contains(document.activeElement)"), target
            assert page.evaluate("document.activeElement.type") == "radio"

    # the error is read out with its field
    from playwright.sync_api import expect

    time_field = page.get_by_role("textbox", name="Time to complete the test (seconds)")
    assert time_field.get_attribute("aria-invalid") == "true"
    expect(time_field).to_have_accessible_description(re.compile("This field is required"))
    assert_clean(pages.log(page), live_server, refused=(form_path,))

"""`screening demo`: a realistic but fictional data set to try the service with. No Flask.

It loads 44 rehabilitation centres in all 34 provinces (ids from their codes, so the same
every run), one account of every role (the health workers with the profession and fictional
registration number their letters print), 12 screened persons (found again by case code) and
screenings of five of them (dated the last month), and the referrals four of those
screenings ask for, written by the demo clinician. The Herat centre's staff have accepted,
worked and completed one of them and accepted another; the others wait in the centres'
inboxes (some overdue). Everything but the accounts goes through the FHIR door (validated
against the IG, workflow rules and all, audited): the directory, persons and screenings as
the operator at the command line, referrals as the demo clinician, steps as the centre's
staff. Running it again adds nothing that is already there: centres by id, persons by case
code, accounts by username, screenings and referrals by subject.

All names, phone numbers and places of the data set are made up; the coordinates are those
of the provincial capitals, rounded (a second unit of a province sits a little apart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.passwords import password_problem
from screening.auth.principal import Principal
from screening.auth.professions import set_details
from screening.auth.roles import Role
from screening.auth.service import create_user, find_user, user_principal
from screening.boundary import AppState, unit_of_work
from screening.fhir.outcome import NotFound
from screening.fhir.searchset import resources
from screening.patients.provinces import BY_CODE
from screening.patients.resource import CASE_CODE_SYSTEM, PatientValues, build_patient
from screening.referrals.basis import Basis, load_basis
from screening.referrals.building import Consent, Leg, Referral
from screening.referrals.directory import CentreValues, Directory
from screening.referrals.service import (
    Actor,
    Change,
    coded_reasons,
    create_referral,
    read_case,
    record_step,
)
from screening.screenings.directory import Place, account_worker, practitioner_reference
from screening.screenings.form_schema import questionnaire_form
from screening.screenings.questionnaire import form_of
from screening.screenings.service import FIELD_SCREENING, Screener, Visit, record_screening
from screening.screenings.suggestions import reason_codes
from screening.store.clock import utcnow

PO, PT, WC, PS = (
    "prosthetics-orthotics",
    "physiotherapy",
    "wheelchair-service",
    "psychosocial-support",
)
WORK_WEEK = ("sat", "sun", "mon", "tue", "wed")
LONG_WEEK = (*WORK_WEEK, "thu")
CAPITALS: dict[str, tuple[str, str, str, float, float]] = {
    # province: (capital, capital in Persian, road of the centre, latitude, longitude)
    "AF-BDS": ("Fayzabad", "فیض‌آباد", "Kokcha Road", 37.12, 70.58),
    "AF-BDG": ("Qala-e Naw", "قلعه نو", "Hospital Road", 34.98, 63.13),
    "AF-BGL": ("Pul-e Khumri", "پلخمری", "Bazaar Road", 35.94, 68.71),
    "AF-BAL": ("Mazar-e Sharif", "مزار شریف", "Balkh Gate Road", 36.71, 67.11),
    "AF-BAM": ("Bamyan", "بامیان", "Airport Road", 34.82, 67.83),
    "AF-DAY": ("Nili", "نیلی", "Main Road", 33.72, 66.13),
    "AF-FRA": ("Farah", "فراه", "Farah Rud Road", 32.37, 62.11),
    "AF-FYB": ("Maymana", "میمنه", "Andkhoy Road", 35.92, 64.78),
    "AF-GHA": ("Ghazni", "غزنی", "Kabul-Kandahar Highway", 33.55, 68.42),
    "AF-GHO": ("Chaghcharan", "چغچران", "Hari Rud Road", 34.52, 65.25),
    "AF-HEL": ("Lashkar Gah", "لشکرگاه", "Bost Road", 31.59, 64.37),
    "AF-HER": ("Herat", "هرات", "Airport Road", 34.35, 62.20),
    "AF-JOW": ("Sheberghan", "شبرغان", "Aqcha Road", 36.67, 65.75),
    "AF-KAB": ("Kabul", "کابل", "Darulaman Road", 34.53, 69.17),
    "AF-KAN": ("Kandahar", "قندهار", "Herat Bazaar Road", 31.61, 65.71),
    "AF-KAP": ("Mahmud-e Raqi", "محمود راقی", "Nijrab Road", 35.02, 69.34),
    "AF-KHO": ("Khost", "خوست", "Gardez Road", 33.34, 69.92),
    "AF-KNR": ("Asadabad", "اسعدآباد", "Kunar River Road", 34.87, 71.15),
    "AF-KDZ": ("Kunduz", "کندز", "Spinzar Road", 36.73, 68.86),
    "AF-LAG": ("Mehtarlam", "مهترلام", "Alingar Road", 34.67, 70.21),
    "AF-LOG": ("Pul-e Alam", "پل علم", "Kabul Road", 33.99, 69.02),
    "AF-NAN": ("Jalalabad", "جلال‌آباد", "Torkham Road", 34.43, 70.45),
    "AF-NIM": ("Zaranj", "زرنج", "Delaram Road", 30.96, 61.86),
    "AF-NUR": ("Parun", "پارون", "Valley Road", 35.42, 70.92),
    "AF-PKA": ("Sharana", "شرنه", "Urgun Road", 33.14, 68.79),
    "AF-PIA": ("Gardez", "گردیز", "Khost Road", 33.60, 69.22),
    "AF-PAN": ("Bazarak", "بازارک", "Panjshir Road", 35.31, 69.52),
    "AF-PAR": ("Charikar", "چاریکار", "Salang Road", 35.01, 69.17),
    "AF-SAM": ("Aybak", "ایبک", "Hazrat Sultan Road", 36.26, 68.02),
    "AF-SAR": ("Sar-e Pol", "سرپل", "River Road", 36.22, 65.93),
    "AF-TAK": ("Taloqan", "تالقان", "Kunduz Road", 36.74, 69.53),
    "AF-URU": ("Tarinkot", "ترینکوت", "Helmand Road", 32.63, 65.87),
    "AF-WAR": ("Maidan Shahr", "میدان شهر", "Kabul Road", 34.40, 68.87),
    "AF-ZAB": ("Qalat", "قلات", "Highway Road", 32.11, 66.91),
}
FULL = frozenset({"AF-KAB", "AF-HER", "AF-BAL", "AF-KAN", "AF-NAN", "AF-HEL", "AF-KDZ", "AF-GHA"})
PROSTHETICS = FULL | {"AF-FYB", "AF-JOW", "AF-PIA", "AF-BDS", "AF-BAM", "AF-LAG", "AF-FRA"}
# second units: (province, code suffix, kind, services, metres apart north, east, 1/100 degree)
UNITS: tuple[tuple[str, str, str, tuple[str, ...], int, int], ...] = (
    ("AF-KAB", "02", "physio", (PT, WC), 3, -4),
    ("AF-KAB", "03", "wheelchair", (WC,), -5, 6),
    ("AF-KAB", "04", "psychosocial", (PS,), 4, 5),
    ("AF-HER", "02", "physio", (PT,), 6, 8),
    ("AF-BAL", "02", "wheelchair", (WC, PT), -6, 10),
    ("AF-KAN", "02", "physio", (PT, PS), 5, -7),
    ("AF-NAN", "02", "psychosocial", (PS,), -3, 9),
    ("AF-HEL", "02", "physio", (PT,), 12, 15),
    ("AF-KDZ", "02", "psychosocial", (PS, PT), 7, -6),
    ("AF-GHA", "02", "wheelchair", (WC,), -8, 5),
)
KINDS = {  # kind: (English pattern, Persian pattern)
    "main": ("{} Physical Rehabilitation Centre", "مرکز توانبخشی فزیکی {}"),
    "physio": ("{} Community Physiotherapy Unit", "واحد فزیوتراپی اجتماعی {}"),
    "wheelchair": ("{} Wheelchair Workshop", "ورکشاپ ویلچر {}"),
    "psychosocial": ("{} Psychosocial Support Centre", "مرکز حمایت روانی-اجتماعی {}"),
}
PEOPLE: tuple[PatientValues, ...] = tuple(
    PatientValues(
        case_code=code,
        sex=sex,
        province=province,
        given_fa=given_fa,
        family_fa=family_fa,
        given_latn=given,
        family_latn=family,
        birth_date=born,
        district=district,
        village=village,
    )
    for code, sex, province, given_fa, family_fa, given, family, born, district, village in (
        (
            "HER-1001-DM",
            "male",
            "AF-HER",
            "احمد",
            "رحیمی",
            "Ahmad",
            "Rahimi",
            date(1984, 3, 2),
            "Injil",
            "Deh-e Naw",
        ),
        (
            "HER-1002-DM",
            "female",
            "AF-HER",
            "مریم",
            "نوری",
            "Maryam",
            "Nouri",
            date(1991, 7, 19),
            "Guzara",
            "Siyavashan",
        ),
        (
            "KAB-1003-DM",
            "male",
            "AF-KAB",
            "محمد",
            "کریمی",
            "Mohammad",
            "Karimi",
            date(1976, 11, 5),
            "Paghman",
            "Qala-e Malik",
        ),
        (
            "KAB-1004-DM",
            "female",
            "AF-KAB",
            "فاطمه",
            "احمدی",
            "Fatima",
            "Ahmadi",
            date(2002, 1, 27),
            "Bagrami",
            "Hussain Khel",
        ),
        (
            "KAN-1005-DM",
            "male",
            "AF-KAN",
            "عبدالله",
            "ستانکزی",
            "Abdullah",
            "Stanekzai",
            date(1988, 5, 14),
            "Arghandab",
            "Jelawur",
        ),
        (
            "BAL-1006-DM",
            "female",
            "AF-BAL",
            "زهرا",
            "حسینی",
            "Zahra",
            "Hosseini",
            date(1969, 9, 30),
            "Dehdadi",
            "Kod-e Barq",
        ),
        (
            "NAN-1007-DM",
            "male",
            "AF-NAN",
            "گل‌آغا",
            "شینواری",
            "Gul Agha",
            "Shinwari",
            date(1995, 2, 8),
            "Surkh Rod",
            "Sultanpur",
        ),
        (
            "HEL-1008-DM",
            "male",
            "AF-HEL",
            "نورالله",
            "بارکزی",
            "Noorullah",
            "Barakzai",
            date(1981, 12, 1),
            "Nad-e Ali",
            "Shin Kalay",
        ),
        (
            "BAM-1009-DM",
            "female",
            "AF-BAM",
            "سکینه",
            "محمدی",
            "Sakina",
            "Mohammadi",
            date(1999, 4, 22),
            "Yakawlang",
            "Nayak",
        ),
        (
            "KDZ-1010-DM",
            "male",
            "AF-KDZ",
            "جاوید",
            "صدیقی",
            "Javid",
            "Siddiqi",
            date(1973, 8, 16),
            "Imam Sahib",
            "Aq Tepa",
        ),
        (
            "GHA-1011-DM",
            "female",
            "AF-GHA",
            "لیلا",
            "هاشمی",
            "Laila",
            "Hashimi",
            date(1986, 6, 9),
            "Andar",
            "Miri",
        ),
        (
            "FYB-1012-DM",
            "male",
            "AF-FYB",
            "رحمت‌الله",
            "ازبک",
            "Rahmatullah",
            "Uzbek",
            date(1993, 10, 3),
            "Andkhoy",
            "Qarqin",
        ),
    )
)
# screenings: (case code, day, answers); the conclusion follows each person's findings
AMPUTEE = {
    "tug.performed": "true", "tug.seconds": "18.4", "tug.aid": "crutches",
    "pain.performed": "true", "pain.score": "6",
    "limb-absence.performed": "true", "limb-absence.present": "true",
    "limb-absence.limb.side@1": "left", "limb-absence.limb.level@1": "transtibial",
    "limb-absence.limb.cause@1": "landmine-erw",
    "device.performed": "true", "device.type": ["crutches"],
}  # fmt: skip
SLOW_WALKER = {
    "tug.performed": "true", "tug.seconds": "15.2", "tug.aid": "none",
    "walk10m.performed": "true", "walk10m.distance": "10", "walk10m.seconds": "30",
    "pain.performed": "true", "pain.score": "4",
    "limb-absence.performed": "true", "limb-absence.present": "false",
    "device.performed": "true", "device.type": ["cane"],
}  # fmt: skip
WELL = {
    "tug.performed": "true", "tug.seconds": "9.1", "tug.aid": "none",
    "pain.performed": "true", "pain.score": "1",
    "limb-absence.performed": "true", "limb-absence.present": "false",
    "device.performed": "true", "device.type": ["none"],
}  # fmt: skip
SCREENINGS: tuple[tuple[str, int, dict[str, Any], tuple[str, ...], str], ...] = (
    # case code, days before the run, answers, services concluded, priority
    ("HER-1001-DM", 30, AMPUTEE, (PO, PT, PS), "urgent"),
    ("KAB-1003-DM", 12, AMPUTEE, (PO, PT, PS), "urgent"),
    ("KAN-1005-DM", 9, SLOW_WALKER, (PT,), "routine"),
    ("BAL-1006-DM", 4, SLOW_WALKER, (PT,), "routine"),
    ("BAM-1009-DM", 2, WELL, (), ""),
)
# how far the receiving centre has taken each referral of the first person (Herat, whose
# centre has the demo's centre-staff account); the other referrals wait to be accepted
HERAT_STEPS: dict[str, tuple[Change, ...]] = {
    PO: (
        Change("accepted", business_status="scheduled"),
        Change("in-progress", business_status="attended"),
        Change(
            "completed",
            feedback="Left transtibial prosthesis fitted; gait training in 6 sessions."
            " Walks without crutches. Review in 6 months.",
        ),
    ),
    PT: (Change("accepted", business_status="waiting-list"),),
}
NOT_PERFORMED = ("wgss", "walk10m", "berg", "walk6min", "chair-stand", "barthel", "cause")
USERS: tuple[tuple[str, Role, str, str | None], ...] = (
    ("demo-screener", Role.SCREENER, "Zahra Ahmadi (demo)", None),
    ("demo-clinician", Role.CLINICIAN, "Dr. Farid Haidari (demo)", None),
    ("demo-centre-staff", Role.CENTRE_STAFF, "Nasrin Popal (demo)", "her-01"),
    ("demo-admin", Role.ADMINISTRATOR, "Omid Sharifi (demo)", None),
    ("demo-auditor", Role.AUDITOR, "Hamida Noori (demo)", None),
)
# what the letters print of the health workers: username: (profession, registration number)
# (fictional numbers; the administrator and the auditor write no letters)
WORKERS: dict[str, tuple[str, str]] = {
    "demo-screener": ("community-health-worker", "MoPH-CHW-20731"),
    "demo-clinician": ("physiotherapist", "MoPH-PT-10482"),
    "demo-centre-staff": ("prosthetist-orthotist", "MoPH-PO-30517"),
}


class DemoError(ValueError):
    """The demo cannot be loaded as asked (e.g. a password the rules refuse)."""


@dataclass
class Loaded:
    """What one run added (and what was there already)."""

    centres: int = 0
    users: list[str] = field(default_factory=list)
    existing_users: list[str] = field(default_factory=list)
    patients: int = 0
    screenings: int = 0
    referrals: int = 0


def demo_centres() -> list[CentreValues]:
    """The centres of the demo directory: one in every province and ten second units."""
    centres = [_centre(p, "01", "main", _main_services(p), 0, 0) for p in CAPITALS]
    centres += [_centre(*unit) for unit in UNITS]
    return centres


def _main_services(province: str) -> tuple[str, ...]:
    """What the main centre of a province offers."""
    services = [PT]
    if province in PROSTHETICS:
        services.insert(0, PO)
    if province in FULL:
        services += [WC, PS]
    return tuple(services)


def _centre(
    province: str, suffix: str, kind: str, services: tuple[str, ...], north: int, east: int
) -> CentreValues:
    """One centre near the capital of a province."""
    city, city_fa, road, lat, lon = CAPITALS[province]
    prefix = BY_CODE[province].prefix
    name_en, name_fa = KINDS[kind]
    number = sorted(CAPITALS).index(province) * 10 + int(suffix)
    return CentreValues(
        code=f"{prefix}-{suffix}",
        name_en=name_en.format(city),
        name_fa=name_fa.format(city_fa),
        province=province,
        district=city,
        city=city,
        line=road,
        phone=f"+93 20 000 {number:04d}",
        services=services,
        days=LONG_WEEK if kind == "main" else WORK_WEEK,
        latitude=Decimal(f"{lat + north / 100:.2f}"),
        longitude=Decimal(f"{lon + east / 100:.2f}"),
    )


def check_password(password: str) -> None:
    """Refuse a password the account rules refuse, before anything is loaded."""
    problem = password_problem(password)
    if problem:
        raise DemoError(problem)


def load_demo(
    state: AppState,
    principal: Principal,
    base_url: str,
    password: str,
    say: Callable[[str], None] = print,
) -> Loaded:
    """Load what is not there yet of the demo data set; what was added."""
    check_password(password)
    send = partial(perform, state, principal, base_url=base_url)
    loaded = Loaded()
    directory = Directory(send)
    loaded.centres = sum(directory.load(values) for values in demo_centres())
    say(f"Centres added: {loaded.centres} (directory of {len(demo_centres())}).")
    _load_users(state, password, loaded)
    ids = {values.case_code: _patient(send, values) for values in PEOPLE}
    loaded.patients = sum(1 for _, new in ids.values() if new)
    say(f"Patients added: {loaded.patients} (of {len(PEOPLE)}).")
    today = date.today()
    for case_code, days, answers, services, priority in SCREENINGS:
        patient_id = ids[case_code][0]
        day = today - timedelta(days=days)
        if first_of(send, "QuestionnaireResponse", patient_id) is None:
            _screen(state, principal, base_url, patient_id, day, answers, services, priority)
            loaded.screenings += 1
    say(f"Screenings added: {loaded.screenings} (of {len(SCREENINGS)}).")
    loaded.referrals = _load_referrals(state, base_url, ids)
    say(f"Referrals added: {loaded.referrals}.")
    return loaded


def _load_referrals(state: AppState, base_url: str, ids: dict[str, tuple[str, bool]]) -> int:
    """The demo clinician refers every screened person whose screening asks for it (to the
    suggested centres, written on the screening's day); the Herat centre's staff then take
    the first person's referrals along. How many referrals were added."""
    clinician = demo_user(state, "demo-clinician")
    send = partial(perform, state, clinician, base_url=base_url)
    added = 0
    for case_code, days, _, services, priority in SCREENINGS:
        patient_id = ids[case_code][0]
        if not services or first_of(send, "ServiceRequest", patient_id):
            continue
        response_id = str(first_of(send, "QuestionnaireResponse", patient_id))
        basis = load_basis(send, response_id, Decimal(state.config.tug_cutoff))
        requester = practitioner_reference(state, base_url, account_worker(state, USERS[1][0]))
        referral = Referral(
            patient=f"Patient/{patient_id}",
            requester=requester,
            encounter=basis.encounter,
            screening=f"QuestionnaireResponse/{response_id}",
            evidence=basis.evidence,
            legs=tuple(Leg(s, _centre_for(basis, s), "") for s in services),
            priority=priority,
            reasons=coded_reasons(
                state.fhir.registry, [c for s in services for c in _codes(basis, s)]
            ),
            reason_text="; ".join(r.text for g in basis.reading.suggestions for r in g.why),
            consent=Consent("patient"),
            sensitive=False,
            authored=f"{(date.today() - timedelta(days=days)).isoformat()}T05:30:00Z",
        )
        created = create_referral(send, referral, basis.province)
        added += len(created)
        if case_code == SCREENINGS[0][0]:
            _take_along(state, base_url, created)
    return added


def _centre_for(basis: Basis, service: str) -> str:
    """The suggested centre, or the demo staff's centre when it offers the service (so
    the demo's centre-staff account has referrals to work on)."""
    offering = [c.fhir_id for c in basis.centres[service]]
    return USERS[2][3] if USERS[2][3] in offering[:3] else offering[0]


def _codes(basis: Basis, service: str) -> tuple[str, ...]:
    return reason_codes(basis.reading.suggestions, service)


def _take_along(state: AppState, base_url: str, request_ids: list[str]) -> None:
    """The Herat centre's staff move the first person's referrals (HERAT_STEPS)."""
    staff = demo_user(state, "demo-centre-staff")
    send = partial(perform, state, staff, base_url=base_url)
    worker = account_worker(state, USERS[2][0])
    actor = Actor(practitioner_reference(state, base_url, worker), USERS[2][2])
    for request_id in request_ids:
        try:
            case = read_case(send, request_id)
        except NotFound:
            continue  # sent to another centre: hidden from this one
        service = str(((case.request.get("code") or {}).get("coding") or [{}])[0].get("code"))
        for change in HERAT_STEPS.get(service, ()):
            record_step(send, case, change, actor, utcnow())
            case = read_case(send, request_id)


def first_of(send: Callable[[FhirRequest], Any], res_type: str, patient_id: str) -> str | None:
    """The id of one of the person's resources of a type (a screening, a referral), if any."""
    query = [("subject", f"Patient/{patient_id}"), ("_count", "1")]
    found = resources(send(FhirRequest("GET", res_type, query=query)).body or {})
    return str(found[0]["id"]) if found else None


def demo_user(state: AppState, username: str) -> Principal:
    """The principal of a demo account."""
    with unit_of_work(state, write=False) as session:
        user = find_user(session, username)
        if user is None:
            raise DemoError(f"the demo account {username} is missing")
        return user_principal(user, None)


def _load_users(state: AppState, password: str, loaded: Loaded) -> None:
    """One account of every role (an existing account is left as it is)."""
    with unit_of_work(state, write=True) as session:
        for username, role, full_name, centre in USERS:
            if find_user(session, username) is not None:
                loaded.existing_users.append(username)
                continue
            user = create_user(
                session, username, role, password, organization=centre, full_name=full_name
            )
            profession, registration = WORKERS.get(username, ("", ""))
            set_details(user, registration, profession)
            loaded.users.append(username)


def _patient(send: Callable[[FhirRequest], Any], values: PatientValues) -> tuple[str, bool]:
    """The id of the person with the case code (created when missing), and whether new."""
    criteria = urlencode([("case-code", f"{CASE_CODE_SYSTEM}|{values.case_code}")])
    body = build_patient(values, date(2025, 3, 1))
    response = send(FhirRequest("POST", "Patient", body=body, if_none_exist=criteria))
    return str((response.body or {})["id"]), response.status == 201


def _screen(
    state: AppState,
    principal: Principal,
    base_url: str,
    patient_id: str,
    day: date,
    answers: dict[str, Any],
    services: tuple[str, ...],
    priority: str,
) -> str:
    """Record one screening as the demo screener would enter it in the form."""
    form = form_of(state.fhir.registry, FIELD_SCREENING)
    posted: dict[str, Any] = {
        **{f"{group}.performed": "false" for group in NOT_PERFORMED},
        **answers,
        "conclusion.referral-needed": "true" if services else "false",
    }
    if services:
        posted |= {"conclusion.service": list(services), "conclusion.priority": priority}
    as_lists = {k: v if isinstance(v, list) else [v] for k, v in posted.items()}
    checked = questionnaire_form(form, "en").check(as_lists)
    if not checked.valid:
        raise DemoError(f"demo screening does not check: {sorted(checked.errors)}")
    screener = Screener(principal, USERS[0][0], USERS[0][2])
    place = Place(*_home(patient_id, state, principal, base_url))
    return record_screening(state, base_url, screener, Visit(patient_id, place, day), form, checked)


def _home(patient_id: str, state: AppState, principal: Principal, base_url: str) -> list[str]:
    """Province, district and village of the person's address (where they were screened)."""
    req = FhirRequest("GET", f"Patient/{patient_id}")
    patient = perform(state, principal, req, base_url).body or {}
    address = (patient.get("address") or [{}])[0]
    return [str(address.get(k) or "") for k in ("state", "district", "city")]

"""What a printed referral letter says, in one language: every line worked out from the
referral's resources, ready for the template (which only lays it out). Pure; no Flask.

The letter's dates are those of the records (written, screened, consented), never the day
it is printed, so the same resource versions always read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from screening.auth.professions import REGISTRATION_SYSTEM
from screening.fhir.packages import Registry
from screening.letters.sources import Sources, versioned
from screening.patients.history import Labels
from screening.patients.provinces import province_by_name
from screening.patients.resource import (
    CASE_CODE_SYSTEM,
    NATIONAL_ID_SYSTEM,
    identifier,
    phone_of,
)
from screening.referrals.directory import CENTRE_CODE_SYSTEM, organization_name
from screening.screenings.findings import read_screening
from screening.screenings.service import person_of
from screening.screenings.wording import Wording
from screening.web.calendar import show_date
from screening.web.i18n import direction, localize_digits

LIMB_ABSENCE = "limb-absence"
DEVICE_USE = "assistive-device-use"
WITHIN = {"routine": "2w", "urgent": "72h", "asap": "24h", "stat": "24h"}


@dataclass(frozen=True)
class Finding:
    """One line of the findings: what, the result in words, whether it is flagged."""

    what: str
    text: str
    flagged: bool = False


@dataclass(frozen=True)
class Letter:
    """Everything one letter prints, in its language."""

    lang: str
    dir: str
    number: str
    issued: str  # the referral's date: Solar Hijri with Gregorian beside it, or Gregorian
    issuer: str
    issued_at: str
    priority: str  # routine | urgent | asap | stat
    within: str  # 24h | 72h | 2w
    sensitive: bool
    case_code: str
    person: list[tuple[str, str]]  # (label key, value)
    service: str
    reasons: list[str]
    reason_text: str
    screened: str  # date of the screening
    findings: list[Finding]
    limbs: list[str]
    devices: list[str]
    consent_by: str  # the person's name, or the guardian's, or '' (sensitive)
    consent_guardian: bool
    consent_date: str
    consent_until: str
    referrer: str
    profession: str
    registration: str
    centre: str
    centre_code: str
    centre_address: list[str]
    centre_phone: str
    source: str  # ServiceRequest/<id>/_history/<n> · Task/<id>/_history/<n>
    task_status: str
    fhir_reference: str  # the absolute, versioned FHIR reference of the referral


@dataclass(frozen=True)
class Setting:
    """What the letter needs from the installation: its words and names."""

    registry: Registry
    wording: Wording
    issuer: str
    tug_cutoff: Decimal
    zone: str
    base: str  # public base URL of /fhir


def compose(sources: Sources, setting: Setting) -> Letter:
    """The letter of a referral in the wording's language."""
    lang = setting.wording.lang
    labels = Labels(setting.registry, lang)
    request = sources.request
    authored = str(request.get("authoredOn") or "")
    consent_by, guardian = _consenter(sources)
    reason = (request.get("reasonCode") or [{}])[0]
    return Letter(
        lang=lang,
        dir=direction(lang),
        number=sources.number,
        issued=both_calendars(local_day(authored, setting.zone), lang),
        issuer=setting.issuer,
        issued_at=_place_name(sources.place),
        priority=str(request.get("priority") or "routine"),
        within=WITHIN.get(str(request.get("priority")), "2w"),
        sensitive=sources.sensitive,
        case_code=identifier(sources.patient, CASE_CODE_SYSTEM),
        person=_person(sources, lang, setting),
        service=labels.concept(request.get("code") or {}),
        reasons=[labels.concept({"coding": [c]}) for c in reason.get("coding", [])],
        reason_text=str(reason.get("text") or ""),
        screened=both_calendars(
            local_day(str(sources.screening.get("authored") or ""), setting.zone), lang
        ),
        findings=_findings(sources, setting),
        limbs=_evidence_texts(sources, LIMB_ABSENCE, setting.wording),
        devices=_evidence_texts(sources, DEVICE_USE, setting.wording),
        consent_by="" if sources.sensitive and not guardian else consent_by,
        consent_guardian=guardian,
        consent_date=show_date(
            local_day(str(sources.consent.get("dateTime") or ""), setting.zone), lang
        ),
        consent_until=show_date(_consent_end(sources.consent), lang),
        referrer=_name(sources.requester),
        profession=_profession(sources.requester, labels),
        registration=identifier(sources.requester, REGISTRATION_SYSTEM),
        centre=organization_name(sources.centre, lang),
        centre_code=identifier(sources.centre, CENTRE_CODE_SYSTEM),
        centre_address=_address_lines(sources.centre_location, lang),
        centre_phone=phone_of(sources.centre_location) or phone_of(sources.centre),
        source=" · ".join(versioned(r) for r in (request, sources.task) if r.get("id")),
        task_status=str(sources.task.get("status") or ""),
        fhir_reference=f"{setting.base}/{versioned(request)}",
    )


def both_calendars(value: str, lang: str) -> str:
    """A FHIR date(Time) as the letter prints it: on Persian letters the Solar Hijri date
    with the Gregorian date beside it, on English ones the Gregorian date."""
    if not value:
        return ""
    if lang != "fa":
        return show_date(value, "en")
    return f"{show_date(value, 'fa')} ({localize_digits(value[:10].replace('-', '/'), 'fa')})"


def local_day(value: str, zone: str) -> str:
    """The day of a FHIR dateTime in the installation's time zone (a date as it is)."""
    if len(value) <= 10:
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment.astimezone(ZoneInfo(zone)) if moment.tzinfo else moment).date().isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return value[:10]


def _person(sources: Sources, lang: str, setting: Setting) -> list[tuple[str, str]]:
    """The person's identification lines: only the case code, sex and age when the
    referral is sensitive."""
    patient = sources.patient
    lines = [("letter.case_code", identifier(patient, CASE_CODE_SYSTEM))]
    if not sources.sensitive:
        lines.insert(0, ("letter.name", _name(patient)))
        lines.append(("letter.national_id", identifier(patient, NATIONAL_ID_SYSTEM)))
        lines.append(("letter.birth_date", show_date(str(patient.get("birthDate") or ""), lang)))
    age = _age(sources)
    lines.append(("letter.sex", _sex(patient, setting.wording)))
    lines.append(("letter.age", localize_digits(age, lang) if age is not None else ""))
    if not sources.sensitive:
        lines.append(("letter.home", _home(patient)))
        lines.append(("letter.phone", phone_of(patient)))
    return [(key, value) for key, value in lines if value]


def _sex(patient: dict[str, Any], wording: Wording) -> str:
    """The administrative gender as the patient pages name it ("Male", not "man")."""
    gender = str(patient.get("gender") or "")
    key = f"patients.sex.{gender}"
    return wording.catalogue.text(wording.lang, key) if gender else ""


def _age(sources: Sources) -> int | None:
    """Age in whole years on the day of the screening (so the letter never changes)."""
    day = _day(str(sources.screening.get("authored") or sources.request.get("authoredOn") or ""))
    return person_of(sources.patient, day).age


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _findings(sources: Sources, setting: Setting) -> list[Finding]:
    """What the screening found, instrument by instrument, flagged ones first."""
    if not sources.screening:
        return []
    person = person_of(sources.patient, _day(str(sources.screening.get("authored") or "")))
    reading = read_screening(sources.screening, person, setting.tug_cutoff)
    wording = setting.wording
    found = [
        Finding(
            what=wording.catalogue.text(wording.lang, f"instrument.{f.instrument}"),
            text=wording.sentence(f.note),
            flagged=f.flagged,
        )
        for f in reading.findings
    ]
    return sorted(found, key=lambda f: not f.flagged)


def _evidence_texts(sources: Sources, profile: str, wording: Wording) -> list[str]:
    """Limb absence or devices in use, from the records the referral gives as reasons."""
    texts = []
    for resource in sources.evidence:
        profiles = (resource.get("meta") or {}).get("profile") or []
        if not any(str(p).endswith(f"/StructureDefinition/{profile}") for p in profiles):
            continue
        if resource["resourceType"] == "Condition":
            texts.append(wording.condition_value(resource))
        else:
            texts.append(wording.observation_value(resource))
    return [t for t in texts if t]


def _consenter(sources: Sources) -> tuple[str, bool]:
    """Who agreed to share: (the person's name, False) or (the guardian, True)."""
    performer = (sources.consent.get("performer") or [{}])[0]
    if str(performer.get("reference") or "").startswith("Patient/"):
        return _name(sources.patient), False
    display = str(performer.get("display") or "").removesuffix("(guardian)").strip()
    return display, True


def _consent_end(consent: dict[str, Any]) -> str:
    return str(((consent.get("provision") or {}).get("period") or {}).get("end") or "")


def _name(resource: dict[str, Any]) -> str:
    """A person's names (each script once), joined with ' / '."""
    names = []
    for name in resource.get("name", []):
        text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")])
        if text.strip() and text.strip() not in names:
            names.append(text.strip())
    return " / ".join(names)


def _profession(practitioner: dict[str, Any], labels: Labels) -> str:
    qualification = (practitioner.get("qualification") or [{}])[0]
    return labels.concept(qualification.get("code") or {}) if qualification else ""


def _address_lines(location: dict[str, Any], lang: str) -> list[str]:
    """A centre's address: street line, then city and district, then province."""
    address = location.get("address") or {}
    lines = [*address.get("line", [])]
    town = ", ".join(dict.fromkeys(str(address[k]) for k in ("city", "district") if address.get(k)))
    if town:
        lines.append(town)
    if address.get("state"):
        lines.append(_province_name(str(address["state"]), lang))
    return list(dict.fromkeys(str(line) for line in lines if line))


def _province_name(state: str, lang: str) -> str:
    found = province_by_name(state)
    return found.name(lang) if found else state


def _home(patient: dict[str, Any]) -> str:
    address = (patient.get("address") or [{}])[0]
    parts = [str(address[k]) for k in ("city", "district") if address.get(k)]
    if address.get("state"):
        parts.append(str(address["state"]))
    return ", ".join(parts)


def _place_name(place: dict[str, Any]) -> str:
    address = place.get("address") or {}
    parts = [str(place.get("name") or "")]
    parts += [str(address[k]) for k in ("district", "state") if address.get(k)]
    return ", ".join(dict.fromkeys(p for p in parts if p))

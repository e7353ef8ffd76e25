"""A screened person's details as plain values, and the FHIR Patient (IG profile
`screened-person`) they make. No Flask.

Mapping (see `fhir_profiles/StructureDefinition-screened-person.json` and the examples):
- names: one HumanName per script, `use` official, the `language` extension `fa` (Persian
  script) or `fa-Latn` (Latin transliteration), `given`, `family` and `text`;
- case code and national ID: `identifier` slices with their systems;
- birth: `birthDate` (a whole date), or the `estimated-age` extension (UCUM `a`) with the
  estimated year of birth in `birthDate`;
- address: one `home` address: province (English name) in `state`, `district`, village in
  `city`, country `AF`;
- phone: `telecom` phone (mobile); guardian: a `contact` with relationship v3-RoleCode
  GUARD beside v2-0131 N and the family relation (FTH, MTH, ...), name text and phone.
An edit keeps everything of the stored resource that the form does not manage (other
identifiers, names, extensions, contacts); the narrative is generated from the values and
names no one (case code, sex, birth, province).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import date
from html import escape
from typing import Any

from screening.fhir.searchset import CANONICAL
from screening.patients.provinces import Province, province_by_code, province_by_name

PROFILE = f"{CANONICAL}/StructureDefinition/screened-person"
CASE_CODE_SYSTEM = f"{CANONICAL}/sid/case-code"
NATIONAL_ID_SYSTEM = f"{CANONICAL}/sid/national-id"
ESTIMATED_AGE = f"{CANONICAL}/StructureDefinition/estimated-age"
LANGUAGE = "http://hl7.org/fhir/StructureDefinition/language"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
UCUM = "http://unitsofmeasure.org"
SCRIPTS = {"fa": "fa", "latn": "fa-Latn"}  # form suffix -> language extension code
SEXES = ("male", "female", "other", "unknown")
ADULT_AGE = 18
# guardian relationship (form value) -> v3-RoleCode code and display
RELATIONSHIPS: dict[str, tuple[str, str]] = {
    "father": ("FTH", "father"),
    "mother": ("MTH", "mother"),
    "grandparent": ("GRPRN", "grandparent"),
    "sibling": ("SIB", "sibling"),
    "uncle": ("UNCLE", "uncle"),
    "aunt": ("AUNT", "aunt"),
    "relative": ("EXT", "extended family member"),
    "other": ("GUARD", "guardian"),
}
_RELATION_OF_CODE = {code: name for name, (code, _) in RELATIONSHIPS.items() if code != "GUARD"}


@dataclass(frozen=True)
class PatientValues:
    """What the register and edit forms hold, checked and typed (digits already Latin)."""

    case_code: str
    sex: str
    province: str  # ISO 3166-2 code, e.g. AF-HER
    given_fa: str = ""
    family_fa: str = ""
    given_latn: str = ""
    family_latn: str = ""
    national_id: str = ""
    birth_date: date | None = None
    estimated_age: int | None = None
    district: str = ""
    village: str = ""
    phone: str = ""
    guardian_name: str = ""
    guardian_relationship: str = ""
    guardian_phone: str = ""

    @property
    def has_guardian(self) -> bool:
        """Whether any guardian detail was given."""
        return bool(self.guardian_name or self.guardian_relationship or self.guardian_phone)


# ------------------------------------------------------------------------- ages


def age_on(birth: date, today: date) -> int:
    """Whole years from `birth` to `today`."""
    before_birthday = (today.month, today.day) < (birth.month, birth.day)
    return today.year - birth.year - int(before_birthday)


def is_minor(birth_date: date | None, estimated_age: int | None, today: date) -> bool:
    """Whether the person is under 18, by date of birth or the estimated age."""
    if birth_date is not None:
        return age_on(birth_date, today) < ADULT_AGE
    return estimated_age is not None and estimated_age < ADULT_AGE


def birth_year(resource: dict[str, Any]) -> int | None:
    """The year of `birthDate`, or None."""
    text = str(resource.get("birthDate") or "")
    return int(text[:4]) if text[:4].isdigit() else None


def current_age(resource: dict[str, Any], today: date) -> int | None:
    """The age in years now: exact from a whole birth date, else from the birth year."""
    text = str(resource.get("birthDate") or "")
    if len(text) == 10:
        return age_on(date.fromisoformat(text), today)
    year = birth_year(resource)
    return today.year - year if year is not None else None


def estimated_age(resource: dict[str, Any]) -> int | None:
    """The value of the estimated-age extension, or None."""
    for ext in resource.get("extension") or []:
        if ext.get("url") == ESTIMATED_AGE:
            value = (ext.get("valueAge") or {}).get("value")
            return int(value) if isinstance(value, (int, float)) else None
    return None


# ----------------------------------------------------------- values -> resource


def build_patient(
    values: PatientValues, today: date, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Patient of `values`; on an edit, `previous` (the stored resource) keeps what the
    form does not manage."""
    resource: dict[str, Any] = copy.deepcopy(previous) if previous else {"resourceType": "Patient"}
    resource["meta"] = _meta(resource.get("meta"))
    resource["identifier"] = _identifiers(values, resource.get("identifier") or [])
    _set(resource, "name", _names(values, resource.get("name") or []))
    _set(resource, "telecom", _telecom(values.phone, resource.get("telecom") or []))
    resource["gender"] = values.sex
    _set_birth(resource, values, today, previous)
    resource["address"] = _addresses(values, resource.get("address") or [])
    _set(resource, "contact", _contacts(values, resource.get("contact") or []))
    resource["text"] = _narrative(values, resource)
    return _ordered(resource)


def _set(resource: dict[str, Any], key: str, value: list[Any]) -> None:
    """Set a list element, or leave it out when empty (FHIR has no empty arrays)."""
    if value:
        resource[key] = value
    else:
        resource.pop(key, None)


def _meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """meta with the profile claimed (and without the server-kept version fields)."""
    kept = {k: v for k, v in (meta or {}).items() if k not in ("versionId", "lastUpdated")}
    profiles = [p for p in kept.get("profile") or [] if p != PROFILE]
    kept["profile"] = [PROFILE, *profiles]
    return kept


def _identifiers(values: PatientValues, old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Case code first, the national ID if given, then any other identifiers as they were."""
    managed = (CASE_CODE_SYSTEM, NATIONAL_ID_SYSTEM)
    found = [{"system": CASE_CODE_SYSTEM, "value": values.case_code}]
    if values.national_id:
        found.append({"system": NATIONAL_ID_SYSTEM, "value": values.national_id})
    return found + [i for i in old if i.get("system") not in managed]


def _names(values: PatientValues, old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One HumanName per script that has a name, then the other names as they were."""
    found = []
    for suffix, code in SCRIPTS.items():
        given, family = getattr(values, f"given_{suffix}"), getattr(values, f"family_{suffix}")
        if given or family:
            found.append(_human_name(code, given, family))
    kept = [n for n in old if _script_of(n) not in SCRIPTS.values()]
    return found + kept


def _human_name(script: str, given: str, family: str) -> dict[str, Any]:
    """A HumanName in one script."""
    name: dict[str, Any] = {
        "extension": [{"url": LANGUAGE, "valueCode": script}],
        "use": "official",
        "text": " ".join(part for part in (given, family) if part),
    }
    if family:
        name["family"] = family
    if given:
        name["given"] = [given]
    return name


def _script_of(name: dict[str, Any]) -> str | None:
    """The language extension code of a HumanName, or None."""
    for ext in name.get("extension") or []:
        if ext.get("url") == LANGUAGE:
            return str(ext.get("valueCode"))
    return None


def _telecom(phone: str, old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The phone (first), then the other contact points as they were."""
    others = [t for t in old if t.get("system") != "phone"]
    older_phones = [t for t in old if t.get("system") == "phone"][1:]
    mine = [{"system": "phone", "value": phone, "use": "mobile"}] if phone else []
    return mine + older_phones + others


def _set_birth(
    resource: dict[str, Any], values: PatientValues, today: date, previous: dict[str, Any] | None
) -> None:
    """birthDate and the estimated-age extension from the date or the estimate."""
    extensions = [e for e in resource.get("extension") or [] if e.get("url") != ESTIMATED_AGE]
    if values.birth_date is not None:
        resource["birthDate"] = values.birth_date.isoformat()
    elif values.estimated_age is not None:
        resource["birthDate"] = _estimated_birth(values.estimated_age, today, previous)
        extensions.insert(0, _age_extension(values.estimated_age))
    _set(resource, "extension", extensions)


def _estimated_birth(age: int, today: date, previous: dict[str, Any] | None) -> str:
    """The estimated year of birth; a stored birthDate in that year stays as precise as it
    was (an unchanged estimate does not drop a known month)."""
    year = today.year - age
    kept = str((previous or {}).get("birthDate") or "")
    return kept if kept[:4] == f"{year:04d}" else f"{year:04d}"


def _age_extension(age: int) -> dict[str, Any]:
    """The estimated-age extension (years, UCUM `a`)."""
    value = {"value": age, "unit": "years", "system": UCUM, "code": "a"}
    return {"url": ESTIMATED_AGE, "valueAge": value}


def _addresses(values: PatientValues, old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The home address (first), then the other addresses as they were."""
    province = province_by_code(values.province)
    address: dict[str, Any] = {"use": "home"}
    if values.village:
        address["city"] = values.village
    if values.district:
        address["district"] = values.district
    address["state"] = province.en if province else values.province
    address["country"] = "AF"
    home = next((a for a in old if a.get("use") == "home"), old[0] if old else None)
    return [address, *(a for a in old if a is not home)]


def _contacts(values: PatientValues, old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The guardian (first, when given), then the other contacts as they were; what the
    form does not show of a stored guardian (a relationship text, an address) stays."""
    before = next((c for c in old if _is_guardian(c)), None)
    others = [c for c in old if c is not before]
    if not values.has_guardian:
        return others
    contact = copy.deepcopy(before) if before else {}
    if before is None or _relation(before) != values.guardian_relationship:
        contact["relationship"] = [_relationship(values.guardian_relationship)]
    if (contact.get("name") or {}).get("text") != values.guardian_name:
        contact.pop("name", None)
        if values.guardian_name:
            contact["name"] = {"text": values.guardian_name}
    _set(contact, "telecom", _telecom(values.guardian_phone, contact.get("telecom") or []))
    return [contact, *others]


def _relationship(relation: str) -> dict[str, Any]:
    """GUARD and next-of-kin, with the family relation when it is one."""
    codings = [
        {"system": ROLE_CODE, "code": "GUARD", "display": "guardian"},
        {"system": CONTACT_ROLE, "code": "N", "display": "Next-of-Kin"},
    ]
    code, display = RELATIONSHIPS.get(relation, ("GUARD", "guardian"))
    if code != "GUARD":
        codings.insert(1, {"system": ROLE_CODE, "code": code, "display": display})
    return {"coding": codings}


def _is_guardian(contact: dict[str, Any]) -> bool:
    """Whether a contact has the relationship GUARD."""
    return any(
        coding.get("system") == ROLE_CODE and coding.get("code") == "GUARD"
        for concept in contact.get("relationship") or []
        for coding in concept.get("coding") or []
    )


def _narrative(values: PatientValues, resource: dict[str, Any]) -> dict[str, Any]:
    """A generated narrative that names no one: case code, sex, birth, province."""
    birth = str(resource.get("birthDate", ""))
    parts = [f"Case code {values.case_code}", values.sex]
    if values.estimated_age is not None and values.birth_date is None:
        parts.append(f"about {values.estimated_age} years old (born about {birth[:4]})")
    elif birth:
        parts.append(f"born {birth}")
    parts.append(str(resource["address"][0]["state"]))
    div = escape("; ".join(parts))
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{div}</div>'}


ORDER = (
    "resourceType",
    "id",
    "meta",
    "text",
    "extension",
    "identifier",
    "active",
    "name",
    "telecom",
    "gender",
    "birthDate",
    "address",
    "contact",
)


def _ordered(resource: dict[str, Any]) -> dict[str, Any]:
    """The elements in the order of the specification (the JSON reads as FHIR does)."""
    first = {k: resource[k] for k in ORDER if k in resource}
    return {**first, **{k: v for k, v in resource.items() if k not in first}}


# ----------------------------------------------------------- resource -> values


def values_of(resource: dict[str, Any], today: date) -> PatientValues:
    """The form values of a stored Patient (a partial birth date shows as an age)."""
    names = {_script_of(n): n for n in resource.get("name") or []}
    guardian: dict[str, Any] = next(
        (c for c in resource.get("contact") or [] if _is_guardian(c)), {}
    )
    birth = str(resource.get("birthDate") or "")
    whole = date.fromisoformat(birth) if len(birth) == 10 else None
    address = _home(resource)
    values = PatientValues(
        case_code=identifier(resource, CASE_CODE_SYSTEM),
        sex=str(resource.get("gender") or ""),
        province=_province_code(str(address.get("state") or "")),
        national_id=identifier(resource, NATIONAL_ID_SYSTEM),
        birth_date=whole,
        estimated_age=None if whole else current_age(resource, today),
        district=str(address.get("district") or ""),
        village=str(address.get("city") or ""),
        phone=phone_of(resource),
        guardian_name=str((guardian.get("name") or {}).get("text") or ""),
        guardian_relationship=_relation(guardian) if guardian else "",
        guardian_phone=phone_of(guardian),
    )
    return _with_names(values, names)


def _with_names(values: PatientValues, names: dict[str | None, dict[str, Any]]) -> PatientValues:
    """`values` with the given and family names of each script."""
    found: dict[str, Any] = {}
    for suffix, code in SCRIPTS.items():
        name = names.get(code) or {}
        found[f"given_{suffix}"] = " ".join(name.get("given") or [])
        found[f"family_{suffix}"] = str(name.get("family") or "")
    return replace(values, **found)


def identifier(resource: dict[str, Any], system: str) -> str:
    """The value of the first identifier of a system, or ''."""
    for item in resource.get("identifier") or []:
        if item.get("system") == system:
            return str(item.get("value") or "")
    return ""


def _home(resource: dict[str, Any]) -> dict[str, Any]:
    """The home address (or the first one), or {}."""
    addresses = resource.get("address") or []
    home = next((a for a in addresses if a.get("use") == "home"), None)
    found: dict[str, Any] = home or (addresses[0] if addresses else {})
    return found


def _province_code(state: str) -> str:
    """The ISO code of a province's English name ('' when unknown)."""
    province = province_by_name(state)
    return province.code if province else ""


def province_of(resource: dict[str, Any]) -> Province | None:
    """The province of the home address, or None."""
    return province_by_name(str(_home(resource).get("state") or ""))


def phone_of(resource: dict[str, Any]) -> str:
    """The first phone number of a resource's telecom, or ''."""
    telecom = resource.get("telecom") or []
    return next((str(t.get("value") or "") for t in telecom if t.get("system") == "phone"), "")


def _relation(contact: dict[str, Any]) -> str:
    """The form value of a guardian's family relation ('other' when none is coded)."""
    for concept in contact.get("relationship") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == ROLE_CODE and coding.get("code") in _RELATION_OF_CODE:
                return _RELATION_OF_CODE[str(coding["code"])]
    return "other"


def name_in(resource: dict[str, Any], script: str) -> str:
    """The name written in a script (`fa` or `fa-Latn`), or ''."""
    for name in resource.get("name") or []:
        if _script_of(name) == script:
            parts = [*(name.get("given") or []), name.get("family") or ""]
            return str(name.get("text") or " ".join(p for p in parts if p))
    return ""


def untagged_name(resource: dict[str, Any]) -> str:
    """The first name without a script tag (a resource sent by another system), or ''."""
    for name in resource.get("name") or []:
        if _script_of(name) is None:
            parts = [*(name.get("given") or []), name.get("family") or ""]
            return str(name.get("text") or " ".join(p for p in parts if p))
    return ""

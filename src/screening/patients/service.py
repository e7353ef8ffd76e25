"""Registering, changing, finding and reading screened persons. No Flask.

Every read and write goes through the FHIR door (`send`: `api.door.perform` bound to the
signed-in principal), so the pages get the API's validation, access rules and audit trail:
a duplicate check, a search and a read are each an audited search or read. FhirErrors
(NotFound, Forbidden, ...) pass through to the page boundary.

Case codes are unique: a code used by another person is refused. A registration without
one gets `<province letters>-<4 digits>-<2 letters>` (e.g. `HER-0427-KX`, from the
province's ISO 3166-2 code), drawn again if it is taken. Likely duplicates (same name in
either script and birth year within two years, or the same national ID) are shown to the
user, who registers anyway only by saying so.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from screening.api.messages import FhirRequest, FhirResponse
from screening.fhir.outcome import Conflict, Gone, PreconditionFailed
from screening.fhir.searchset import resources, version_of
from screening.fhir.text import normalize_string
from screening.patients.provinces import Province, province_by_code
from screening.patients.resource import (
    CASE_CODE_SYSTEM,
    NATIONAL_ID_SYSTEM,
    SCRIPTS,
    PatientValues,
    birth_year,
    build_patient,
    current_age,
    estimated_age,
    identifier,
    name_in,
    province_of,
    untagged_name,
)

Send = Callable[[FhirRequest], FhirResponse]
PAGE_SIZE = 25
DUPLICATE_LIMIT = 50
BIRTH_YEAR_SLACK = 2
MAX_WORDS = 5
CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: they read as 1 and 0 on paper
CODE_TRIES = 8
_DIGIT = re.compile(r"\d")


class CaseCodeTaken(Exception):
    """The case code belongs to another person."""


class LikelyDuplicates(Exception):
    """People who may be the one being registered; `values` holds the case code drawn."""

    def __init__(self, matches: list[PatientRow], values: PatientValues) -> None:
        super().__init__("likely duplicates")
        self.matches = matches
        self.values = values


class EditConflict(Exception):
    """The person was changed by someone else since the form was loaded."""


@dataclass(frozen=True)
class PatientRow:
    """One person as lists show them."""

    fhir_id: str
    case_code: str
    name_fa: str
    name_latn: str
    other_name: str
    sex: str
    age: int | None
    age_estimated: bool
    birth_date: str
    province: Province | None
    state: str
    national_id: str


@dataclass(frozen=True)
class Record:
    """A stored Patient and its version (the If-Match of an edit)."""

    resource: dict[str, Any]
    version: int
    row: PatientRow


@dataclass(frozen=True)
class Found:
    """One page of a search, and where the other pages are."""

    rows: list[PatientRow]
    total: int
    offset: int
    snapshot: str | None
    next_offset: int | None
    previous_offset: int | None


def row_of(resource: dict[str, Any], today: date) -> PatientRow:
    """The list row of a Patient."""
    address = (resource.get("address") or [{}])[0]
    return PatientRow(
        fhir_id=str(resource.get("id", "")),
        case_code=identifier(resource, CASE_CODE_SYSTEM),
        name_fa=name_in(resource, SCRIPTS["fa"]),
        name_latn=name_in(resource, SCRIPTS["latn"]),
        other_name=untagged_name(resource),
        sex=str(resource.get("gender") or "unknown"),
        age=current_age(resource, today),
        age_estimated=len(str(resource.get("birthDate") or "")) != 10
        or estimated_age(resource) is not None,
        birth_date=str(resource.get("birthDate") or ""),
        province=province_of(resource),
        state=str(address.get("state") or ""),
        national_id=identifier(resource, NATIONAL_ID_SYSTEM),
    )


# ------------------------------------------------------------------ query building


def escape_token(value: str) -> str:
    """A token search value matched literally (its commas and pipes escaped)."""
    return escape_string(value).replace("|", "\\|")


def escape_string(value: str) -> str:
    """A string search value taken as one value (its commas escaped)."""
    return value.replace(",", "\\,")


def search_pairs(text: str) -> list[tuple[str, str]]:
    """The FHIR search of the search box: an identifier (case code or national ID) when the
    text has a digit, else every word a prefix of a name in either script (Arabic and
    Persian letter forms alike, the index folds them); [] for nothing to search."""
    words = text.split()[:MAX_WORDS]
    if not words:
        return []
    paging = [("_count", str(PAGE_SIZE)), ("_sort", "family,given")]
    if _DIGIT.search(text):
        typed = " ".join(words)
        codes = sorted({escape_token(typed), escape_token(typed.upper())})
        return [("identifier", ",".join(codes)), *paging]
    return [*(("name", escape_string(word)) for word in words), *paging]


def same_name(a: str, b: str) -> bool:
    """Whether two names are the same once folded (case, accents, ي/ی, ك/ک, spaces)."""
    return bool(a.strip()) and normalize_string(a) == normalize_string(b)


# ------------------------------------------------------------------------- service


class Patients:
    """The patient records one principal reaches through the FHIR door."""

    def __init__(self, send: Send, today: date) -> None:
        self.send = send
        self.today = today

    def read(self, fhir_id: str) -> Record:
        """The current version of a Patient (NotFound when unknown or out of reach)."""
        response = self.send(FhirRequest("GET", f"Patient/{fhir_id}"))
        resource = response.body or {}
        version = version_of(resource)
        return Record(resource, version, row_of(resource, self.today))

    def search(self, text: str, snapshot: str | None = None, offset: int = 0) -> Found:
        """A page of the people matching the search box (an expired page starts again)."""
        if snapshot:
            paging = [("_getpages", snapshot), ("_getpagesoffset", str(offset))]
            try:
                return self._found(self._search([*paging, ("_count", str(PAGE_SIZE))]))
            except Gone:
                pass
        return self._found(self._search(search_pairs(text)))

    def _search(self, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        """The searchset Bundle of a Patient search."""
        return self.send(FhirRequest("GET", "Patient", query=pairs)).body or {}

    def _found(self, bundle: dict[str, Any]) -> Found:
        """Rows and paging positions of a searchset Bundle."""
        links = {link["relation"]: _paging(link["url"]) for link in bundle.get("link", [])}
        snapshot = next((links[r][0] for r in ("next", "previous") if r in links), None)
        return Found(
            [row_of(r, self.today) for r in resources(bundle)],
            int(bundle.get("total", 0)),
            links["self"][1] if "self" in links else 0,
            snapshot,
            links["next"][1] if "next" in links else None,
            links["previous"][1] if "previous" in links else None,
        )

    # duplicates -----------------------------------------------------------------

    def case_code_taken(self, code: str, exclude: str | None = None) -> bool:
        """Whether another person (not `exclude`) has this case code."""
        found = self._search([("case-code", f"{CASE_CODE_SYSTEM}|{escape_token(code)}")])
        return any(r.get("id") != exclude for r in resources(found))

    def likely_duplicates(self, values: PatientValues) -> list[PatientRow]:
        """People with the same national ID, or the same name in either script and a birth
        year within two years of this one's."""
        found: dict[str, dict[str, Any]] = {}
        if values.national_id:
            value = f"{NATIONAL_ID_SYSTEM}|{escape_token(values.national_id)}"
            found.update(_by_id(resources(self._search([("identifier", value)]))))
        for suffix in SCRIPTS:
            found.update(_by_id(self._same_name(values, suffix)))
        return [row_of(r, self.today) for r in found.values()]

    def _same_name(self, values: PatientValues, suffix: str) -> Iterable[dict[str, Any]]:
        """People whose name in one script is this one's, born within the slack."""
        given, family = getattr(values, f"given_{suffix}"), getattr(values, f"family_{suffix}")
        if not (given and family):
            return []
        pairs = [
            ("given", escape_string(given)),
            ("family", escape_string(family)),
            ("_count", str(DUPLICATE_LIMIT)),
        ]
        year = values.birth_date.year if values.birth_date else None
        if year is None and values.estimated_age is not None:
            year = self.today.year - values.estimated_age
        return [
            r
            for r in resources(self._search(pairs))
            if _named(r, SCRIPTS[suffix], given, family) and _born_near(r, year)
        ]

    # writes ----------------------------------------------------------------------

    def register(self, values: PatientValues, *, confirmed: bool) -> str:
        """Store a new person; the id. CaseCodeTaken for a used code, LikelyDuplicates
        unless `confirmed`."""
        if not values.case_code:
            values = replace(values, case_code=self.free_case_code(values.province))
        elif self.case_code_taken(values.case_code):
            raise CaseCodeTaken(values.case_code)
        likely = self.likely_duplicates(values)
        if likely and not confirmed:
            raise LikelyDuplicates(likely, values)
        criteria = urlencode(
            [("case-code", f"{CASE_CODE_SYSTEM}|{escape_token(values.case_code)}")]
        )
        request = FhirRequest(
            "POST", "Patient", body=build_patient(values, self.today), if_none_exist=criteria
        )
        response = self.send(request)
        if response.status != 201:  # someone took the code meanwhile: nothing was stored
            raise CaseCodeTaken(values.case_code)
        return str((response.body or {})["id"])

    def free_case_code(self, province: str) -> str:
        """A new case code no one has, from the province's letters."""
        found = province_by_code(province)
        prefix = found.prefix if found else "AF"
        for _ in range(CODE_TRIES):
            code = new_case_code(prefix)
            if not self.case_code_taken(code):
                return code
        raise CaseCodeTaken(prefix)

    def update(self, fhir_id: str, version: int, values: PatientValues) -> None:
        """Store changed details over `version` (EditConflict when it is no longer the
        current one; CaseCodeTaken for another person's code; an emptied case code stays as
        it was, or is drawn for a person who had none)."""
        current = self.read(fhir_id)
        code_before = identifier(current.resource, CASE_CODE_SYSTEM)
        if not values.case_code:
            code = code_before or self.free_case_code(values.province)
            values = replace(values, case_code=code)
        if values.case_code != code_before and self.case_code_taken(values.case_code, fhir_id):
            raise CaseCodeTaken(values.case_code)
        if current.version != version:
            raise EditConflict(fhir_id)
        resource = {**build_patient(values, self.today, current.resource), "id": fhir_id}
        request = FhirRequest("PUT", f"Patient/{fhir_id}", body=resource, if_match=f'W/"{version}"')
        try:
            self.send(request)
        except (PreconditionFailed, Conflict) as error:
            raise EditConflict(fhir_id) from error


def new_case_code(prefix: str) -> str:
    """`PREFIX-NNNN-LL` with random digits and letters."""
    digits = f"{secrets.randbelow(10_000):04d}"
    letters = "".join(secrets.choice(CODE_LETTERS) for _ in range(2))
    return f"{prefix}-{digits}-{letters}"


def _by_id(resources: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Resources by id."""
    return {str(r.get("id")): r for r in resources}


def _named(resource: dict[str, Any], script: str, given: str, family: str) -> bool:
    """Whether the resource's name in `script` is `given family` (folded)."""
    for name in resource.get("name") or []:
        codes = [e.get("valueCode") for e in name.get("extension") or []]
        if script in codes and same_name(" ".join(name.get("given") or []), given):
            return same_name(str(name.get("family") or ""), family)
    return False


def _born_near(resource: dict[str, Any], year: int | None) -> bool:
    """Whether the birth years are within the slack (an unknown year cannot rule it out)."""
    other = birth_year(resource)
    return year is None or other is None or abs(other - year) <= BIRTH_YEAR_SLACK


def _paging(url: str) -> tuple[str | None, int]:
    """(snapshot id, offset) of a paging link."""
    query = parse_qs(urlsplit(url).query)
    offset = query.get("_getpagesoffset", ["0"])[0]
    return query.get("_getpages", [None])[0], int(offset) if offset.isdigit() else 0

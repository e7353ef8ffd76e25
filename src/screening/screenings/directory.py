"""The directory records a screening points at, kept by the service itself: the screener's
Practitioner (from the account) and the Location of the place screened (a village or
district). Only administrators write the directory through the doors; these two follow
from facts the screener already gave, so the service writes them (found again by their
identifier). A Location is created once; a Practitioner is created once and updated when
the account's registration number or profession changed. They hold no patient data and
are not audited. No Flask."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.models import UserAccount
from screening.auth.principal import Kind, Principal
from screening.auth.professions import PROFESSION_SYSTEM, REGISTRATION_SYSTEM
from screening.auth.service import find_user
from screening.boundary import AppState, unit_of_work
from screening.fhir.outcome import PreconditionFailed
from screening.fhir.packages import Registry
from screening.fhir.searchset import CANONICAL, resources
from screening.fhir.text import normalize_string

STAFF_SYSTEM = f"{CANONICAL}/sid/user-account"
PLACE_SYSTEM = f"{CANONICAL}/sid/place"
HEALTH_WORKER = f"{CANONICAL}/StructureDefinition/health-worker"
SERVICE = Principal(Kind.CLI, "screening-service", "screening-service")
SERVER_META = ("versionId", "lastUpdated")


@dataclass(frozen=True)
class HealthWorker:
    """A user account as its Practitioner shows it ("" when not given)."""

    username: str
    full_name: str = ""
    registration: str = ""
    profession: str = ""  # a code of the health-profession CodeSystem


def health_worker(user: UserAccount) -> HealthWorker:
    """The health worker of a user account."""
    return HealthWorker(user.username, user.full_name, user.registration, user.profession)


def account_worker(state: AppState, username: str, full_name: str = "") -> HealthWorker:
    """The health worker of the account `username` as stored now (when there is no such
    account: the username and `full_name` only)."""
    with unit_of_work(state, write=False) as session:
        user = find_user(session, username)
        return health_worker(user) if user else HealthWorker(username, full_name)


@dataclass(frozen=True)
class Place:
    """Where a screening happened."""

    province: str
    district: str = ""
    village: str = ""

    @property
    def key(self) -> str:
        """The place's identifier: its normalised parts joined by '/'."""
        parts = (self.province, self.district, self.village)
        return "/".join(re.sub(r"[|,$\\]", " ", normalize_string(p)).strip() for p in parts)

    @property
    def name(self) -> str:
        return self.village or self.district or self.province


def practitioner_reference(state: AppState, base_url: str, worker: HealthWorker) -> str:
    """`Practitioner/<id>` of a health worker: created on first use, updated (a new version)
    when the account's registration number or profession differ from it."""
    found = _practitioner(state, base_url, worker, create=True)
    assert found is not None  # created when missing
    return found


def refresh_practitioner(state: AppState, base_url: str, worker: HealthWorker) -> str | None:
    """Bring the health worker's Practitioner, when there is one, in line with the account
    (none is created); its `Practitioner/<id>`, or None."""
    return _practitioner(state, base_url, worker, create=False)


def _practitioner(
    state: AppState, base_url: str, worker: HealthWorker, *, create: bool, tries: int = 3
) -> str | None:
    """Find (or create) the worker's Practitioner by the user-account identifier and PUT
    the account's details when they differ, over the version read (If-Match: a version
    written meanwhile is read again)."""
    current = _existing_practitioner(state, base_url, worker, create)
    if current is None:
        return None
    reference = f"Practitioner/{current['id']}"
    wanted = _with_details(current, worker, state.fhir.registry)
    if _content(wanted) == _content(current):
        return reference
    version = (current.get("meta") or {}).get("versionId")
    put = FhirRequest("PUT", reference, body=wanted, if_match=f'W/"{version}"')
    try:
        perform(state, SERVICE, put, base_url)
    except PreconditionFailed:
        if tries <= 1:
            raise
        return _practitioner(state, base_url, worker, create=create, tries=tries - 1)
    return reference


def _existing_practitioner(
    state: AppState, base_url: str, worker: HealthWorker, create: bool
) -> dict[str, Any] | None:
    """The stored Practitioner of the worker's account: found by its identifier, or (when
    `create`) created with the account's details (a conditional create)."""
    if create:
        new = _with_details(_new_practitioner(worker), worker, state.fhir.registry)
        criteria = _criteria(STAFF_SYSTEM, worker.username)
        req = FhirRequest("POST", "Practitioner", body=new, if_none_exist=criteria)
        return perform(state, SERVICE, req, base_url).body
    query = [("identifier", f"{STAFF_SYSTEM}|{worker.username}"), ("_count", "1")]
    req = FhirRequest("GET", "Practitioner", query=query)
    found = resources(perform(state, SERVICE, req, base_url).body or {})
    return found[0] if found else None


def _new_practitioner(worker: HealthWorker) -> dict[str, Any]:
    """A new Practitioner of a user account: the profile and the name."""
    return {
        "resourceType": "Practitioner",
        "meta": {"profile": [HEALTH_WORKER]},
        "name": [{"text": worker.full_name or worker.username}],
    }


def _with_details(
    practitioner: dict[str, Any], worker: HealthWorker, registry: Registry
) -> dict[str, Any]:
    """The Practitioner with the account's identifiers (user account, then the registration
    number when given) and profession (the first qualification, when given). What the
    service does not own stays: names, other identifiers and qualifications."""
    ours = (STAFF_SYSTEM, REGISTRATION_SYSTEM)
    identifiers = [{"system": STAFF_SYSTEM, "value": worker.username}]
    if worker.registration:
        identifiers.append({"system": REGISTRATION_SYSTEM, "value": worker.registration})
    identifiers += [i for i in practitioner.get("identifier", []) if i.get("system") not in ours]
    qualifications = [q for q in practitioner.get("qualification", []) if not _coded(q)]
    if worker.profession:
        coding = {"system": PROFESSION_SYSTEM, "code": worker.profession}
        display = _display(registry, PROFESSION_SYSTEM, worker.profession)
        qualifications.insert(0, {"code": {"coding": [coding | display]}})
    result = {k: v for k, v in practitioner.items() if k != "qualification"}
    result["identifier"] = identifiers
    if qualifications:
        result["qualification"] = qualifications
    return result


def _coded(qualification: dict[str, Any]) -> bool:
    """Whether a qualification is the profession the service writes."""
    codings = (qualification.get("code") or {}).get("coding") or []
    return any(c.get("system") == PROFESSION_SYSTEM for c in codings)


def _display(registry: Registry, system: str, code: str) -> dict[str, str]:
    """{"display": ...} of a code in its CodeSystem, or {} when it has none."""
    code_system = registry.get(system) or {}
    for concept in code_system.get("concept") or []:
        if concept.get("code") == code and concept.get("display"):
            return {"display": str(concept["display"])}
    return {}


def _content(resource: dict[str, Any]) -> dict[str, Any]:
    """What a resource says, without what the server sets (id, versionId, lastUpdated)."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in SERVER_META}
    body = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return {**body, "meta": meta} if meta else body


def location_reference(state: AppState, base_url: str, place: Place) -> str:
    """`Location/<id>` of a place (created on first use)."""
    address: dict[str, Any] = {"state": place.province, "country": "AF"}
    if place.district:
        address["district"] = place.district
    if place.village:
        address["city"] = place.village
    location = {
        "resourceType": "Location",
        "meta": {"profile": [f"{CANONICAL}/StructureDefinition/screening-location"]},
        "identifier": [{"system": PLACE_SYSTEM, "value": place.key}],
        "status": "active",
        "name": place.name,
        "mode": "instance",
        "address": address,
    }
    return _found_or_created(state, base_url, location, PLACE_SYSTEM, place.key)


def _found_or_created(
    state: AppState, base_url: str, resource: dict[str, Any], system: str, value: str
) -> str:
    """A conditional create: the existing resource with the identifier, or a new one."""
    criteria = _criteria(system, value)
    req = FhirRequest("POST", resource["resourceType"], body=resource, if_none_exist=criteria)
    response = perform(state, SERVICE, req, base_url)
    body = response.body or {}
    return f"{resource['resourceType']}/{body['id']}"


def _criteria(system: str, value: str) -> str:
    """The search criteria of a conditional create: the identifier `system|value`."""
    return f"identifier={quote(system, safe=':/')}|{quote(value, safe='')}"

"""The directory records a screening points at, kept by the service itself: the screener's
Practitioner (from the account) and the Location of the place screened (a village or
district). Only administrators write the directory through the doors; these two follow
from facts the screener already gave, so the service writes them (found again by their
identifier, created once). They hold no patient data and are not audited. No Flask."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.principal import Kind, Principal
from screening.boundary import AppState
from screening.fhir.searchset import CANONICAL
from screening.fhir.text import normalize_string

STAFF_SYSTEM = f"{CANONICAL}/sid/user-account"
PLACE_SYSTEM = f"{CANONICAL}/sid/place"
SERVICE = Principal(Kind.CLI, "screening-service", "screening-service")


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


def practitioner_reference(state: AppState, base_url: str, username: str, full_name: str) -> str:
    """`Practitioner/<id>` of a user account (created on first use)."""
    practitioner = {
        "resourceType": "Practitioner",
        "meta": {"profile": [f"{CANONICAL}/StructureDefinition/health-worker"]},
        "identifier": [{"system": STAFF_SYSTEM, "value": username}],
        "name": [{"text": full_name or username}],
    }
    return _found_or_created(state, base_url, practitioner, STAFF_SYSTEM, username)


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
    criteria = f"identifier={quote(system, safe=':/')}|{quote(value, safe='')}"
    req = FhirRequest("POST", resource["resourceType"], body=resource, if_none_exist=criteria)
    response = perform(state, SERVICE, req, base_url)
    body = response.body or {}
    return f"{resource['resourceType']}/{body['id']}"

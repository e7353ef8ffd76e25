"""The directory of rehabilitation centres: each centre is an Organization (`rehab-centre`),
its site a Location (`rehab-centre-location`) and each service it offers a HealthcareService
(`rehab-service`). No Flask.

Every read and write goes through the FHIR door (`send`: `api.door.perform` bound to a
principal), so centres are validated against the IG's profiles, writes are refused to
anyone but administrators (and the command line), and everything is audited.

Ids follow from the centre code (`HER-01`): `Organization/her-01`, `Location/her-01`,
`HealthcareService/her-01-physiotherapy`. A centre is written as one transaction of PUTs,
so loading the same centre twice changes nothing but versions, and an edit carries the
Organization's version (`If-Match`): a concurrent change is refused, not overwritten. A
service no longer offered stays as an inactive HealthcareService (its history is kept).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from screening.api.messages import FhirRequest, FhirResponse
from screening.fhir.outcome import Conflict, NotFound, PreconditionFailed
from screening.fhir.searchset import CANONICAL, version_of
from screening.patients.provinces import Province, province_by_code, province_by_name, sort_key

Send = Callable[[FhirRequest], FhirResponse]
CENTRE_CODE_SYSTEM = f"{CANONICAL}/sid/centre-code"
SERVICE_SYSTEM = f"{CANONICAL}/CodeSystem/rehab-service-type"
CENTRE_PROFILE = f"{CANONICAL}/StructureDefinition/rehab-centre"
LOCATION_PROFILE = f"{CANONICAL}/StructureDefinition/rehab-centre-location"
SERVICE_PROFILE = f"{CANONICAL}/StructureDefinition/rehab-service"
SERVICES: dict[str, str] = {  # code -> English display (CodeSystem rehab-service-type)
    "prosthetics-orthotics": "Prosthetics and orthotics",
    "physiotherapy": "Physiotherapy",
    "wheelchair-service": "Wheelchair service",
    "psychosocial-support": "Psychosocial support",
}
DAYS = ("sat", "sun", "mon", "tue", "wed", "thu", "fri")  # the Afghan week starts on Saturday
CENTRE_CODE = re.compile(r"^[A-Z0-9]{2,8}(?:-[A-Z0-9]{1,8}){0,3}$")
MAX_CENTRES = 500  # the whole directory in one search (the network has about 200)
EARTH_RADIUS_KM = 6371.0


class CentreCodeTaken(Exception):
    """Another centre has this code."""


class EditConflict(Exception):
    """The centre was changed by someone else since the form was loaded."""


@dataclass(frozen=True)
class CentreValues:
    """What the directory form holds for one centre, checked and typed."""

    code: str  # e.g. HER-01 (upper case)
    name_en: str
    name_fa: str
    province: str  # ISO 3166-2 code, e.g. AF-HER
    district: str = ""
    city: str = ""
    line: str = ""
    phone: str = ""
    services: tuple[str, ...] = ()
    days: tuple[str, ...] = ()
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    active: bool = True


@dataclass(frozen=True)
class Centre:
    """A stored centre as lists and suggestions show it."""

    fhir_id: str
    version: int
    values: CentreValues
    services: tuple[str, ...]  # the services offered (active HealthcareServices)
    days: tuple[str, ...]

    @property
    def province(self) -> Province | None:
        return province_by_code(self.values.province)

    @property
    def position(self) -> tuple[float, float] | None:
        """(latitude, longitude), when known."""
        v = self.values
        if v.latitude is None or v.longitude is None:
            return None
        return float(v.latitude), float(v.longitude)

    def name(self, lang: str) -> str:
        """The centre's name in a page's language (the other when it has none)."""
        v = self.values
        return (v.name_fa or v.name_en) if lang == "fa" else (v.name_en or v.name_fa)


def centre_id(code: str) -> str:
    """The id of a centre's Organization and Location (`HER-01` -> `her-01`)."""
    return code.strip().lower()


def service_id(code: str, service: str) -> str:
    """The id of one HealthcareService of a centre."""
    return f"{centre_id(code)}-{service}"


# ----------------------------------------------------------------------- building


def service_concept(service: str) -> dict[str, Any]:
    """The CodeableConcept of a rehab-service-type code."""
    return {"coding": [{"system": SERVICE_SYSTEM, "code": service, "display": SERVICES[service]}]}


def build_organization(values: CentreValues) -> dict[str, Any]:
    """The `rehab-centre` Organization of a centre."""
    province = province_by_code(values.province)
    org: dict[str, Any] = {
        "resourceType": "Organization",
        "id": centre_id(values.code),
        "meta": {"profile": [CENTRE_PROFILE]},
        "identifier": [{"system": CENTRE_CODE_SYSTEM, "value": values.code}],
        "active": values.active,
        "name": values.name_en,
    }
    if values.name_fa:
        org["alias"] = [values.name_fa]
    if values.phone:
        org["telecom"] = [{"system": "phone", "value": values.phone, "use": "work"}]
    org["address"] = [_address(values, province)]
    return org


def build_location(values: CentreValues) -> dict[str, Any]:
    """The `rehab-centre-location` Location of a centre (the profile requires a position)."""
    location: dict[str, Any] = {
        "resourceType": "Location",
        "id": centre_id(values.code),
        "meta": {"profile": [LOCATION_PROFILE]},
        "status": "active" if values.active else "inactive",
        "name": values.name_en,
        "mode": "instance",
        "address": _address(values, province_by_code(values.province)),
        "managingOrganization": {"reference": f"Organization/{centre_id(values.code)}"},
    }
    if values.name_fa:
        location["alias"] = [values.name_fa]
    if values.latitude is not None and values.longitude is not None:
        location["position"] = {"longitude": values.longitude, "latitude": values.latitude}
    return location


def build_service(values: CentreValues, service: str, active: bool) -> dict[str, Any]:
    """The `rehab-service` HealthcareService of one service of a centre."""
    return {
        "resourceType": "HealthcareService",
        "id": service_id(values.code, service),
        "meta": {"profile": [SERVICE_PROFILE]},
        "active": active and values.active,
        "providedBy": {"reference": f"Organization/{centre_id(values.code)}"},
        "type": [service_concept(service)],
        "location": [{"reference": f"Location/{centre_id(values.code)}"}],
        "name": SERVICES[service],
        "availableTime": [{"daysOfWeek": [d for d in DAYS if d in values.days]}],
    }


def _address(values: CentreValues, province: Province | None) -> dict[str, Any]:
    """The work address of a centre (the province's English name in `state`)."""
    address: dict[str, Any] = {"use": "work"}
    if values.line:
        address["line"] = [values.line]
    if values.city:
        address["city"] = values.city
    if values.district:
        address["district"] = values.district
    address["state"] = province.en if province else values.province
    address["country"] = "AF"
    return address


def centre_bundle(
    values: CentreValues, retired: Iterable[str] = (), version: int | None = None
) -> dict[str, Any]:
    """The transaction that writes a centre: its Organization (over `version` when given),
    Location, offered services, and the `retired` services made inactive."""
    resources = [build_organization(values), build_location(values)]
    resources += [build_service(values, s, True) for s in values.services]
    resources += [build_service(values, s, False) for s in retired if s not in values.services]
    entries = []
    for resource in resources:
        request: dict[str, Any] = {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }
        if version is not None and resource["resourceType"] == "Organization":
            request["ifMatch"] = f'W/"{version}"'
        entries.append({"resource": _json_ready(resource), "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _json_ready(resource: dict[str, Any]) -> dict[str, Any]:
    """Decimals (coordinates) as JSON numbers the door accepts."""
    location = resource.get("position")
    if location:
        resource["position"] = {k: _number(v) for k, v in location.items()}
    return resource


def _number(value: Any) -> int | float:
    """A coordinate as a JSON number (no binary-float noise: it goes through its text)."""
    text = format(Decimal(str(value)).normalize(), "f")
    return int(text) if "." not in text else float(text)


# ------------------------------------------------------------------------ reading


def centres_of(bundle: dict[str, Any]) -> list[Centre]:
    """The centres of a searchset of Organizations with their Locations and
    HealthcareServices revincluded."""
    entries = [e.get("resource") or {} for e in bundle.get("entry", [])]
    orgs = [r for r in entries if r.get("resourceType") == "Organization"]
    locations: dict[str, dict[str, Any]] = {}
    services: dict[str, list[dict[str, Any]]] = {}
    for r in entries:
        if r.get("resourceType") == "Location":
            locations[_ref(r.get("managingOrganization"))] = r
        elif r.get("resourceType") == "HealthcareService":
            services.setdefault(_ref(r.get("providedBy")), []).append(r)
    found = [
        centre_of(
            org,
            locations.get(f"Organization/{org.get('id')}"),
            services.get(f"Organization/{org.get('id')}", []),
        )
        for org in orgs
    ]
    return sorted(found, key=lambda c: sort_key(c.values.name_en.casefold()))


def centre_of(
    org: dict[str, Any], location: dict[str, Any] | None, services: Sequence[dict[str, Any]]
) -> Centre:
    """A Centre from its three kinds of resources."""
    address = (org.get("address") or [{}])[0]
    province = province_by_name(str(address.get("state") or ""))
    position = (location or {}).get("position") or {}
    offered = [s for s in services if s.get("active")]
    codes = sorted({_service_code(s) for s in offered} - {""}, key=list(SERVICES).index)
    days = {
        d for s in offered for t in s.get("availableTime") or [] for d in t.get("daysOfWeek") or []
    }
    code = next(
        (
            str(i.get("value"))
            for i in org.get("identifier") or []
            if i.get("system") == CENTRE_CODE_SYSTEM
        ),
        str(org.get("id", "")),
    )
    telecom = [t for t in org.get("telecom") or [] if t.get("system") == "phone"]
    lat, lon = position.get("latitude"), position.get("longitude")
    values = CentreValues(
        code=code,
        name_en=str(org.get("name") or ""),
        name_fa=str((org.get("alias") or [""])[0]),
        province=province.code if province else str(address.get("state") or ""),
        district=str(address.get("district") or ""),
        city=str(address.get("city") or ""),
        line=str((address.get("line") or [""])[0]),
        phone=str(telecom[0].get("value")) if telecom else "",
        services=tuple(codes),
        days=tuple(d for d in DAYS if d in days),
        latitude=None if lat is None else Decimal(str(lat)),
        longitude=None if lon is None else Decimal(str(lon)),
        active=bool(org.get("active", True)),
    )
    version = version_of(org)
    return Centre(str(org.get("id", "")), version, values, values.services, values.days)


def _ref(reference: Any) -> str:
    """The `Type/id` of a Reference (a full URL's last two segments)."""
    text = str((reference or {}).get("reference") or "")
    return "/".join(text.split("/_history")[0].split("/")[-2:])


def _service_code(service: dict[str, Any]) -> str:
    """The rehab-service-type code of a HealthcareService."""
    for concept in service.get("type") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == SERVICE_SYSTEM and coding.get("code") in SERVICES:
                return str(coding["code"])
    return ""


# ------------------------------------------------------------------------ service


class Directory:
    """The centre directory one principal reaches through the FHIR door."""

    def __init__(self, send: Send) -> None:
        self.send = send

    def centres(self, province: str = "", service: str = "") -> list[Centre]:
        """Every centre (of a province, offering a service, when given), by name."""
        query = [
            ("_profile", CENTRE_PROFILE),
            ("_count", str(MAX_CENTRES)),
            ("_revinclude", "Location:organization"),
            ("_revinclude", "HealthcareService:organization"),
        ]
        found = province_by_code(province) if province else None
        if province:
            query.append(("address-state:exact", found.en if found else province))
        bundle = self.send(FhirRequest("GET", "Organization", query=query)).body or {}
        centres = centres_of(bundle)
        return [c for c in centres if not service or service in c.services]

    def read(self, fhir_id: str) -> Centre:
        """One centre (NotFound when unknown)."""
        query = [
            ("_id", fhir_id),
            ("_revinclude", "Location:organization"),
            ("_revinclude", "HealthcareService:organization"),
        ]
        bundle = self.send(FhirRequest("GET", "Organization", query=query)).body or {}
        found = centres_of(bundle)
        if not found:
            raise NotFound(f"Organization/{fhir_id} is not known")
        return found[0]

    def code_taken(self, code: str) -> bool:
        """Whether a centre has this code, or its ids are in use."""
        criteria = f"{CENTRE_CODE_SYSTEM}|{code.replace(',', chr(92) + ',')}"
        req = FhirRequest("GET", "Organization", query=[("identifier", criteria)])
        if (self.send(req).body or {}).get("entry"):
            return True
        try:
            self.send(FhirRequest("GET", f"Organization/{centre_id(code)}"))
        except NotFound:
            return False
        return True

    def create(self, values: CentreValues) -> str:
        """Store a new centre; its id. CentreCodeTaken for a used code."""
        if self.code_taken(values.code):
            raise CentreCodeTaken(values.code)
        self.send(FhirRequest("POST", "", body=centre_bundle(values)))
        return centre_id(values.code)

    def update(self, fhir_id: str, version: int, values: CentreValues) -> None:
        """Store changed details over `version` (EditConflict when it is no longer current).
        The code (and so the ids) of a centre does not change."""
        current = self.read(fhir_id)
        if current.version != version:
            raise EditConflict(fhir_id)
        values = CentreValues(**{**values.__dict__, "code": current.values.code})
        bundle = centre_bundle(values, current.services, version)
        try:
            self.send(FhirRequest("POST", "", body=bundle))
        except (PreconditionFailed, Conflict) as error:
            raise EditConflict(fhir_id) from error

    def load(self, values: CentreValues) -> bool:
        """Store a centre unless one with its id exists (the demo); whether it was new."""
        try:
            self.send(FhirRequest("GET", f"Organization/{centre_id(values.code)}"))
        except NotFound:
            self.send(FhirRequest("POST", "", body=centre_bundle(values)))
            return True
        return False

    def suggest(
        self, province: str, service: str, near: tuple[float, float] | None = None
    ) -> list[Centre]:
        """The active centres offering `service`, the province's first, nearest first."""
        offering = [c for c in self.centres(service=service) if c.values.active]
        return suggest_centres(offering, province, service, near)


# -------------------------------------------------------------------- suggestions


def suggest_centres(
    centres: Iterable[Centre], province: str, service: str, near: tuple[float, float] | None = None
) -> list[Centre]:
    """Centres offering `service`: those in `province` first, then the others. Each part
    is ordered by distance from `near` (or, without it, from the middle of the province's
    centres) when positions are known, centres without a position after, then by name."""
    offering = [c for c in centres if service in c.services]
    inside = [c for c in offering if c.values.province == province]
    origin = near or _middle([c.position for c in inside])
    if origin is None:  # no centre of the province offers it: the province's other centres
        origin = _middle([c.position for c in centres if c.values.province == province])

    def key(centre: Centre) -> tuple[int, float, tuple[int, ...]]:
        position = centre.position
        far = distance_km(origin, position) if origin and position else math.inf
        return (0 if centre.values.province == province else 1, far, _name_key(centre))

    return sorted(offering, key=key)


def _name_key(centre: Centre) -> tuple[int, ...]:
    return sort_key(centre.values.name_en.casefold())


def _middle(positions: Iterable[tuple[float, float] | None]) -> tuple[float, float] | None:
    """The mean of the known positions (None when none is known)."""
    known = [p for p in positions if p is not None]
    if not known:
        return None
    return sum(p[0] for p in known) / len(known), sum(p[1] for p in known) / len(known)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points, in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def organization_name(org: dict[str, Any], lang: str) -> str:
    """A centre's name in a page's language: the Persian name is the Organization's alias."""
    name = str(org.get("name") or "")
    alias = str((org.get("alias") or [""])[0])
    return (alias or name) if lang == "fa" else (name or alias)


def reference_of(centre_code: str) -> str:
    """`Organization/<id>` of a centre code, for a referral's performer."""
    return f"Organization/{quote(centre_id(centre_code), safe='')}"

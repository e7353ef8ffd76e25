"""The audit trail as table rows, found with the FHIR search of AuditEvent (the page and
`/fhir/AuditEvent` agree). No Flask."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.orm import Session

from screening.api.environment import FhirEnvironment
from screening.api.guard import Guard
from screening.api.interactions import Interactions
from screening.api.messages import FhirRequest
from screening.auth.principal import Principal
from screening.fhir.outcome import Gone

PAGE_SIZE = 25


@dataclass(frozen=True)
class AuditRow:
    """One AuditEvent as the table shows it."""

    when: str
    who: str
    role: str
    action: str
    subtype: str
    operation: str
    outcome: str
    outcome_desc: str
    address: str
    patients: tuple[str, ...]
    resources: tuple[str, ...]
    query: str


@dataclass(frozen=True)
class AuditPage:
    """One page of the filtered audit trail, newest first."""

    rows: list[AuditRow]
    total: int
    offset: int
    snapshot: str | None
    next_offset: int | None
    previous_offset: int | None


def search_pairs(filters: dict[str, Any]) -> list[tuple[str, str]]:
    """The FHIR search of the page's filters (as `/fhir/AuditEvent?...` would take it)."""
    pairs = [("_sort", "-date"), ("_count", str(PAGE_SIZE))]
    if filters.get("patient"):
        pairs.append(("patient", filters["patient"]))
    if filters.get("user"):
        pairs.append(("altid", _token(filters["user"])))
    for name in ("subtype", "outcome"):
        if filters.get(name):
            pairs.append((name, filters[name]))
    if filters.get("date_from"):
        pairs.append(("date", f"ge{filters['date_from'].isoformat()}"))
    if filters.get("date_to"):
        pairs.append(("date", f"le{filters['date_to'].isoformat()}"))
    return pairs


def _token(value: str) -> str:
    """A token search value matched literally (commas, pipes and backslashes escaped)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|")


def audit_page(
    env: FhirEnvironment, session: Session, principal: Principal, filters: dict[str, Any]
) -> AuditPage:
    """The page of the trail that `filters` (and the paging position in them) ask for; an
    expired paging snapshot starts the search again."""
    api = Interactions(env, session, "/fhir", Guard(principal, session))
    snapshot = filters.get("page")
    if snapshot:
        paging = [("_getpages", str(snapshot)), ("_getpagesoffset", str(filters["offset"]))]
        try:
            return _page(_search(api, [*paging, ("_count", str(PAGE_SIZE))]))
        except Gone:
            pass
    return _page(_search(api, search_pairs(filters)))


def _search(api: Interactions, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """The searchset Bundle of an AuditEvent search."""
    response = api.handle(FhirRequest("GET", "AuditEvent", query=pairs))
    return response.body or {}


def _page(bundle: dict[str, Any]) -> AuditPage:
    """Rows and paging positions of a searchset Bundle."""
    links = {link["relation"]: _paging(link["url"]) for link in bundle.get("link", [])}
    events = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    snapshot = next((links[r][0] for r in ("next", "previous") if r in links), None)
    return AuditPage(
        [row_of(event) for event in events],
        int(bundle.get("total", 0)),
        links["self"][1] if "self" in links else 0,
        snapshot,
        links["next"][1] if "next" in links else None,
        links["previous"][1] if "previous" in links else None,
    )


def _paging(url: str) -> tuple[str | None, int]:
    """(snapshot id, offset) of a paging link."""
    query = parse_qs(urlsplit(url).query)
    offset = query.get("_getpagesoffset", ["0"])[0]
    return query.get("_getpages", [None])[0], int(offset) if offset.isdigit() else 0


def row_of(event: dict[str, Any]) -> AuditRow:
    """The table row of one AuditEvent."""
    agent = (event.get("agent") or [{}])[0]
    entities = event.get("entity") or []
    return AuditRow(
        when=_when(str(event.get("recorded", ""))),
        who=str(agent.get("who", {}).get("display", "")),
        role=_first_code(agent.get("role") or []),
        action=str(event.get("action", "")),
        subtype=_first_code([{"coding": event.get("subtype") or []}]),
        operation=next((str(e["name"]) for e in entities if e.get("name")), ""),
        outcome=str(event.get("outcome", "")),
        outcome_desc=str(event.get("outcomeDesc", "")),
        address=str(agent.get("network", {}).get("address", "")),
        patients=_references(entities, "1"),
        resources=_references(entities, "4"),
        query=next((_decoded(e["query"]) for e in entities if e.get("query")), ""),
    )


def _when(instant: str) -> str:
    """`2024-05-01T12:34:56.123456Z` as `2024-05-01 12:34:56` (UTC)."""
    return instant[:19].replace("T", " ")


def _first_code(concepts: list[dict[str, Any]]) -> str:
    """The first code of a list of CodeableConcepts, or ''."""
    for concept in concepts:
        for coding in concept.get("coding") or []:
            if coding.get("code"):
                return str(coding["code"])
    return ""


def _references(entities: list[dict[str, Any]], role: str) -> tuple[str, ...]:
    """The references of the entities in one object-role (1 Patient, 4 Domain Resource)."""
    return tuple(
        str(e["what"]["reference"])
        for e in entities
        if e.get("role", {}).get("code") == role and e.get("what", {}).get("reference")
    )


def _decoded(value: str) -> str:
    """A base64 query as text (at most 300 characters)."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")[:300]
    except (binascii.Error, ValueError):
        return ""

"""Taking over a referral from its letter: read the FHIR Bundle a letter PDF carries, map
the receiving centre to this installation's directory (by its centre code), and store the
referral's records in one transaction, each validated against its profile. No Flask.

The records keep their ids, so importing the same letter twice finds the referral already
here. A Task that had moved on at the issuing installation starts again as `requested`
here: this centre's own workflow begins with the paper.
"""

from __future__ import annotations

import copy
import io
import json
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import pikepdf

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.audit.events import Access, patient_of
from screening.audit.recorder import record_apart
from screening.auth.principal import Kind, Principal
from screening.boundary import AppState
from screening.fhir.outcome import (
    BadRequest,
    FhirError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from screening.fhir.searchset import resources
from screening.patients.resource import identifier
from screening.referrals.directory import CENTRE_CODE_SYSTEM
from screening.referrals.numbers import SYSTEM as NUMBER_SYSTEM
from screening.referrals.service import receiving_centre
from screening.referrals.workflow import STARTS
from screening.store.clock import to_instant, utcnow

IMPORT = "letter-import"  # the operation name in the AuditEvent
MAX_BUNDLE_BYTES = 2 * 1024 * 1024
TAKEN_OVER = (  # the types a letter's referral is stored as, in this order
    "Patient",
    "Practitioner",
    "Consent",
    "Observation",
    "Condition",
    "ServiceRequest",
    "Task",
)


@dataclass(frozen=True)
class Imported:
    """The referral a letter was taken over as."""

    request_id: str
    number: str
    created: bool  # False: it was already here


def bundle_from_pdf(data: bytes, limit: int) -> dict[str, Any]:
    """The FHIR Bundle embedded in a letter PDF (4xx when there is none or it is bad)."""
    if len(data) > limit:
        raise PayloadTooLarge(f"A letter may be at most {limit // (1024 * 1024)} MiB")
    if not data.startswith(b"%PDF-"):
        raise UnsupportedMediaType("The file is not a PDF")
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            raw = _embedded_json(pdf)
    except pikepdf.PdfError as error:
        raise BadRequest("The PDF cannot be read: it is damaged or not a letter") from error
    if raw is None:
        raise Unprocessable("The PDF carries no referral: it holds no embedded FHIR Bundle")
    try:
        bundle = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise Unprocessable("The referral embedded in the PDF is not valid JSON") from error
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Unprocessable("The file embedded in the PDF is not a FHIR Bundle")
    return bundle


def _embedded_json(pdf: pikepdf.Pdf) -> bytes | None:
    """The first JSON file attached as the document's data (AFRelationship Data)."""
    for name, spec in pdf.attachments.items():
        if str(spec.obj.get("/AFRelationship")) != "/Data" or not name.endswith(".json"):
            continue
        stream = spec.get_file()
        data: bytes = stream.read_bytes()
        if len(data) > MAX_BUNDLE_BYTES:
            raise PayloadTooLarge("The referral embedded in the PDF is too large")
        return data
    return None


def take_over(state: AppState, principal: Principal, bundle: dict[str, Any], base: str) -> Imported:
    """Store the referral of a letter's Bundle here, addressed to the local centre."""
    if not principal.may_print():
        raise Forbidden(f"{principal.label} may not import referral letters")
    found = _contents(bundle)
    request = found["ServiceRequest"][0]
    number = _number(request)
    reader = partial(perform, state, _importer(principal, None), base_url=base)
    centre = _local_centre(reader, found, request)
    if principal.centre is not None and principal.centre != centre:
        raise Forbidden("The letter is addressed to another centre")
    if _exists(reader, f"ServiceRequest/{request['id']}"):
        return Imported(str(request["id"]), number, created=False)
    old_centre = receiving_centre(request)
    entries = [
        _put(_moved(resource, old_centre, f"Organization/{centre}"))
        for res_type in TAKEN_OVER
        for resource in found.get(res_type, [])
    ]
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    writer = partial(perform, state, _importer(principal, centre), base_url=base)
    writer(FhirRequest("POST", "", body=transaction))
    record_apart(state.sessions, state.fhir.indexer, principal, [_taken(found)])
    return Imported(str(request["id"]), number, created=True)


def _contents(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The Bundle's resources by type; it must hold one referral with its Task and person."""
    if bundle.get("type") != "collection":
        raise Unprocessable("A letter's Bundle is a collection")
    identifier = bundle.get("identifier") or {}
    if not isinstance(identifier, dict) or identifier.get("system") != NUMBER_SYSTEM:
        raise Unprocessable("The Bundle is not a referral letter's: it has no referral number")
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            found.setdefault(resource["resourceType"], []).append(resource)
    for res_type in ("ServiceRequest", "Task", "Patient", "Organization"):
        if len(found.get(res_type, [])) != 1:
            raise Unprocessable(f"A letter's Bundle holds exactly one {res_type}")
    for resource in (r for t in TAKEN_OVER for r in found.get(t, [])):
        if not isinstance(resource.get("id"), str):
            raise Unprocessable(f"Every {resource['resourceType']} of the letter needs its id")
    return found


def _number(request: dict[str, Any]) -> str:
    number = identifier(request, NUMBER_SYSTEM)
    if not number:
        raise Unprocessable("The letter's referral has no referral number")
    return number


def _importer(principal: Principal, centre: str | None) -> Principal:
    """The service principal that writes a letter's records for the receiving centre (the
    user may only read them; they are recorded as the one who imported)."""
    label = f"letter import for {principal.label}"[:200]
    return Principal(Kind.CLI, IMPORT, label, organization=centre)


def _local_centre(
    service: partial[Any], found: dict[str, list[dict[str, Any]]], request: dict[str, Any]
) -> str:
    """This installation's Organization id of the letter's receiving centre (by code)."""
    org = found["Organization"][0]
    if f"Organization/{org.get('id')}" != receiving_centre(request):
        raise Unprocessable("The letter's Organization is not the referral's receiving centre")
    code = identifier(org, CENTRE_CODE_SYSTEM)
    if not code:
        raise Unprocessable("The letter's receiving centre has no centre code")
    criteria = f"{CENTRE_CODE_SYSTEM}|{code}"
    bundle = service(FhirRequest("GET", "Organization", query=[("identifier", criteria)])).body
    matches = resources(bundle or {})
    if not matches:
        raise Unprocessable(
            f"The receiving centre {code[:40]} is not in this installation's directory"
        )
    return str(matches[0]["id"])


def _exists(service: partial[Any], path: str) -> bool:
    try:
        service(FhirRequest("GET", path))
    except NotFound:
        return False
    except FhirError as error:
        if error.status == 410:
            raise Unprocessable(
                "This referral was deleted here; it cannot be taken over"
            ) from error
        raise
    return True


def _moved(resource: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The resource as stored here: references to the issuing installation's centre point
    at the local centre; a Task starts again when it had moved on."""
    moved = _replace_reference(copy.deepcopy(resource), old, new)
    meta = {k: v for k, v in (moved.get("meta") or {}).items() if k in ("profile", "security")}
    moved["meta"] = meta
    if moved["resourceType"] == "Task":
        _restart(moved)
    return dict(moved)


def _replace_reference(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        if value.get("reference") == old:
            value["reference"] = new
        for key, item in value.items():
            value[key] = _replace_reference(item, old, new)
    elif isinstance(value, list):
        return [_replace_reference(item, old, new) for item in value]
    return value


def _restart(task: dict[str, Any]) -> None:
    """A Task taken over from paper starts at `requested`, with a note of where it was."""
    before = str(task.get("status") or "")
    now = to_instant(utcnow())
    if before not in STARTS:
        task["status"] = "requested"
        for key in ("statusReason", "businessStatus", "output", "executionPeriod"):
            task.pop(key, None)
    text = "Taken over from the printed referral letter"
    if before not in STARTS:
        text += f" (status at the issuing installation: {before[:40]})"
    task["note"] = [*(task.get("note") or []), {"time": now, "text": text}]
    task["lastModified"] = now


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    path = f"{resource['resourceType']}/{quote(str(resource['id']), safe='')}"
    return {"resource": resource, "request": {"method": "PUT", "url": path}}


def _taken(found: dict[str, list[dict[str, Any]]]) -> Access:
    """The AuditEvent of an import, recorded for the person who imported."""
    access = Access("operation", operation=IMPORT)
    for res_type in TAKEN_OVER:
        for resource in found.get(res_type, []):
            access.add(res_type, str(resource["id"]), None, patient_of(resource))
    return access

"""Referrals as the pages use them: created from a screening, listed in worklists, read
with their timeline and moved along the workflow. Every read and write goes through the
FHIR door (`send`: `api.door.perform` bound to the signed-in user), so the workflow rules
of `referrals.enforce`, the IG profiles, centre isolation and the audit trail apply to the
pages exactly as they do to other systems. No Flask.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from screening.api.messages import FhirRequest, FhirResponse
from screening.fhir.outcome import Conflict, NotFound
from screening.fhir.packages import Registry
from screening.fhir.searchset import (
    CANONICAL,
    by_reference,
    reference_text,
    resources,
    version_of,
)
from screening.patients.history import Labels
from screening.patients.provinces import province_by_name
from screening.patients.service import PatientRow, row_of
from screening.referrals.building import (
    REASON_SYSTEM,
    Leg,
    Referral,
    consent_resource,
    service_request,
    task_resource,
)
from screening.referrals.enforce import focus_id, referral_numbers
from screening.referrals.numbers import SYSTEM as NUMBER_SYSTEM
from screening.referrals.numbers import new_number
from screening.referrals.workflow import ENDED, OPEN, TRANSITIONS, Side, next_steps
from screening.store.clock import to_instant

Send = Callable[[FhirRequest], FhirResponse]
BUSINESS_SYSTEM = f"{CANONICAL}/CodeSystem/referral-business-status"
OUTPUT_SYSTEM = f"{CANONICAL}/CodeSystem/referral-output-type"
NUMBER_DRAWS = 5  # a drawn number already in use is drawn again, this many times at most
WORKLIST_LIMIT = 500  # referrals one worklist reads (newest first); filters narrow it
PAGE_SIZE = 25
PRIORITY_RANK = {"stat": 0, "asap": 0, "urgent": 1, "routine": 2}
# how long a referral may wait for the centre to accept it (CONTENT.md: 24 h / 72 h / 2 weeks)
ACCEPT_WITHIN = {
    "stat": timedelta(hours=24),
    "asap": timedelta(hours=24),
    "urgent": timedelta(hours=72),
    "routine": timedelta(weeks=2),
}
NOT_YET_ACCEPTED = frozenset({"requested", "received"})


# ------------------------------------------------------------------------- creating


def create_referral(send: Send, referral: Referral, province_code: str) -> list[str]:
    """Store the referral in one transaction (Consent, and a ServiceRequest and Task per
    leg); the ServiceRequest ids. Numbers already taken are drawn again."""
    for attempt in range(NUMBER_DRAWS):
        numbered = _numbered(referral, province_code)
        try:
            response = send(FhirRequest("POST", "", body=referral_bundle(numbered)))
        except Conflict as error:
            if error.code != "duplicate" or attempt == NUMBER_DRAWS - 1:
                raise
            continue
        return _created_ids(response, "ServiceRequest")
    raise AssertionError("unreachable")


def _numbered(referral: Referral, province_code: str) -> Referral:
    """The referral with a freshly drawn number on each leg."""
    day = date.fromisoformat(referral.authored[:10])
    legs = tuple(
        Leg(leg.service, leg.centre_id, new_number(day, province_code)) for leg in referral.legs
    )
    return Referral(**{**referral.__dict__, "legs": legs})


def referral_bundle(referral: Referral) -> dict[str, Any]:
    """The transaction Bundle of a new referral."""
    consent_url = f"urn:uuid:{uuid.uuid4()}"
    entries = [_post(consent_url, consent_resource(referral))]
    for leg in referral.legs:
        request_url = f"urn:uuid:{uuid.uuid4()}"
        entries.append(_post(request_url, service_request(referral, leg, consent_url)))
        entries.append(_post(f"urn:uuid:{uuid.uuid4()}", task_resource(referral, leg, request_url)))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _post(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def _created_ids(response: FhirResponse, res_type: str) -> list[str]:
    """The ids of the resources of one type a transaction created, in entry order."""
    ids = []
    for entry in (response.body or {}).get("entry", []):
        location = str(entry.get("response", {}).get("location", ""))
        marker = f"{res_type}/"
        if marker in location:
            ids.append(location.split(marker, 1)[1].split("/")[0])
    return ids


def concept_labels(
    registry: Registry, system: str, codes: Iterable[str], lang: str
) -> list[tuple[str, str]]:
    """(code, its text in `lang` from the IG's CodeSystem) of distinct codes, in order."""
    labels = Labels(registry, lang)
    return [
        (code, labels.concept({"coding": [{"system": system, "code": code}]}))
        for code in dict.fromkeys(codes)
    ]


def coded_reasons(registry: Registry, codes: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(code, English display) of referral-reason codes, for a referral's reasonCode."""
    return tuple(concept_labels(registry, REASON_SYSTEM, codes, "en"))


def province_code_of(patient: dict[str, Any]) -> str:
    """The ISO code of the person's home province (for the referral number), or ''."""
    state = str(((patient.get("address") or [{}])[0]).get("state") or "")
    found = province_by_name(state)
    return found.code if found else ""


# ------------------------------------------------------------------------ worklists


@dataclass(frozen=True)
class Filters:
    """What a worklist shows."""

    owner: str = ""  # Organization/<id>: a centre's inbox
    requester: str = ""  # Practitioner/<id>: one referrer's outbox
    status: str = "open"  # open | ended | all | a Task status
    priority: str = ""  # routine | urgent | asap | ''
    overdue_only: bool = False


@dataclass(frozen=True)
class Row:
    """One referral in a worklist."""

    request_id: str
    task_id: str
    number: str
    patient: PatientRow | None
    service: dict[str, Any]  # the CodeableConcept
    centre: str  # Organization/<id>
    centre_org: dict[str, Any]  # the Organization (empty when not included)
    priority: str
    status: str
    business_status: dict[str, Any]
    authored: datetime | None
    waiting: timedelta | None
    overdue: bool


@dataclass(frozen=True)
class Worklist:
    """One page of a worklist."""

    rows: list[Row]
    total: int
    page: int
    pages: int
    capped: bool  # more referrals matched than a worklist reads


def worklist(send: Send, filters: Filters, page: int, now: datetime) -> Worklist:
    """The referrals that match, most pressing first: overdue, then by priority, then the
    longest waiting; ended referrals after the open ones, newest first."""
    query = _worklist_query(filters)
    bundle = send(FhirRequest("GET", "Task", query=query)).body or {}
    rows = [r for r in rows_of(bundle, now) if not filters.overdue_only or r.overdue]
    rows.sort(key=_urgency)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    capped = int(bundle.get("total") or 0) > WORKLIST_LIMIT
    return Worklist(shown, len(rows), page, pages, capped)


def _worklist_query(filters: Filters) -> list[tuple[str, str]]:
    """The Task search of a worklist."""
    query = [
        ("_profile", f"{CANONICAL}/StructureDefinition/referral-task"),
        ("_include", "Task:focus"),
        ("_include", "Task:patient"),
        ("_include", "Task:owner"),
        ("_sort", "-authored-on"),
        ("_count", str(WORKLIST_LIMIT)),
        ("_total", "accurate"),
    ]
    if filters.owner:
        query.append(("owner", filters.owner))
    if filters.requester:
        query.append(("requester", filters.requester))
    statuses = {"open": OPEN, "ended": ENDED, "all": frozenset()}.get(
        filters.status, frozenset({filters.status})
    )
    if statuses:
        query.append(("status", ",".join(sorted(statuses))))
    if filters.priority:
        query.append(("priority", filters.priority))
    return query


def _urgency(row: Row) -> tuple[int, int, float]:
    """Sort key: open before ended; overdue first; priority; longest waiting first."""
    if row.status in ENDED:
        newest = -row.authored.timestamp() if row.authored else 0.0
        return (1, 0, newest)
    waited = -row.waiting.total_seconds() if row.waiting else 0.0
    return (0, (0 if row.overdue else 1) * 10 + PRIORITY_RANK.get(row.priority, 3), waited)


def rows_of(bundle: dict[str, Any], now: datetime) -> list[Row]:
    """The worklist rows of a Task searchset with its included resources."""
    included = by_reference(resources(bundle, "include"))
    rows = []
    for task in resources(bundle, "match"):
        request = included.get(f"ServiceRequest/{focus_id(task)}", {})
        rows.append(_row(task, request, included, now))
    return rows


def _row(
    task: dict[str, Any], request: dict[str, Any], included: dict[str, dict[str, Any]],
    now: datetime,
) -> Row:  # fmt: skip
    patient = included.get(str((task.get("for") or {}).get("reference")))
    centre = str((task.get("owner") or {}).get("reference") or "")
    authored = parse_instant(str(task.get("authoredOn") or ""))
    status = str(task.get("status") or "")
    priority = str(request.get("priority") or task.get("priority") or "routine")
    waiting = now - authored if authored else None
    return Row(
        request_id=str(request.get("id") or focus_id(task) or ""),
        task_id=str(task.get("id") or ""),
        number=referral_number(request),
        patient=row_of(patient, now.date()) if patient else None,
        service=request.get("code") or {},
        centre=centre,
        centre_org=included.get(centre, {}),
        priority=priority,
        status=status,
        business_status=task.get("businessStatus") or {},
        authored=authored,
        waiting=waiting,
        overdue=is_overdue(status, priority, waiting),
    )


def is_overdue(status: str, priority: str, waiting: timedelta | None) -> bool:
    """Whether a referral has waited longer for acceptance than its priority allows."""
    if status not in NOT_YET_ACCEPTED or waiting is None:
        return False
    return waiting > ACCEPT_WITHIN.get(priority, ACCEPT_WITHIN["routine"])


def referral_number(request: dict[str, Any]) -> str:
    """The referral number of a ServiceRequest ('' when it has none)."""
    return next(iter(referral_numbers(request)), "")


def parse_instant(text: str) -> datetime | None:
    """A FHIR dateTime or instant as a naive UTC datetime, the store's form (a date, or
    a time without zone, counts as UTC)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


# ---------------------------------------------------------------------- one referral


@dataclass(frozen=True)
class Step:
    """One version of the referral's Task, as the timeline shows it."""

    when: datetime | None
    version: int
    status: str
    status_changed: bool
    side: Side | None  # who takes such a step (None: the referral was written)
    reason: str
    business_status: dict[str, Any]
    outputs: list[dict[str, Any]]  # outputs this version added
    notes: list[dict[str, Any]]  # notes this version added (author, time, text)


@dataclass
class Case:
    """A referral with everything its page shows."""

    request: dict[str, Any]
    task: dict[str, Any]
    task_version: int
    patient: dict[str, Any]
    centre: dict[str, Any]
    requester: dict[str, Any]
    steps: list[Step]
    siblings: list[tuple[str, str]] = field(default_factory=list)  # (id, number) same screening

    @property
    def held_from(self) -> str | None:
        """The status an on-hold Task left."""
        if self.task.get("status") != "on-hold":
            return None
        for step in reversed(self.steps):
            if step.status != "on-hold":
                return step.status
        return None

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return list(self.task.get("output") or [])


def read_case(send: Send, request_id: str) -> Case:
    """A referral, its Task and its Task's history (NotFound when unknown or hidden)."""
    request, included = read_referral(send, request_id)
    task = task_of(included)
    history = _task_history(send, str(task.get("id"))) if task else []
    return Case(
        request=request,
        task=task,
        task_version=version_of(task),
        patient=included.get(reference_text(request.get("subject")), {}),
        centre=included.get(receiving_centre(request), {}),
        requester=included.get(reference_text(request.get("requester")), {}),
        steps=timeline(history),
        siblings=_siblings(send, request),
    )


def read_referral(
    send: Send, request_id: str, *more: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A ServiceRequest, and by reference its person, receiving centre, requester, Task and
    the `more` ServiceRequest includes (NotFound when unknown or out of reach)."""
    includes = ("subject", "performer", "requester", *more)
    query = [
        ("_id", request_id),
        *(("_include", f"ServiceRequest:{name}") for name in includes),
        ("_revinclude", "Task:focus"),
    ]
    bundle = send(FhirRequest("GET", "ServiceRequest", query=query)).body or {}
    matches = resources(bundle, "match")
    if not matches:
        raise NotFound(f"ServiceRequest/{request_id} is not known")
    return matches[0], by_reference(resources(bundle, "include"))


def receiving_centre(request: dict[str, Any]) -> str:
    """`Organization/<id>` of the centre a referral is sent to ('' when none)."""
    return reference_text((request.get("performer") or [{}])[0])


def task_of(included: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Task among a referral's included resources ({} when none)."""
    return next((r for r in included.values() if r.get("resourceType") == "Task"), {})


def _task_history(send: Send, task_id: str) -> list[dict[str, Any]]:
    """Every version of a Task, oldest first."""
    body = send(FhirRequest("GET", f"Task/{task_id}/_history", query=[("_count", "500")])).body
    versions = [e["resource"] for e in (body or {}).get("entry", []) if "resource" in e]
    return sorted(versions, key=version_of)


def _siblings(send: Send, request: dict[str, Any]) -> list[tuple[str, str]]:
    """The other referrals written with this one (same requisition)."""
    group = request.get("requisition") or {}
    if not group.get("value"):
        return []
    criteria = f"{group.get('system', '')}|{group['value']}"
    req = FhirRequest("GET", "ServiceRequest", query=[("requisition", criteria)])
    found = resources(send(req).body or {}, "match")
    return [(str(r["id"]), referral_number(r)) for r in found if r.get("id") != request.get("id")]


def timeline(versions: Iterable[dict[str, Any]]) -> list[Step]:
    """What each version of a Task changed, oldest first."""
    steps: list[Step] = []
    before: dict[str, Any] | None = None
    for task in versions:
        status = str(task.get("status") or "")
        old = str(before.get("status")) if before else None
        stamp = task.get("authoredOn") if before is None else None  # written, then stored
        stamp = stamp or (task.get("meta") or {}).get("lastUpdated")
        steps.append(
            Step(
                when=parse_instant(str(stamp or "")),
                version=version_of(task),
                status=status,
                status_changed=old != status,
                side=TRANSITIONS.get((old, status)) if old and old != status else None,
                reason=str((task.get("statusReason") or {}).get("text") or "")
                if old != status
                else "",
                business_status=task.get("businessStatus") or {}
                if (before or {}).get("businessStatus") != task.get("businessStatus")
                else {},
                outputs=_added(before, task, "output"),
                notes=_added(before, task, "note"),
            )
        )
        before = task
    return steps


def _added(before: dict[str, Any] | None, after: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The list items of `after[key]` that `before` did not have."""
    old = list((before or {}).get(key) or [])
    return [item for item in after.get(key) or [] if item not in old]


# -------------------------------------------------------------------------- a step


@dataclass(frozen=True)
class Change:
    """What someone records on a referral: a new status and what goes with it."""

    status: str
    reason: str = ""  # statusReason text
    business_status: str = ""  # referral-business-status code, '' for no change
    appointment: str = ""  # an instant
    feedback: str = ""  # the centre's feedback (Task.output centre-feedback)
    note: str = ""


@dataclass(frozen=True)
class Actor:
    """Who records the step: their Practitioner and name."""

    practitioner: str  # Practitioner/<id>
    name: str


def record_step(send: Send, case: Case, change: Change, actor: Actor, now: datetime) -> None:
    """Write the Task's next version over the version the page showed (If-Match)."""
    task = changed_task(case.task, change, actor, to_instant(now))
    req = FhirRequest("PUT", f"Task/{task['id']}", body=task, if_match=f'W/"{case.task_version}"')
    send(req)


def changed_task(task: dict[str, Any], change: Change, actor: Actor, now: str) -> dict[str, Any]:
    """The Task with the change applied (the workflow rules are the store's to check)."""
    new = copy.deepcopy(task)
    new.pop("meta", None)
    new["meta"] = {"profile": list((task.get("meta") or {}).get("profile") or [])}
    new.pop("text", None)
    if change.status != task.get("status"):
        new["status"] = change.status
        new.pop("statusReason", None)
        if change.reason:
            new["statusReason"] = {"text": change.reason}
    if change.business_status:
        new["businessStatus"] = {
            "coding": [{"system": BUSINESS_SYSTEM, "code": change.business_status}]
        }
    outputs = list(new.get("output") or [])
    if change.appointment:
        outputs.append({"type": _output_type("appointment"), "valueDateTime": change.appointment})
    if change.feedback:
        outputs.append({"type": _output_type("centre-feedback"), "valueString": change.feedback})
    if outputs:
        new["output"] = outputs
    text = change.note or change.reason
    new["note"] = [
        *(new.get("note") or []),
        {
            "authorReference": {"reference": actor.practitioner, "display": actor.name},
            "time": now,
            "text": text or f"Status: {change.status}",
        },
    ]
    new["lastModified"] = now
    return new


def _output_type(code: str) -> dict[str, Any]:
    return {"coding": [{"system": OUTPUT_SYSTEM, "code": code}]}


def next_statuses(case: Case, side: Side | None) -> list[str]:
    """The statuses `side` may move the referral's Task to next."""
    return next_steps(str(case.task.get("status") or ""), side, case.held_from)


def find_by_number(send: Send, number: str) -> str | None:
    """The id of the referral with this number, if the principal may see it."""
    req = FhirRequest("GET", "ServiceRequest", query=[("identifier", f"{NUMBER_SYSTEM}|{number}")])
    found = resources(send(req).body or {}, "match")
    return str(found[0]["id"]) if found else None

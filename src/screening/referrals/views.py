"""The referral pages: refer a screened person, the worklists (a centre's inbox, a
referrer's outbox), and one referral with its timeline and the next steps.

Views parse, call `referrals.service` (through the FHIR door as the signed-in user) and
render; the workflow's refusals come back from the door and are shown on the form.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, redirect, request, url_for
from flask.typing import ResponseReturnValue

from screening.api.views import base_url
from screening.auth.roles import Role
from screening.boundary import app_state
from screening.fhir.outcome import FhirError, PreconditionFailed
from screening.patients.history import Labels
from screening.patients.resource import values_of
from screening.patients.service import row_of
from screening.referrals.basis import Basis, load_basis
from screening.referrals.building import REASON_SYSTEM, Consent, Leg, Referral
from screening.referrals.directory import SERVICES, organization_name
from screening.referrals.numbers import is_valid, normalized
from screening.referrals.schemas import (
    BUSINESS,
    CONSENT_BY,
    PRIORITIES,
    REASONS,
    ReferralValues,
    read_referral,
    read_step,
)
from screening.referrals.service import (
    BUSINESS_SYSTEM,
    Actor,
    Case,
    Change,
    Filters,
    coded_reasons,
    concept_labels,
    create_referral,
    find_by_number,
    next_statuses,
    read_case,
    record_step,
    worklist,
)
from screening.referrals.workflow import ENDED, OPEN, REASON_REQUIRED, side_of
from screening.screenings.directory import account_worker, practitioner_reference
from screening.screenings.response import answers_of
from screening.screenings.suggestions import reason_codes
from screening.screenings.views import note_values
from screening.store.clock import to_instant, utcnow
from screening.web.forms import FormErrors
from screening.web.i18n import Message
from screening.web.pages import door, signed_in
from screening.web.refusals import checked_id, refusals
from screening.web.render import catalogue, render_page
from screening.web.visitor import login_required, page_language

bp = Blueprint("referrals", __name__)
referrers = login_required(roles=[Role.CLINICIAN])
workers = login_required(roles=[Role.CLINICIAN, Role.CENTRE_STAFF])
STATUS_FILTERS = ("open", "ended", "all", *sorted(OPEN), *sorted(ENDED))
NOTICES = frozenset({"created", "updated", "imported", "already_here"})


# ------------------------------------------------------------------ a new referral


@bp.route("/screenings/<response_id>/refer", methods=["GET", "POST"])
@referrers
def new(response_id: str) -> ResponseReturnValue:
    """The referral form of a screening, filled in from its conclusion."""
    with refusals():
        basis = load_basis(door(), checked_id(response_id), Decimal(app_state().config.tug_cutoff))
    if request.method == "GET":
        return _new_page(basis, _initial(basis), {})
    posted = request.form.to_dict(flat=False)
    offered = {s: {c.fhir_id for c in found} for s, found in basis.centres.items()}
    values, errors = read_referral(posted, offered)
    if values is None:
        return _new_page(basis, posted, errors, status=400)
    try:
        with refusals():
            ids = create_referral(door(), _referral(basis, values), basis.province)
    except FhirError:
        return _new_page(basis, posted, {"_": Message("referrals.error.store")}, status=422)
    return redirect(url_for("referrals.show", request_id=ids[0], done="created"), 303)


def _referral(basis: Basis, values: ReferralValues) -> Referral:
    """The referral to store, from the checked form."""
    return Referral(
        patient=f"Patient/{basis.patient['id']}",
        requester=_my_practitioner(),
        encounter=basis.encounter,
        screening=f"QuestionnaireResponse/{basis.response['id']}",
        evidence=basis.evidence,
        legs=tuple(Leg(service, centre, "") for service, centre in values.legs),
        priority=values.priority,
        reasons=coded_reasons(app_state().fhir.registry, values.reasons),
        reason_text=values.reason_text,
        consent=Consent(values.consent_by, values.guardian_name),
        sensitive=values.sensitive,
        authored=to_instant(utcnow()),
    )


def _initial(basis: Basis) -> dict[str, list[str]]:
    """The form filled in from the screening's conclusion and suggestions."""
    answers = answers_of(basis.response)
    suggestions = basis.reading.suggestions
    services = [str(s) for s in answers.get("conclusion.service", [])] or [
        s.service for s in suggestions
    ]
    reasons = [code for s in services for code in reason_codes(suggestions, s)]
    if answers.get("conclusion.override-reason") or not reasons:
        reasons.append("clinical-judgement")
    values: dict[str, list[str]] = {
        "service": services,
        "priority": [str((answers.get("conclusion.priority") or ["routine"])[0])],
        "reason": list(dict.fromkeys(reasons)),
        "reason_text": [_reason_text(basis, services, answers)],
        "consent_by": ["patient"],
        "guardian_name": [values_of(basis.patient, utcnow().date()).guardian_name],
    }
    age = row_of(basis.patient, utcnow().date()).age
    if age is not None and age < 18:
        values["consent_by"] = ["guardian"]
    for service, centres in basis.centres.items():
        if centres:
            values[f"centre.{service}"] = [centres[0].fhir_id]
    return values


def _reason_text(basis: Basis, services: list[str], answers: dict[str, list[Any]]) -> str:
    """The reasons of the suggestions for the chosen services, and the clinician's notes,
    in the page's language."""
    lang = page_language()
    lines = [
        catalogue().text(lang, reason.note.key, **note_values(reason.note))
        for suggestion in basis.reading.suggestions
        if suggestion.service in services
        for reason in suggestion.why
    ]
    for link_id in ("conclusion.override-reason", "conclusion.note"):
        lines += [str(text) for text in answers.get(link_id, [])]
    return "\n".join(dict.fromkeys(lines))


def _new_page(
    basis: Basis, values: dict[str, list[str]], errors: FormErrors, status: int = 200
) -> ResponseReturnValue:
    return render_page(
        "pages/referrals/new.html",
        status,
        basis=basis,
        patient_row=row_of(basis.patient, utcnow().date()),
        values=values,
        errors=errors,
        services=tuple(SERVICES),
        priorities=PRIORITIES,
        reasons=REASONS,
        consent_by=CONSENT_BY,
        reason_options=_concept_options(REASON_SYSTEM, REASONS),
    )


def _concept_options(system: str, codes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(code, label in the page's language) of IG concepts, for a form's choices."""
    return concept_labels(app_state().fhir.registry, system, codes, page_language())


# ------------------------------------------------------------------------ worklists


@bp.get("/referrals")
@workers
def listing() -> ResponseReturnValue:
    """The inbox of a centre's staff, or the outbox of a clinician; a referral number
    typed in the search box opens that referral."""
    visitor = signed_in()
    number = normalized(request.args.get("number", ""))[:40]
    if number:
        found = find_by_number(door(), number) if is_valid(number) else None
        if found:
            return redirect(url_for("referrals.show", request_id=found))
    args = _filter_args()
    inbox = visitor.role is Role.CENTRE_STAFF
    filters = Filters(
        owner=f"Organization/{visitor.organization}" if inbox else "",
        requester=_my_practitioner() if not inbox and args["scope"] == "mine" else "",
        status=args["status"],
        priority=args["priority"],
        overdue_only=args["overdue"] == "1",
    )
    with refusals():
        found_list = worklist(door(), filters, _page_number(), utcnow())
    return render_page(
        "pages/referrals/list.html",
        inbox=inbox,
        worklist=found_list,
        args=args,
        number=number,
        number_not_found=bool(number),
        status_filters=STATUS_FILTERS,
        priorities=PRIORITIES,
        labels=Labels(app_state().fhir.registry, page_language()),
    )


def _filter_args() -> dict[str, str]:
    """The worklist filters from the query string (unknown values fall back)."""
    args = request.args
    status = args.get("status", "open")
    priority = args.get("priority", "")
    scope = args.get("scope", "mine")
    return {
        "status": status if status in STATUS_FILTERS else "open",
        "priority": priority if priority in PRIORITIES else "",
        "overdue": "1" if args.get("overdue") == "1" else "",
        "scope": scope if scope in ("mine", "all") else "mine",
    }


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 6 else 1


def _my_practitioner() -> str:
    """`Practitioner/<id>` of the signed-in user."""
    visitor, state = signed_in(), app_state()
    worker = account_worker(state, visitor.username, visitor.full_name)
    return practitioner_reference(state, base_url(), worker)


# ---------------------------------------------------------------------- one referral


@bp.get("/referrals/<request_id>")
@workers
def show(request_id: str) -> ResponseReturnValue:
    """A referral: what was asked, of whom, the timeline and the next steps."""
    with refusals():
        case = read_case(door(), checked_id(request_id))
    done = request.args.get("done", "")
    return _case_page(
        case, {}, {}, notice=Message(f"referrals.notice.{done}") if done in NOTICES else None
    )


@bp.post("/referrals/<request_id>/step")
@workers
def step(request_id: str) -> ResponseReturnValue:
    """Record a step (a new status, feedback, an appointment) over the version shown."""
    with refusals():
        case = read_case(door(), checked_id(request_id))
    posted = request.form.to_dict()
    values, errors = read_step(posted, page_language(), utcnow().date())
    if values is None:
        return _case_page(case, posted, errors, status=400)
    if values.version != case.task_version:
        return _case_page(case, posted, {}, status=409, conflict=True)
    change = Change(
        status=values.status,
        reason=values.reason,
        business_status=values.business_status,
        appointment=values.appointment.isoformat() if values.appointment else "",
        feedback=values.feedback,
        note=values.note,
    )
    visitor = signed_in()
    actor = Actor(_my_practitioner(), visitor.full_name or visitor.username)
    try:
        with refusals():
            record_step(door(), case, change, actor, utcnow())
    except PreconditionFailed:
        return _case_page(case, posted, {}, status=409, conflict=True)
    except FhirError as error:
        field = "reason" if error.status == 422 else "status"
        return _case_page(
            case, posted, {field: Message("referrals.error.refused", {"text": error.diagnostics})},
            status=error.status if 400 <= error.status < 500 else 422,
        )  # fmt: skip
    return redirect(url_for("referrals.show", request_id=request_id, done="updated"), 303)


def _case_page(
    case: Case, values: dict[str, str], errors: FormErrors, *, status: int = 200,
    conflict: bool = False, notice: Message | None = None,
) -> ResponseReturnValue:  # fmt: skip
    visitor = signed_in()
    side = side_of(visitor.principal, case.task) if case.task else None
    return render_page(
        "pages/referrals/show.html",
        status,
        case=case,
        patient_row=row_of(case.patient, utcnow().date()) if case.patient else None,
        next_statuses=next_statuses(case, side),
        side=side,
        values=values,
        errors=errors,
        conflict=conflict,
        notice=notice,
        business_options=_concept_options(BUSINESS_SYSTEM, BUSINESS),
        reason_required=sorted(REASON_REQUIRED),
        labels=Labels(app_state().fhir.registry, page_language()),
        may_print=visitor.principal.may_print(),
    )


@bp.app_template_global()
def centre_name(org: dict[str, Any]) -> str:
    """A receiving centre's name in the page's language."""
    return organization_name(org, page_language())


@bp.app_template_global()
def waited(waiting: timedelta) -> str:
    """How long a referral has waited, in days (hours on its first day)."""
    lang = page_language()
    if waiting.days >= 1:
        return catalogue().text(lang, "referrals.waiting_days", n=waiting.days)
    hours = max(0, waiting.seconds // 3600)
    if hours == 0:
        return catalogue().text(lang, "referrals.waiting_new")
    return catalogue().text(lang, "referrals.waiting_hours", n=hours)

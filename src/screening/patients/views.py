"""The patient pages: search, register, edit, and the patient page with its history.

Views parse, call the patients service (which goes through the FHIR door as the signed-in
user) and render. Unknown or hidden people are 404 (a centre cannot tell them apart), a
refusal of the door is 403; form problems are shown next to their fields.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from screening.auth.roles import Role
from screening.boundary import app_state
from screening.fhir.outcome import FhirError, Unprocessable
from screening.patients.history import Labels, load_history
from screening.patients.provinces import province_options
from screening.patients.resource import RELATIONSHIPS, SEXES, values_of
from screening.patients.schemas import (
    FIELDS,
    Posted,
    form_values,
    kept_values,
    read_form,
    search_text,
)
from screening.patients.service import (
    CaseCodeTaken,
    EditConflict,
    LikelyDuplicates,
    PatientRow,
    Patients,
)
from screening.store.clock import utcnow
from screening.web.forms import FormErrors
from screening.web.i18n import Message
from screening.web.pages import door, signed_in
from screening.web.refusals import checked_id, refusals
from screening.web.render import render_page
from screening.web.visitor import login_required, page_language

bp = Blueprint("patients", __name__, url_prefix="/patients")
WRITERS = (Role.SCREENER, Role.CLINICIAN)
READERS = (*WRITERS, Role.CENTRE_STAFF)
readers = login_required(roles=READERS)
writers = login_required(roles=WRITERS)
NOTICES = frozenset({"created", "updated"})
SNAPSHOT = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
# where the error summary links to, for fields whose first control is not `f-<name>`
ANCHORS = {"sex": "f-sex-male"}


def _patients() -> Patients:
    """The patients service of the signed-in user (through the FHIR door)."""
    return Patients(door(), utcnow().date())


def _notice() -> Message | None:
    """The confirmation named by `?done=` (only known ones)."""
    done = request.args.get("done", "")
    return Message(f"patients.notice.{done}") if done in NOTICES else None


def _may_write() -> bool:
    """Whether the signed-in user may register and edit people."""
    return signed_in().role in WRITERS


# -------------------------------------------------------------------------- search


@bp.get("")
@readers
def search() -> ResponseReturnValue:
    """The search box, and one page of the people who match it (nothing for no text)."""
    text, errors = search_text(request.args)
    found = None
    if text and not errors:
        snapshot = request.args.get("page", "")
        offset = request.args.get("offset", "0")
        try:
            found = _patients().search(
                text,
                snapshot if SNAPSHOT.match(snapshot) else None,
                int(offset) if offset.isdigit() and len(offset) < 7 else 0,
            )
        except FhirError:
            errors["q"] = Message("patients.error.search")
    return render_page(
        "pages/patients/search.html",
        400 if errors else 200,
        q=str(request.args.get("q", ""))[:200],
        found=found,
        errors=errors,
        notice=_notice(),
        may_register=_may_write(),
        previous_url=_page_url(text, found.snapshot, found.previous_offset) if found else None,
        next_url=_page_url(text, found.snapshot, found.next_offset) if found else None,
    )


def _page_url(text: str, snapshot: str | None, offset: int | None) -> str | None:
    """The link to another page of the same search."""
    if offset is None or snapshot is None:
        return None
    return url_for("patients.search", q=text, page=snapshot, offset=offset)


# ------------------------------------------------------------------------ register


@bp.get("/new")
@writers
def new() -> ResponseReturnValue:
    """The empty register form."""
    return _form_page(200, {}, {})


@bp.post("/new")
@writers
def create() -> ResponseReturnValue:
    """Register a person; errors next to their fields, likely duplicates shown first."""
    posted = _posted()
    if posted.values is None:
        return _form_page(400, kept_values(request.form), posted.errors)
    try:
        with refusals():
            new_id = _patients().register(posted.values, confirmed=posted.confirmed)
    except CaseCodeTaken:
        return _form_page(409, kept_values(request.form), _taken())
    except LikelyDuplicates as found:
        kept = {**kept_values(request.form), "case_code": found.values.case_code}
        return _form_page(409, kept, {}, duplicates=found.matches)
    except Unprocessable:
        return _form_page(400, kept_values(request.form), _not_valid())
    return redirect(url_for("patients.view", patient_id=new_id, done="created"), 303)


def _posted() -> Posted:
    """The checked form, in the page's language and calendar."""
    return read_form(request.form, page_language(), utcnow().date())


def _taken() -> FormErrors:
    """The error of a case code that belongs to someone else."""
    return {"case_code": Message("patients.error.case_code_taken")}


def _not_valid() -> FormErrors:
    """The error of details the FHIR profile refused (not expected: the form checks them)."""
    return {"_": Message("patients.error.not_valid")}


def _form_page(
    status: int,
    values: dict[str, str],
    errors: FormErrors,
    *,
    patient_id: str | None = None,
    duplicates: list[PatientRow] | None = None,
    conflict: bool = False,
) -> Response:
    """The register form (or the edit form of `patient_id`), with values and errors."""
    lang = page_language()
    return render_page(
        "pages/patients/form.html",
        status,
        values=values,
        errors=errors,
        patient_id=patient_id,
        duplicates=duplicates or [],
        conflict=conflict,
        fields=FIELDS,
        anchors=ANCHORS,
        province_options=province_options(lang),
        sexes=SEXES,
        relationships=tuple(RELATIONSHIPS),
    )


# ---------------------------------------------------------------------------- edit


@bp.get("/<patient_id>/edit")
@writers
def edit(patient_id: str) -> ResponseReturnValue:
    """The edit form, filled in from the current version."""
    with refusals():
        record = _patients().read(checked_id(patient_id))
    shown = form_values(values_of(record.resource, utcnow().date()), page_language())
    return _form_page(200, {**shown, "version": str(record.version)}, {}, patient_id=patient_id)


@bp.post("/<patient_id>/edit")
@writers
def update(patient_id: str) -> ResponseReturnValue:
    """Store the changes over the version the form was loaded from."""
    checked_id(patient_id)
    posted = _posted()
    kept = kept_values(request.form)
    if posted.values is None or posted.version is None:
        errors = posted.errors or {"_": Message("error.invalid")}
        return _form_page(400, kept, errors, patient_id=patient_id)
    try:
        with refusals():
            _patients().update(patient_id, posted.version, posted.values)
    except CaseCodeTaken:
        return _form_page(409, kept, _taken(), patient_id=patient_id)
    except EditConflict:
        return _form_page(409, kept, {}, patient_id=patient_id, conflict=True)
    except Unprocessable:
        return _form_page(400, kept, _not_valid(), patient_id=patient_id)
    return redirect(url_for("patients.view", patient_id=patient_id, done="updated"), 303)


# ---------------------------------------------------------------------------- view


@bp.get("/<patient_id>")
@readers
def view(patient_id: str) -> ResponseReturnValue:
    """A person's details, guardian, screenings and referrals."""
    service = _patients()
    labels = Labels(app_state().fhir.registry, page_language())
    with refusals():
        record = service.read(checked_id(patient_id))
        history = load_history(service.send, patient_id, labels)
    return render_page(
        "pages/patients/view.html",
        record=record,
        values=values_of(record.resource, service.today),
        history=history,
        notice=_notice(),
        may_write=_may_write(),
        new_screening_url=_link(
            "screenings.new", f"/patients/{patient_id}/screenings/new", patient_id=patient_id
        ),
        screening_url=_screening_url,
    )


def _screening_url(response_id: str) -> str:
    """The page of one screening (the screenings pages own it)."""
    return _link("screenings.show", f"/screenings/{response_id}", response_id=response_id)


def _link(endpoint: str, path: str, **values: Any) -> str:
    """`url_for(endpoint)` when that page exists, else its agreed path."""
    if endpoint in current_app.view_functions:
        return url_for(endpoint, **values)
    return path

"""The screening pages: the form rendered from the field-screening Questionnaire (check
and see the results, then save), the result page of a stored screening, and the form's
enableWhen stylesheet."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from screening.api.messages import FhirRequest
from screening.api.views import base_url
from screening.auth.roles import Role
from screening.boundary import app_state
from screening.fhir.outcome import FhirError
from screening.fhir.searchset import resources
from screening.patients.provinces import PROVINCES, sort_key
from screening.screenings.directory import Place
from screening.screenings.enable_css import enable_stylesheet
from screening.screenings.findings import Reading, read_screening
from screening.screenings.form_schema import Checked, QuestionnaireForm, questionnaire_form
from screening.screenings.questionnaire import Form, form_of
from screening.screenings.response import answers_of
from screening.screenings.scoring import Note
from screening.screenings.service import (
    FIELD_SCREENING,
    Screener,
    Visit,
    conclusion_errors,
    draft_response,
    person_of,
    record_screening,
)
from screening.screenings.wording import Wording
from screening.web.calendar import DateEntryError, entry_text, parse_date
from screening.web.i18n import Message
from screening.web.pages import door, signed_in
from screening.web.refusals import checked_id, refusals
from screening.web.render import catalogue, render_page
from screening.web.visitor import login_required, page_language

bp = Blueprint("screenings", __name__)
screeners = login_required(roles=[Role.SCREENER, Role.CLINICIAN])
readers = login_required(roles=[Role.SCREENER, Role.CLINICIAN, Role.CENTRE_STAFF])
PLACE_FIELDS = ("screening.date", "screening.province", "screening.district", "screening.village")
CONCLUSION_GROUP = "conclusion"


def _tug_cutoff() -> Decimal:
    """The configured TUG fall-risk cut-off in seconds."""
    return Decimal(app_state().config.tug_cutoff)


def _form() -> Form:
    return form_of(app_state().fhir.registry, FIELD_SCREENING)


def _fetch(path: str, query: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A read or search through the FHIR door as the signed-in user (audited); 404 when
    the resource is unknown or out of reach, 403 for any other refusal."""
    try:
        with refusals():
            return door()(FhirRequest("GET", path, query=query or [])).body or {}
    except FhirError:
        abort(403)


@bp.route("/patients/<patient_id>/screenings/new", methods=["GET", "POST"])
@screeners
def new(patient_id: str) -> ResponseReturnValue:
    """The screening form; `action=review` shows the results, `action=save` stores."""
    patient = _fetch(f"Patient/{checked_id(patient_id)}")
    lang = page_language()
    qform = questionnaire_form(_form(), lang)
    if request.method == "GET":
        return _page(patient, qform, _initial(patient, lang), Checked(), None)
    posted = request.form.to_dict(flat=False)
    if request.form.get("action") == "save":
        return _save(patient, qform, posted)
    return _review(patient, qform, posted)


def _review(
    patient: dict[str, Any], qform: QuestionnaireForm, posted: dict[str, list[str]]
) -> ResponseReturnValue:
    """Check the instruments (not yet the conclusion) and show what they mean, with the
    conclusion filled in from the suggestions when the clinician has not chosen yet."""
    instruments = frozenset(i.link_id for i in qform.form.items if i.link_id != CONCLUSION_GROUP)
    checked = qform.check(posted, only=instruments)
    _, place_errors = _place(posted)
    checked.errors.update(place_errors)
    reading = None
    if checked.valid:
        reading = read_screening(
            draft_response(qform.form, checked, patient["id"]), person_of(patient), _tug_cutoff()
        )
        posted = _suggested_conclusion(posted, reading)
    return _page(patient, qform, posted, checked, reading, status=200 if checked.valid else 400)


def _save(
    patient: dict[str, Any], qform: QuestionnaireForm, posted: dict[str, list[str]]
) -> ResponseReturnValue:
    """Check everything; store the screening, or show the form again with the errors."""
    checked = qform.check(posted)
    place, place_errors = _place(posted)
    checked.errors.update(place_errors)
    reading = None
    if checked.valid:
        reading = read_screening(
            draft_response(qform.form, checked, patient["id"]), person_of(patient), _tug_cutoff()
        )
        checked.errors.update(conclusion_errors(reading, checked))
    if not checked.valid or place is None:
        return _page(patient, qform, posted, checked, reading, status=400)
    visitor = signed_in()
    screener = Screener(visitor.principal, visitor.username, visitor.full_name)
    try:
        response_id = record_screening(
            app_state(), base_url(), screener, Visit(patient["id"], *place), qform.form, checked
        )
    except FhirError:
        checked.errors["_"] = Message("screening.error.store")
        return _page(patient, qform, posted, checked, reading, status=422)
    return redirect(url_for("screenings.show", response_id=response_id, saved=1), 303)


def _place(posted: dict[str, list[str]]) -> tuple[tuple[Place, date] | None, dict[str, Message]]:
    """The place and day of the screening from the form (not part of the Questionnaire)."""

    def one(name: str) -> str:
        return (posted.get(name) or [""])[0].strip()[:100]

    errors: dict[str, Message] = {}
    day: date | None = None
    try:
        day = parse_date(one("screening.date"), page_language())
        if day > date.today():
            errors["screening.date"] = Message("error.future_date")
    except DateEntryError:
        errors["screening.date"] = Message(
            "error.date" if one("screening.date") else "error.required"
        )
    if not one("screening.province"):
        errors["screening.province"] = Message("error.required")
    if errors or day is None:
        return None, errors
    place = Place(one("screening.province"), one("screening.district"), one("screening.village"))
    return (place, day), {}


def _initial(patient: dict[str, Any], lang: str) -> dict[str, list[str]]:
    """A new form: today, and the place of the person's home address."""
    address = (patient.get("address") or [{}])[0]
    return {
        "screening.date": [entry_text(date.today(), lang)],
        "screening.province": [str(address.get("state", ""))],
        "screening.district": [str(address.get("district", ""))],
        "screening.village": [str(address.get("city", ""))],
    }


def _suggested_conclusion(posted: dict[str, list[str]], reading: Reading) -> dict[str, list[str]]:
    """The posted form with the conclusion taken from the suggestions, unless the
    clinician has already answered it."""
    if posted.get("conclusion.referral-needed"):
        return posted
    filled = dict(posted)
    services = list(reading.suggested_services)
    filled["conclusion.referral-needed"] = ["true" if services else "false"]
    filled["conclusion.service"] = services
    if services and not posted.get("conclusion.priority"):
        filled["conclusion.priority"] = ["routine"]
    return filled


def _page(
    patient: dict[str, Any], qform: QuestionnaireForm, values: dict[str, list[str]],
    checked: Checked, reading: Reading | None, status: int = 200,
) -> ResponseReturnValue:  # fmt: skip
    return render_page(
        "pages/screenings/form.html",
        status,
        patient=patient,
        qform=qform,
        values=values,
        errors=checked.errors,
        reading=reading,
        stylesheet=url_for("screenings.stylesheet", lang=qform.lang),
        used_instances={
            int(name.rsplit("@", 1)[1])
            for name, given in values.items()
            if "@" in name and name.rsplit("@", 1)[1].isdigit() and any(v.strip() for v in given)
        },
        provinces=_provinces(qform.lang),
    )


@bp.get("/screenings/<response_id>")
@readers
def show(response_id: str) -> ResponseReturnValue:
    """A stored screening: what it found, the suggestions, the conclusion, the answers and
    the extracted Observations and Conditions."""
    response = _fetch(f"QuestionnaireResponse/{checked_id(response_id)}")
    patient_ref = str(response.get("subject", {}).get("reference", ""))
    patient = _fetch(patient_ref) if patient_ref.startswith("Patient/") else {}
    derived = [("derived-from", f"QuestionnaireResponse/{response['id']}")]
    observations = resources(_fetch("Observation", derived))
    encounter = str(response.get("encounter", {}).get("reference", ""))
    conditions = resources(_fetch("Condition", [("encounter", encounter)])) if encounter else []
    return render_page(
        "pages/screenings/show.html",
        response=response,
        patient=patient,
        reading=read_screening(response, person_of(patient), _tug_cutoff()),
        observations=observations,
        conditions=conditions,
        form=_form(),
        saved=request.args.get("saved") == "1",
        may_refer=signed_in().role is Role.CLINICIAN,
    )


@bp.get("/screenings/form-<lang>.css")
@readers
def stylesheet(lang: str) -> Response:
    """The enableWhen rules of the screening form."""
    if lang not in ("en", "fa"):
        abort(404)
    css = enable_stylesheet(questionnaire_form(_form(), lang))
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _provinces(lang: str) -> list[tuple[str, str]]:
    """(stored English name, name in the page's language) of every province."""
    return [(p.en, p.name(lang)) for p in sorted(PROVINCES, key=lambda p: sort_key(p.name(lang)))]


# template helpers -----------------------------------------------------------------------


@bp.app_template_global()
def answers(response: dict[str, Any]) -> dict[str, list[Any]]:
    """The answers of a stored QuestionnaireResponse by linkId."""
    return answers_of(response)


@bp.app_template_global()
def note_values(note: Note) -> dict[str, str]:
    """The values of a finding's sentence in the page's language: numbers in its digits,
    codes as their labels."""
    return wording().note_values(note)


@bp.app_template_global()
def observation_label(observation: dict[str, Any]) -> str:
    """What an Observation records, named by the form item it was extracted from."""
    return wording().observation_label(observation)


@bp.app_template_global()
def observation_value(observation: dict[str, Any]) -> str:
    """An Observation's value as the page shows it."""
    return wording().observation_value(observation)


@bp.app_template_global()
def condition_value(condition: dict[str, Any]) -> str:
    """A limb-absence Condition in words: side and level."""
    return wording().condition_value(condition)


def wording() -> Wording:
    """Screening values in the words of the page's language."""
    return Wording(catalogue(), _form(), page_language())

"""The directory pages: the list of rehabilitation centres (everyone signed in), and the
create and edit forms (administrators; the FHIR door refuses directory writes to anyone
else too). Views parse, call the directory service as the signed-in user and render.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from screening.auth.roles import Role
from screening.fhir.outcome import Unprocessable
from screening.patients.provinces import province_options
from screening.referrals.directory import (
    DAYS,
    SERVICES,
    CentreCodeTaken,
    Directory,
    EditConflict,
)
from screening.referrals.directory_schemas import (
    FIELDS,
    filters,
    form_data,
    form_values,
    kept_values,
    read_form,
)
from screening.web.forms import FormErrors
from screening.web.i18n import Message
from screening.web.pages import door, signed_in
from screening.web.refusals import checked_id, refusals
from screening.web.render import render_page
from screening.web.visitor import login_required, page_language

bp = Blueprint("directory", __name__, url_prefix="/directory")
readers = login_required(roles=tuple(Role))
administrators = login_required(roles=(Role.ADMINISTRATOR,))
NOTICES = frozenset({"created", "updated"})


def _directory() -> Directory:
    """The directory service of the signed-in user (through the FHIR door)."""
    return Directory(door())


@bp.get("")
@readers
def centres() -> ResponseReturnValue:
    """The centres, filtered by province and service."""
    province, service = filters(request.args)
    with refusals():
        found = _directory().centres(province, service)
    done = request.args.get("done", "")
    return render_page(
        "pages/directory/list.html",
        centres=found,
        province=province,
        service=service,
        province_options=province_options(page_language()),
        services=tuple(SERVICES),
        days=DAYS,
        may_write=signed_in().role is Role.ADMINISTRATOR,
        notice=Message(f"directory.notice.{done}") if done in NOTICES else None,
    )


@bp.get("/new")
@administrators
def new() -> ResponseReturnValue:
    """The empty centre form (the usual working week ticked)."""
    return _form_page(200, {"days": list(DAYS[:6]), "services": []}, {})


@bp.post("/new")
@administrators
def create() -> ResponseReturnValue:
    """Add a centre; errors next to their fields."""
    posted = read_form(form_data(request.form))
    kept = kept_values(request.form)
    if posted.values is None:
        return _form_page(400, kept, posted.errors)
    try:
        with refusals():
            _directory().create(posted.values)
    except CentreCodeTaken:
        return _form_page(409, kept, {"code": Message("directory.error.code_taken")})
    except Unprocessable:
        return _form_page(400, kept, {"_": Message("directory.error.not_valid")})
    return redirect(url_for("directory.centres", done="created"), 303)


@bp.get("/<centre_id>/edit")
@administrators
def edit(centre_id: str) -> ResponseReturnValue:
    """The edit form, filled in from the stored centre."""
    with refusals():
        centre = _directory().read(checked_id(centre_id))
    shown = {**form_values(centre.values), "version": str(centre.version)}
    return _form_page(200, shown, {}, centre_id=centre_id)


@bp.post("/<centre_id>/edit")
@administrators
def update(centre_id: str) -> ResponseReturnValue:
    """Store the changes over the version the form was loaded from."""
    checked_id(centre_id)
    posted = read_form(form_data(request.form))
    kept = kept_values(request.form)
    if posted.values is None or posted.version is None:
        errors = posted.errors or {"_": Message("error.invalid")}
        return _form_page(400, kept, errors, centre_id=centre_id)
    try:
        with refusals():
            _directory().update(centre_id, posted.version, posted.values)
    except EditConflict:
        return _form_page(409, kept, {}, centre_id=centre_id, conflict=True)
    except Unprocessable:
        return _form_page(
            400, kept, {"_": Message("directory.error.not_valid")}, centre_id=centre_id
        )
    return redirect(url_for("directory.centres", done="updated"), 303)


def _form_page(
    status: int,
    values: dict[str, object],
    errors: FormErrors,
    *,
    centre_id: str | None = None,
    conflict: bool = False,
) -> Response:
    """The create form (or the edit form of `centre_id`), with values and errors."""
    return render_page(
        "pages/directory/form.html",
        status,
        values=values,
        errors=errors,
        centre_id=centre_id,
        conflict=conflict,
        fields=FIELDS,
        province_options=province_options(page_language()),
        services=tuple(SERVICES),
        days=DAYS,
    )

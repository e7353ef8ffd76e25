"""The auditor's page: the audit trail, filtered and paged, newest first."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue

from screening.auth.roles import Role
from screening.boundary import app_state, unit_of_work
from screening.fhir.outcome import FhirError
from screening.web.audit_page import AuditPage, audit_page
from screening.web.forms import INTERACTIONS, OUTCOMES, AuditFilterForm, FormErrors, parse_form
from screening.web.i18n import Message
from screening.web.pages import signed_in
from screening.web.render import render_page
from screening.web.visitor import login_required

bp = Blueprint("audit", __name__, url_prefix="/audit")
FILTERS = ("patient", "user", "subtype", "outcome", "date_from", "date_to")


@bp.get("")
@login_required(roles=[Role.AUDITOR])
def events() -> ResponseReturnValue:
    """AuditEvents matching the filters (reads of the trail are not themselves audited)."""
    values, errors = parse_form(AuditFilterForm(), request.args)
    page = None if errors else _search(values, errors)
    shown = {name: request.args.get(name, "")[:200] for name in FILTERS}
    return render_page(
        "pages/audit.html",
        400 if errors else 200,
        page=page,
        errors=errors,
        values=shown,
        interactions=INTERACTIONS,
        outcomes=OUTCOMES,
        previous_url=_page_url(shown, page, page.previous_offset) if page else None,
        next_url=_page_url(shown, page, page.next_offset) if page else None,
    )


def _search(values: dict[str, Any], errors: FormErrors) -> AuditPage | None:
    """Run the search; a refused one leaves its reason in `errors`."""
    state = app_state()
    try:
        with unit_of_work(state, write=True) as session:
            return audit_page(state.fhir, session, signed_in().principal, values)
    except FhirError:
        errors["_"] = Message("error.search")
        return None


def _page_url(shown: dict[str, str], page: AuditPage, offset: int | None) -> str | None:
    """The link to another page of the same search (its snapshot and offset)."""
    if offset is None or page.snapshot is None:
        return None
    args: dict[str, Any] = {k: v for k, v in shown.items() if v}
    return url_for("audit.events", **args, page=page.snapshot, offset=offset)

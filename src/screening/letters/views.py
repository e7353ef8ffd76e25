"""The letter pages: a referral's letter as PDF (`/referrals/<id>/letter.pdf?lang=fa|en`),
and the upload page where a centre takes over a referral from a letter printed elsewhere.
Views parse and call `letters.service` / `letters.importing`; the services do the work."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from screening.api.views import base_url
from screening.auth.roles import Role
from screening.boundary import app_state
from screening.fhir.outcome import FhirError
from screening.letters.importing import bundle_from_pdf, take_over
from screening.letters.service import PrintedLetter, print_letter
from screening.web.i18n import LANGUAGES, Message
from screening.web.pages import signed_in
from screening.web.refusals import checked_id, refusals
from screening.web.render import catalogue, render_page
from screening.web.visitor import login_required, page_language

bp = Blueprint("letters", __name__)
printers = login_required(roles=[Role.CLINICIAN, Role.CENTRE_STAFF])
IMPORT_ERRORS = {400: "unreadable", 403: "other_centre", 413: "too_large", 415: "not_pdf"}


@bp.get("/referrals/<request_id>/letter.pdf")
@printers
def letter(request_id: str) -> ResponseReturnValue:
    """The referral's letter in the chosen language (default: the user's)."""
    lang = request.args.get("lang") or page_language()
    if lang not in LANGUAGES:
        abort(404)
    visitor = signed_in()
    with refusals():
        printed = print_letter(
            app_state(), visitor.principal, checked_id(request_id), lang, base_url(), catalogue()
        )
    return pdf_response(printed, attachment=request.args.get("download") == "1")


def pdf_response(printed: PrintedLetter, *, attachment: bool = False) -> Response:
    """A letter as an HTTP response (never cached: it holds patient data)."""
    response = Response(printed.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = printed.disposition(attachment)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/letters/import", methods=["GET", "POST"])
@printers
def importing() -> ResponseReturnValue:
    """Upload a letter PDF: its referral is stored here and opened."""
    if request.method == "GET":
        return render_page("pages/letters/import.html", errors={})
    upload = request.files.get("letter")
    data = upload.read(app_state().config.max_letter_bytes + 1) if upload else b""
    if not data:
        return _import_page("letters.error.required", 400)
    state = app_state()
    try:
        bundle = bundle_from_pdf(data, state.config.max_letter_bytes)
        done = take_over(state, signed_in().principal, bundle, base_url())
    except FhirError as error:
        key = IMPORT_ERRORS.get(error.status, "refused")
        return _import_page(f"letters.error.{key}", error.status, error.diagnostics)
    notice = "imported" if done.created else "already_here"
    return redirect(url_for("referrals.show", request_id=done.request_id, done=notice), 303)


def _import_page(key: str, status: int, text: str = "") -> ResponseReturnValue:
    errors = {"letter": Message(key, {"text": text})}
    return render_page("pages/letters/import.html", status, errors=errors)

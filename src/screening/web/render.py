"""Rendering pages in the layout: the values every template gets, and the error pages."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from functools import partial
from typing import Any
from urllib.parse import urlencode

from flask import (
    Response,
    current_app,
    has_request_context,
    make_response,
    render_template,
    request,
)
from werkzeug.exceptions import HTTPException

from screening.auth.passwords import MIN_LENGTH
from screening.auth.roles import Role
from screening.web.calendar import date_hint, show_date, show_datetime
from screening.web.i18n import LANGUAGE_NAMES, LANGUAGES, Catalogue, direction, localize_digits
from screening.web.menu import nav_items
from screening.web.visitor import current_visitor, page_language

log = logging.getLogger(__name__)
MESSAGES = "screening_messages"  # the app extension holding the Catalogue
ERROR_PAGES = {400, 403, 404, 405, 413, 429}


def catalogue() -> Catalogue:
    """The message catalogue of the running app."""
    found: Catalogue = current_app.extensions[MESSAGES]
    return found


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    """A page rendered in the layout, with a status code."""
    return make_response(render_template(template, **context), status)


def page_context() -> dict[str, Any]:
    """Language, messages, the signed-in user and navigation, for every page template
    (nothing outside a request: letters rendered by the command line set their own)."""
    if not has_request_context():
        return {}
    lang = page_language()
    visitor = current_visitor()
    other = next(code for code in LANGUAGES if code != lang)
    return {
        "lang": lang,
        "dir": direction(lang),
        "_": partial(catalogue().text, lang),
        "num": partial(_num, lang=lang),
        "visitor": visitor,
        "csrf_token": visitor.csrf_token if visitor else "",
        "nav": nav_items(visitor.role) if visitor else [],
        "other_lang": other,
        "other_lang_name": LANGUAGE_NAMES[other],
        "lang_url": lang_url(other),
        "here": request.full_path.rstrip("?"),
        "role_options": _options(lang, "role", [r.value for r in Role]),
        "language_options": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "min_password": MIN_LENGTH,
        "label": partial(_label, lang),
        "options": partial(_options, lang),
        "show_date": partial(show_date, lang=lang),
        "show_datetime": partial(show_datetime, lang=lang, zone=_zone()),
        "date_hint": date_hint(lang),
    }


def _zone() -> str:
    """The time zone of the pages (configured)."""
    from screening.boundary import app_state

    return app_state().config.timezone


def _label(lang: str, prefix: str, code: str) -> str:
    """The message `prefix.code` when the catalogue has it, else the code itself."""
    key = f"{prefix}.{code}"
    return catalogue().text(lang, key) if key in catalogue().keys(lang) else code


def _options(lang: str, prefix: str, codes: Iterable[str]) -> list[tuple[str, str]]:
    """(code, label) pairs for a select."""
    return [(code, _label(lang, prefix, code)) for code in codes]


def _num(value: object, lang: str) -> str:
    """A number (or text with digits) in the page's digits."""
    return localize_digits(value, lang)


def lang_url(lang: str) -> str:
    """This page's URL with `?lang=` set (the language switch of anonymous pages)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return f"{request.path}?{urlencode([*args, ('lang', lang)])}"


def http_error_page(error: HTTPException) -> Response | HTTPException:
    """A 4xx as a page in the layout (the FHIR door keeps its OperationOutcomes)."""
    code = error.code or 500
    if request.path.startswith("/fhir"):
        from screening.api.views import http_error

        return http_error(error)  # routing errors of the FHIR door: OperationOutcomes too
    if code < 400:
        return error
    if code >= 500:
        return internal_error_page(error)
    key = str(code) if code in ERROR_PAGES else "other"
    return render_page("pages/error.html", code, code=code, key=key, incident=None)


def internal_error_page(error: Exception) -> Response | HTTPException:
    """A 500 page with an incident id to find the log entry; never the exception text."""
    if request.path.startswith("/fhir"):
        from screening.api.views import internal_error

        return internal_error(error)
    incident = str(uuid.uuid4())
    log.error("Internal error %s", incident, exc_info=error)
    return render_page("pages/error.html", 500, code=500, key="500", incident=incident)

"""Pages for everyone: sign in and out, the home page, the language switch, the stylesheet."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from screening.api.door import perform
from screening.api.messages import FhirRequest, FhirResponse
from screening.api.views import base_url
from screening.auth.service import SESSION_COOKIE, update_user
from screening.boundary import app_state, unit_of_work
from screening.web.forms import FormErrors, LanguageForm, LoginForm, parse_form
from screening.web.i18n import Message
from screening.web.menu import menu
from screening.web.render import render_page
from screening.web.security import (
    LOGIN_CSRF_COOKIE,
    clear_login_csrf_cookie,
    clear_session_cookie,
    login_form_token,
    safe_next,
    set_login_csrf_cookie,
    set_session_cookie,
)
from screening.web.signin import attempt, leave
from screening.web.visitor import Visitor, current_visitor, login_required

bp = Blueprint("pages", __name__, static_folder="static", static_url_path="/assets")


def door() -> Callable[[FhirRequest], FhirResponse]:
    """The FHIR door bound to the signed-in user and this server's base URL: what the pages
    read and write goes through the same checks and audit trail as the API."""
    return partial(perform, app_state(), signed_in().principal, base_url=base_url())


def signed_in() -> Visitor:
    """The signed-in user of a page behind `login_required`."""
    visitor = current_visitor()
    if visitor is None:
        abort(403)
    return visitor


@bp.get("/")
@login_required()
def home() -> ResponseReturnValue:
    """What the user's role can do, with links to the pages that exist."""
    return render_page("pages/home.html", items=menu(signed_in().role))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The sign-in form; a signed-in user goes straight on."""
    if request.method == "POST":
        return _sign_in()
    if current_visitor() is not None:
        return redirect(safe_next(request.args.get("next")), 302)
    return _login_page(next_page=request.args.get("next"))


def _sign_in() -> BaseResponse:
    """Check the form; open a session, or say why not (the same words for any failure)."""
    kept = {"username": request.form.get("username", "")[:256]}
    next_page = request.form.get("next")
    values, errors = parse_form(LoginForm(), request.form)
    if errors:
        return _login_page(400, errors, kept, next_page)
    state = app_state()
    address = request.remote_addr or "-"
    with unit_of_work(state, write=True) as session:
        result = attempt(
            session, state.fhir.indexer, values["username"], values["password"], address
        )
    if result.throttled:
        return _login_page(429, {"_": Message("login.throttled")}, kept, next_page)
    if result.session_token is None:
        return _login_page(200, {"_": Message("login.failed")}, kept, next_page)
    response = redirect(safe_next(values["next"]), 303)
    secure = state.config.cookie_secure
    set_session_cookie(response, result.session_token, secure)
    clear_login_csrf_cookie(response, secure)
    return response


def _login_page(
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, Any] | None = None,
    next_page: str | None = None,
) -> Response:
    """The sign-in form with its double-submit token (kept across attempts)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not 32 <= len(token) <= 100:
        token = secrets.token_urlsafe(32)
    config = app_state().config
    response = render_page(
        "pages/login.html",
        status,
        login_csrf=login_form_token(config.secret_key, token),
        errors=errors or {},
        values=values or {},
        next_page=safe_next(next_page),
    )
    set_login_csrf_cookie(response, token, config.cookie_secure)
    return response


@bp.post("/logout")
@login_required()
def logout() -> ResponseReturnValue:
    """End the session (audited) and forget the cookie."""
    state = app_state()
    with unit_of_work(state, write=True) as session:
        leave(session, state.fhir.indexer, signed_in().principal, request.cookies[SESSION_COOKIE])
    response = redirect(url_for("pages.login"), 303)
    clear_session_cookie(response, state.config.cookie_secure)
    return response


@bp.post("/language")
@login_required()
def language() -> ResponseReturnValue:
    """Switch the signed-in user's language (kept in their account)."""
    values, errors = parse_form(LanguageForm(), request.form)
    if errors:
        abort(400)
    with unit_of_work(app_state(), write=True) as session:
        update_user(session, signed_in().user_id, language=values["lang"])
    return redirect(safe_next(values["next"]), 303)

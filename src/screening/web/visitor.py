"""Who is looking at a page: the signed-in user of the session cookie, their language, and
the checks every page makes (sign-in, role, CSRF)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ParamSpec

from flask import abort, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from screening.auth.principal import Principal
from screening.auth.roles import Role
from screening.auth.service import SESSION_COOKIE, csrf_ok, signed_in
from screening.boundary import app_state
from screening.web.i18n import LANGUAGES, language_or_none
from screening.web.security import LANGUAGE_COOKIE, LOGIN_CSRF_COOKIE, login_form_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
P = ParamSpec("P")


@dataclass(frozen=True)
class Visitor:
    """The signed-in user of a request, copied out of the database session."""

    user_id: str
    username: str
    full_name: str
    role: Role
    organization: str | None
    language: str
    csrf_token: str
    principal: Principal


def current_visitor() -> Visitor | None:
    """The signed-in user of this request (loaded once), or None."""
    if "visitor" not in g:
        g.visitor = _load_visitor()
    visitor: Visitor | None = g.visitor
    return visitor


def _load_visitor() -> Visitor | None:
    """The user of the session cookie (refreshing the session's idle timer), or None."""
    token = request.cookies.get(SESSION_COOKIE, "")
    found = signed_in(app_state().sessions, token, request.remote_addr)
    if found is None:
        return None
    user = found.user
    return Visitor(
        user.id,
        user.username,
        user.full_name,
        Role(user.role),
        user.organization_id,
        user.language,
        found.csrf_token,
        found.principal,
    )


def page_language() -> str:
    """The language of this page: the user's, else `?lang=`, the cookie, the browser's."""
    visitor = current_visitor()
    if visitor is not None and visitor.language in LANGUAGES:
        return visitor.language
    asked = language_or_none(request.args.get("lang"))
    if asked:
        g.remember_language = asked
        return asked
    stored = language_or_none(request.cookies.get(LANGUAGE_COOKIE))
    return stored or request.accept_languages.best_match(LANGUAGES) or "en"


def login_required(
    roles: Iterable[Role] = (),
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """Pages for signed-in users (of `roles`, when given): others go to the sign-in page,
    users of another role get 403."""
    allowed = frozenset(roles)

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            visitor = current_visitor()
            if visitor is None:
                return redirect(url_for("pages.login", next=_this_path()), 302)
            if allowed and visitor.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorate


def _this_path() -> str:
    """The path and query of this request (the `next` of the sign-in page)."""
    return request.full_path.rstrip("?")


def check_csrf() -> None:
    """403 for an unsafe request without the session's CSRF token (the sign-in form: without
    the signed token of its double-submit cookie)."""
    if request.method in SAFE_METHODS:
        return
    given = request.form.get("csrf_token", "")
    if request.endpoint == "pages.login":
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        expected = login_form_token(app_state().config.secret_key, cookie) if cookie else ""
    else:
        visitor = current_visitor()
        expected = visitor.csrf_token if visitor else ""
    if not csrf_ok(expected, given):
        abort(403)

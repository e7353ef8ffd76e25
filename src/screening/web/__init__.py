"""The HTML pages: layout, language, sessions, CSRF and security headers, shared by every
page blueprint."""

from __future__ import annotations

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from screening.boundary import app_state
from screening.paths import data_dir
from screening.web.i18n import load_catalogue
from screening.web.render import MESSAGES, http_error_page, internal_error_page, page_context
from screening.web.security import add_security_headers, set_language_cookie
from screening.web.visitor import check_csrf, current_visitor

PAGE_BLUEPRINTS = frozenset(
    {"pages", "admin", "audit", "screenings", "patients", "directory", "referrals", "letters"}
)


def init_app(app: Flask) -> None:
    """Register the page blueprints and the hooks of every request."""
    from screening.letters import views as letters
    from screening.patients import views as patients
    from screening.referrals import directory_views as directory
    from screening.referrals import views as referrals
    from screening.screenings import views as screenings
    from screening.web import admin, audit_views, pages

    app.extensions[MESSAGES] = load_catalogue(data_dir("templates") / "messages")
    blueprints = (pages, admin, audit_views, screenings, patients, directory, referrals, letters)
    for module in blueprints:
        app.register_blueprint(module.bp)
    app.before_request(_before_page)
    app.after_request(_after_request)
    app.context_processor(page_context)
    app.register_error_handler(HTTPException, http_error_page)
    app.register_error_handler(Exception, internal_error_page)


def _before_page() -> None:
    """On pages: load the signed-in user into `g` and refuse unsafe requests without the
    CSRF token."""
    if request.blueprint not in PAGE_BLUEPRINTS or request.endpoint == "pages.static":
        return
    current_visitor()
    check_csrf()


def _after_request(response: Response) -> Response:
    """Security headers on every response; the language chosen by `?lang=` remembered."""
    lang = g.get("remember_language")
    if lang and request.blueprint in PAGE_BLUEPRINTS:
        set_language_cookie(response, lang, _cookie_secure())
    return add_security_headers(response)


def _cookie_secure() -> bool:
    """Whether cookies get the Secure flag (the app's configuration)."""
    return app_state().config.cookie_secure

"""Security headers of every response, cookie flags, and safe redirect targets."""

from __future__ import annotations

import hashlib
import hmac
from typing import TypeVar
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from screening.auth.service import SESSION_COOKIE, SESSION_MAX

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
LOGIN_CSRF_COOKIE = "screening_login_csrf"
LANGUAGE_COOKIE = "screening_lang"
LANGUAGE_MAX_AGE = 365 * 24 * 3600


R = TypeVar("R", bound=Response)


def add_security_headers(response: R) -> R:
    """The fixed security headers on every response; no caching of HTML pages (they carry
    account or patient data, or a form token)."""
    response.headers.update(HEADERS)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site (never another host), else `/`."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return "/"
    if target.startswith("//") or "\\" in target:
        return "/"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def set_session_cookie(response: Response, token: str, secure: bool) -> None:
    """The session cookie: HttpOnly, Secure (configurable), SameSite=Lax, Path=/."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_MAX.total_seconds()),
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="Lax")


def login_form_token(secret: str, cookie_token: str) -> str:
    """The sign-in form's token: the cookie's random value signed with the app's secret (a
    cookie planted by another site on this domain cannot be matched without the secret)."""
    return hmac.new(secret.encode(), cookie_token.encode(), hashlib.sha256).hexdigest()


def set_login_csrf_cookie(response: Response, token: str, secure: bool) -> None:
    """The double-submit cookie of the sign-in form (no session exists yet)."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path="/login", secure=secure, httponly=True, samesite="Strict"
    )


def clear_login_csrf_cookie(response: Response, secure: bool) -> None:
    """Remove the sign-in form's cookie once signed in."""
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/login", secure=secure, httponly=True, samesite="Strict"
    )


def set_language_cookie(response: Response, lang: str, secure: bool) -> None:
    """Remember the language chosen on a page without a session."""
    response.set_cookie(
        LANGUAGE_COOKIE,
        lang,
        max_age=LANGUAGE_MAX_AGE,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )

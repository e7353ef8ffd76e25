"""Security headers on every response; no inline script or style anywhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from screening.paths import data_dir
from screening.web.security import CSP
from web.conftest import Browser, text_of

Factory = Callable[..., Any]
EXPECTED = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
INLINE = re.compile(r"<script|<style|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


def assert_security_headers(response: Any) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, name


def test_the_policy_is_the_agreed_one() -> None:
    assert EXPECTED["Content-Security-Policy"] == CSP


def test_pages_carry_security_headers_and_are_not_cached(
    browser: Factory, signed_in: Factory
) -> None:
    stranger: Browser = browser()
    for path in ("/login", "/login?lang=fa", "/", "/nowhere"):
        response = stranger.get(path)
        assert_security_headers(response)
    assert stranger.get("/login").headers["Cache-Control"] == "no-store"
    admin, _ = signed_in("administrator")
    for path in ("/", "/admin/users", "/admin/clients", "/nowhere"):
        response = admin.get(path)
        assert_security_headers(response)
        assert response.headers["Cache-Control"] == "no-store", path
    forbidden = admin.get("/audit")
    assert forbidden.status_code == 403
    assert_security_headers(forbidden)
    assert forbidden.headers["Cache-Control"] == "no-store"
    css = stranger.client.get("/assets/site.css")
    css.close()  # a file response
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert_security_headers(css)


def test_fhir_responses_carry_security_headers(client: FlaskClient) -> None:
    for path in ("/fhir/metadata", "/fhir/Patient", "/fhir/Patient/unknown"):
        assert_security_headers(client.get(path))
    assert_security_headers(client.post("/fhir/Patient", data="{", content_type="application/json"))


def test_templates_have_no_inline_script_or_style() -> None:
    folder = data_dir("templates") / "pages"
    for template in folder.rglob("*.html"):
        found = INLINE.search(template.read_text(encoding="utf-8"))
        assert found is None, f"{template.name}: {found.group(0) if found else ''}"


def test_rendered_pages_have_no_inline_script_or_style(signed_in: Factory) -> None:
    admin, _ = signed_in("administrator")
    for path in ("/", "/admin/users", "/admin/clients", "/login", "/nowhere"):
        body = text_of(admin.get(path))
        assert INLINE.search(body) is None, path

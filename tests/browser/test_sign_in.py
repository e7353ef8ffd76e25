"""Signing in and out in a real browser, in English and Persian, on a tablet and a phone.

Every page must load only from the app itself (no fonts, scripts or styles from any other
host) and raise no console error (a Content-Security-Policy violation shows up there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from browser.conftest import LiveServer, PageLog, Pages, sign_in
from browser.screens import shoot
from screening.auth.models import UserAccount

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def html_attributes(page: Page) -> tuple[str | None, str | None]:
    """The `lang` and `dir` of the page's <html>."""
    root = page.locator("html")
    return root.get_attribute("lang"), root.get_attribute("dir")


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def assert_clean(log: PageLog, server: LiveServer) -> None:
    """Only the app's own host was asked for anything, and nothing went wrong in the page."""
    assert log.requests, "no request was recorded"
    assert log.outside(server.origin) == []
    assert log.console_errors == []
    assert log.page_errors == []


def fits_width(page: Page) -> bool:
    """Whether the page needs no sideways scrolling."""
    script = "(root => root.scrollWidth <= root.clientWidth)(document.documentElement)"
    return bool(page.evaluate(script))


def test_a_screener_signs_in_switches_to_persian_and_signs_out(
    page: Page,
    page_log: PageLog,
    live_server: LiveServer,
    make_user: Callable[..., UserAccount],
) -> None:
    user = make_user("screener", full_name="Sara Karimi")

    page.goto("/")
    assert path_of(page) == "/login"  # not signed in: the sign-in page, in English
    assert html_attributes(page) == ("en", "ltr")
    assert page.locator("h1").inner_text() == "Sign in"
    shoot(page, "login-en")

    sign_in(page, user.username)
    assert path_of(page) == "/"
    assert html_attributes(page) == ("en", "ltr")
    assert page.locator("h1").inner_text() == "Welcome, Sara Karimi"
    assert page.locator(".account .badge").inner_text() == "Screener"
    assert page.locator(".tile-title", has_text="Find or register a patient").is_visible()
    shoot(page, "home-en")

    switch = page.locator(".account form button[lang=fa]")
    assert switch.inner_text() == "فارسی"  # each language is named in itself
    with page.expect_navigation():
        switch.click()
    assert path_of(page) == "/"
    assert html_attributes(page) == ("fa", "rtl")
    assert page.locator("h1").inner_text() == "Sara Karimi، خوش آمدید"
    assert page.locator(".account .badge").inner_text() == "غربالگر"
    assert page.locator(".tile-title", has_text="یافتن یا ثبت بیمار").is_visible()
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    shoot(page, "home-fa")

    page.reload()  # the choice is kept in the account
    assert html_attributes(page) == ("fa", "rtl")

    sign_out = page.locator(".account form button", has_text="خروج")
    with page.expect_navigation():
        sign_out.click()
    assert path_of(page) == "/login"
    page.goto("/")
    assert path_of(page) == "/login"  # the session is gone

    assert f"{live_server.url}/assets/site.css" in page_log.requests
    assert_clean(page_log, live_server)


def test_a_wrong_password_keeps_the_form_with_an_alert(
    page: Page, page_log: PageLog, live_server: LiveServer, make_user: Callable[..., UserAccount]
) -> None:
    user = make_user("clinician")
    sign_in(page, user.username, "not the password 42")
    assert path_of(page) == "/login"
    assert page.get_by_role("alert").inner_text() == "Wrong username or password"
    assert page.locator("input[name=username]").input_value() == user.username
    assert_clean(page_log, live_server)


def test_persian_sign_in_page_and_home_on_a_phone(
    pages: Pages, live_server: LiveServer, signed_in: Callable[..., Any]
) -> None:
    anonymous = pages.open("phone", locale="fa-IR")
    anonymous.goto("/login")
    assert html_attributes(anonymous) == ("fa", "rtl")
    assert anonymous.locator("h1").inner_text() == "ورود"
    assert fits_width(anonymous)
    shoot(anonymous, "login-fa")

    page, _ = signed_in("screener", device="phone", language="fa", full_name="سارا کریمی")
    assert html_attributes(page) == ("fa", "rtl")
    assert page.locator("h1").inner_text() == "سارا کریمی، خوش آمدید"
    assert fits_width(page)
    shoot(page, "home-fa")

    for opened in (anonymous, page):
        assert_clean(pages.log(opened), live_server)


def test_the_watch_sees_what_the_policy_blocks(
    page: Page, page_log: PageLog, live_server: LiveServer
) -> None:
    """The checks above would pass for nothing if a blocked script or image left no trace."""
    page.goto("/login")
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = 1";
        document.body.append(script);
        const image = document.createElement("img");
        image.src = "http://example.invalid/x.png";
        document.body.append(image);
    }"""
    )
    deadline = time.monotonic() + 5  # the reports arrive asynchronously
    while len(page_log.console_errors) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page.evaluate("window.injected") is None
    assert page_log.outside(live_server.origin) == ["http://example.invalid/x.png"]
    assert len(page_log.console_errors) == 2, page_log.console_errors
    assert all("Content Security Policy" in e for e in page_log.console_errors)

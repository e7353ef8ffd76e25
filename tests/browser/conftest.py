"""Fixtures of the browser tests: the real app served over http on 127.0.0.1, and Debian's
chromium driven by Playwright.

Playwright's own browser downloads are never used (`playwright install` is not needed):
chromium is launched from `SCREENING_CHROMIUM`, by default `/usr/bin/chromium` (Debian's
package, installed by scripts/test). Without it the tests are skipped on a developer's
machine, and fail where the environment says CI.

One server serves the whole session and one browser each run of browser tests; every test
gets a fresh browser context (no cookies), as a tablet by default or as a phone through
`open_page` or `phone_page`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from screening import create_app
from screening.auth.models import UserAccount
from screening.auth.roles import Role
from screening.auth.service import create_user
from screening.boundary import unit_of_work
from screening.config import Config
from screening.migrate import upgrade
from screening.store.seed import seed_database

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request

DEFAULT_CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
HERE = Path(__file__).parent
# Viewports: a tablet held sideways (the screeners' device) and a phone.
DEVICES: dict[str, dict[str, Any]] = {
    "tablet": {"viewport": {"width": 1024, "height": 768}, "has_touch": True},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder carries the `browser` marker (so `-m "not browser"` leaves
    them all out), whether or not its module says so."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str:
    """The chromium to launch: `SCREENING_CHROMIUM`, else Debian's."""
    return os.environ.get("SCREENING_CHROMIUM") or DEFAULT_CHROMIUM


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI, or when Debian's chromium is installed
    (then a browser that does not start is a real problem, not a missing package)."""
    if os.environ.get("CI") or os.access(DEFAULT_CHROMIUM, os.X_OK):
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"{reason} (scripts/test installs it; set SCREENING_CHROMIUM to use another)")


# -- the live server ------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveServer:
    """The app served over http on 127.0.0.1 in a background thread."""

    app: Flask
    url: str  # e.g. http://127.0.0.1:40123, no trailing slash

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app on a migrated, seeded SQLite database of its own, served by werkzeug
    (threaded: a page and its stylesheet load at once) on a free port."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'screening.db'}"
    upgrade(url)
    seed_database(url)
    app = create_app(Config(database_url=url, cookie_secure=False))
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["screening"].engine.dispose()


@pytest.fixture(scope="session")
def make_user(live_server: LiveServer) -> Callable[..., UserAccount]:
    """Factory: a new active user of a role with the password PASSWORD (or `password=`),
    written straight to the live server's database. Centre staff get a centre."""

    def make(role: str = Role.SCREENER, username: str | None = None, **kw: Any) -> UserAccount:
        name = username or f"{role.replace('-', '')}{uuid.uuid4().hex[:8]}"
        if role == Role.CENTRE_STAFF and "organization" not in kw:
            kw["organization"] = "centre-1"
        password = kw.pop("password", PASSWORD)
        with unit_of_work(live_server.app.extensions["screening"], write=True) as session:
            return create_user(session, name, role, password, **kw)

    return make


# -- the browser ----------------------------------------------------------------------------


class _Chromium:
    """Playwright's driver (the node program shipped in its wheel) and one headless chromium,
    started by the first browser test and stopped after the last of a run of them.

    Not a session fixture: while Playwright's sync API is alive, its event loop counts as
    the main thread's running loop, so `asyncio.run()` in any later test would fail.
    """

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._broken = ""

    def get(self) -> Browser:
        if self._broken:
            pytest.fail(self._broken, pytrace=False)
        if self._browser is None:
            self._browser = self._launch()
        return self._browser

    def _launch(self) -> Browser:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            _unavailable("the playwright package is not installed (pip install -e '.[test]')")
        path = chromium_path()
        if not os.access(path, os.X_OK):
            _unavailable(f"no chromium at {path}")
        self._playwright = sync_playwright().start()
        try:
            # --no-sandbox: CI runs as root in a container, where chromium's sandbox cannot
            # start; --disable-dev-shm-usage: /dev/shm is small in containers.
            return self._playwright.chromium.launch(
                executable_path=path,
                headless=True,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
                timeout=60_000,
            )
        except Exception as error:
            self.stop()
            self._broken = f"chromium at {path} did not start: {error}"
            raise

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None


_CHROMIUM = _Chromium()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the test's fixtures are gone: stop chromium unless a browser test comes next
    (only called for the tests of this folder)."""
    if nextitem is None or HERE not in nextitem.path.parents:
        _CHROMIUM.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _CHROMIUM.stop()


@pytest.fixture
def chromium() -> Browser:
    """Debian's chromium (started when first needed), headless, without the sandbox."""
    return _CHROMIUM.get()


@dataclass
class PageLog:
    """What a page did: every request's URL, console errors and uncaught script errors.

    The 404 of the /favicon.ico that chromium asks for by itself (the app has no icon) is
    not counted as a console error; it arrives at a random moment after the page loads.
    """

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def outside(self, origin: str) -> list[str]:
        """The requests that went anywhere but `origin` (data: URLs stay in the page)."""
        return [
            url
            for url in self.requests
            if not url.startswith("data:") and not url.startswith(f"{origin}/") and url != origin
        ]


@dataclass
class Pages:
    """Opens pages in new browser contexts and closes them all at the end of a test."""

    browser: Browser
    server: LiveServer
    contexts: list[Any] = field(default_factory=list)
    logs: dict[int, PageLog] = field(default_factory=dict)

    def open(self, device: str = "tablet", locale: str = "en-GB") -> Page:
        """A page in a new context (no cookies) of a device in DEVICES; `locale` sets the
        Accept-Language the server sees before anyone signs in."""
        context = self.browser.new_context(
            base_url=self.server.url, locale=locale, **DEVICES[device]
        )
        context.set_default_timeout(TIMEOUT_MS)
        origin = f"{self.server.origin}/"
        # Nothing leaves the machine, whatever a page asks for (PageLog still records it).
        context.route(lambda url: not url.startswith(origin), lambda route: route.abort())
        self.contexts.append(context)
        page = context.new_page()
        log = PageLog()
        self.logs[id(page)] = log

        def on_console(message: ConsoleMessage) -> None:
            source = message.location.get("url", "")
            if message.type == "error" and urlsplit(source).path != "/favicon.ico":
                log.console_errors.append(f"{message.text} ({source})")

        def on_request(request: Request) -> None:
            log.requests.append(request.url)

        page.on("console", on_console)
        page.on("pageerror", lambda error: log.page_errors.append(str(error)))
        context.on("request", on_request)
        return page

    def log(self, page: Page) -> PageLog:
        return self.logs[id(page)]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(chromium: Browser, live_server: LiveServer) -> Iterator[Pages]:
    """Factory of pages for a test: `pages.open("phone")`; all closed afterwards."""
    opened = Pages(chromium, live_server)
    yield opened
    opened.close()


@pytest.fixture
def open_page(pages: Pages) -> Callable[..., Page]:
    """Factory: a new page (own cookies) as a "tablet" (default) or "phone"."""
    return pages.open


@pytest.fixture
def page(pages: Pages) -> Page:
    """A page in a fresh context, as a tablet held sideways (1024x768), in English."""
    return pages.open("tablet")


@pytest.fixture
def phone_page(pages: Pages) -> Page:
    """A page in a fresh context, as a phone (390x844), in English."""
    return pages.open("phone")


@pytest.fixture
def page_log(pages: Pages, page: Page) -> PageLog:
    """The requests and errors of `page` so far (it keeps filling as the test goes on)."""
    return pages.log(page)


# -- signing in -----------------------------------------------------------------------------


def sign_in(page: Page, username: str, password: str = PASSWORD, next_page: str = "") -> None:
    """Fill in and send the sign-in form; returns once the answer has loaded (the home page,
    `next_page`, or the form again with an error)."""
    page.goto(f"/login?{urlencode({'next': next_page})}" if next_page else "/login")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


@pytest.fixture
def signed_in(pages: Pages, make_user: Callable[..., UserAccount]) -> Callable[..., Any]:
    """Factory: `(page, user)`, a new page signed in through the form as a new user of a
    role; `device=` picks the viewport, other keywords go to `make_user`."""

    def open_signed_in(
        role: str = Role.SCREENER, device: str = "tablet", **kw: Any
    ) -> tuple[Page, UserAccount]:
        user = make_user(role, **kw)
        page = pages.open(device)
        sign_in(page, user.username, kw.get("password", PASSWORD))
        assert urlsplit(page.url).path == "/", f"sign-in failed: {page.url}"
        return page, user

    return open_signed_in

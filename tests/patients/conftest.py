"""Fixtures of the patient page tests: the page fixtures of tests/web, a FHIR client with
every scope, a valid register form, and a structural check of the pages' HTML."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask

import web.conftest as pages
from conftest import Fhir, api_token
from web.conftest import Browser, text_of

# the fixtures of the page tests, shared here
web_app = pages.web_app
make_user = pages.make_user
browser = pages.browser
signed_in = pages.signed_in
audit_events = pages.audit_events
cheap_password_hashing = pages.cheap_password_hashing
__all__ = ["Browser", "text_of"]

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
LABELLED = {"input", "select", "textarea"}
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset"}


@pytest.fixture
def api(web_app: Flask) -> Fhir:
    """A FHIR client with every scope (to set up records and look at what was stored)."""
    client = web_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_token(web_app)}"
    return Fhir(client)


def register_form(**changes: str) -> dict[str, str]:
    """A valid English register form of an adult (fields set to '' are left out)."""
    form = {
        "given_fa": "احمد",
        "family_fa": "کریمی",
        "given_latn": "Ahmad",
        "family_latn": "Karimi",
        "case_code": "HER-0427-KX",
        "national_id": "",
        "sex": "male",
        "birth_date": "1987-08-11",
        "estimated_age": "",
        "province": "AF-HER",
        "district": "Injil",
        "village": "Deh-e Naw",
        "phone": "+93 70 000 0427",
        "guardian_name": "",
        "guardian_relationship": "",
        "guardian_phone": "",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != ""}


def patients_in(api: Fhir, *query: str) -> list[dict[str, Any]]:
    """The stored Patients (matching a query such as `case-code=...`)."""
    path = "Patient?_count=500" + "".join(f"&{q}" for q in query)
    status, body, _ = api.get(path)
    assert status == 200, body
    return [e["resource"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]


def created_id(location: str) -> str:
    """The patient id in the redirect after registering (`/patients/<id>?done=created`)."""
    path = location.split("?")[0]
    assert path.startswith("/patients/"), location
    return path.removeprefix("/patients/")


@pytest.fixture
def register(signed_in: Callable[..., tuple[Browser, Any]]) -> Callable[..., tuple[Browser, str]]:
    """Factory: a screener (or the given browser) registers a person; (browser, id)."""

    def run(person: Browser | None = None, **changes: str) -> tuple[Browser, str]:
        if person is None:
            person, _ = signed_in("screener", language="en")
            person.get("/patients/new")
        response = person.post("/patients/new", register_form(**changes))
        assert response.status_code == 303, text_of(response)
        return person, created_id(response.headers["Location"])

    return run


class PageChecker(HTMLParser):
    """Collects what the structural checks of a page need."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[tuple[str, str, bool]] = []  # (tag, id, in a fieldset with legend)
        self.described: list[str] = []
        self.anchors: list[str] = []
        self.root: dict[str, str | None] = {}
        self.fieldsets: list[bool] = []  # per open fieldset: has a legend

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.root = found
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "label" and found.get("for"):
            self.label_for.add(str(found["for"]))
        if tag == "legend" and self.fieldsets:
            self.fieldsets[-1] = True
        if tag == "fieldset":
            self.fieldsets.append(False)
        if tag in LABELLED and found.get("type") not in UNLABELLED_TYPES:
            kind = str(found.get("type") or tag)
            self.controls.append((kind, str(found.get("id") or ""), any(self.fieldsets)))
        self.described += str(found.get("aria-describedby") or "").split()
        href = str(found.get("href") or "")
        if href.startswith("#") and len(href) > 1:
            self.anchors.append(href[1:])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>")
            return
        self.stack.pop()
        if tag == "fieldset":
            self.fieldsets.pop()


def check_html(body: str, lang: str) -> None:
    """Well nested; ids unique; every control labelled; radio groups in a fieldset with a
    legend; describedby and in-page links point at existing ids; lang and dir right."""
    page = PageChecker()
    page.feed(body)
    page.close()
    assert not page.problems, page.problems[:5]
    assert not page.stack, page.stack
    assert len(page.ids) == len(set(page.ids)), sorted(i for i in page.ids if page.ids.count(i) > 1)
    for kind, ident, grouped in page.controls:
        assert ident and ident in page.label_for, (kind, ident)
        if kind == "radio":
            assert grouped, ident
    assert set(page.described) <= set(page.ids), set(page.described) - set(page.ids)
    assert set(page.anchors) <= set(page.ids), set(page.anchors) - set(page.ids)
    assert page.root.get("lang") == lang
    assert page.root.get("dir") == ("rtl" if lang == "fa" else "ltr")

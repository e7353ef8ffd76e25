"""The auditor's page of the audit trail: rows, filters, paging."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from screening.audit.events import Access
from screening.audit.recorder import record
from screening.auth.principal import Kind, Principal
from screening.auth.roles import Role
from screening.boundary import unit_of_work
from web.conftest import Browser, text_of

Factory = Callable[..., Any]
ROW = re.compile(r"<tr[^>]*>\s*<td class=\"nowrap\">", re.S)


def rows(body: str) -> int:
    """How many event rows a page shows."""
    return len(ROW.findall(body))


def test_audit_page_lists_events_with_filters(
    signed_in: Factory, browser: Factory, client: FlaskClient
) -> None:
    patient = client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Karimi"}]},
        headers={"Content-Type": "application/fhir+json"},
    ).get_json()
    stranger: Browser = browser()
    stranger.login("mallory", "not a password")
    auditor, me = signed_in("auditor")
    everything = text_of(auditor.get("/audit"))
    assert rows(everything) == 3  # the create, the failed and the good sign-in
    assert everything.index(f"user:{me.username}") < everything.index("user:mallory")
    assert f"Patient/{patient['id']}" in everything
    assert "wrong username or password" in everything

    by_user = text_of(auditor.get("/audit?user=mallory"))
    assert rows(by_user) == 1 and "user:mallory" in by_user
    refused = text_of(auditor.get("/audit?outcome=4"))
    assert rows(refused) == 1 and "Refused or failed" in refused
    by_patient = text_of(auditor.get(f"/audit?patient={patient['id']}"))
    assert rows(by_patient) == 1 and "Create" in by_patient
    assert rows(text_of(auditor.get(f"/audit?patient=Patient/{patient['id']}"))) == 1
    assert rows(text_of(auditor.get("/audit?subtype=create"))) == 1
    assert rows(text_of(auditor.get("/audit?subtype=operation&outcome=0"))) == 1
    today = datetime.now(UTC).date()  # AuditEvent.recorded is in UTC
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert rows(text_of(auditor.get(f"/audit?date_from={tomorrow}"))) == 0
    assert rows(text_of(auditor.get(f"/audit?date_to={yesterday}"))) == 0
    window = f"/audit?date_from={yesterday}&date_to={tomorrow}&user=mallory"
    assert rows(text_of(auditor.get(window))) == 1
    assert "No events match these filters." in text_of(auditor.get("/audit?user=nobody"))


def test_audit_page_pages_through_the_trail(signed_in: Factory, web_app: Flask) -> None:
    state = web_app.extensions["screening"]
    reader = Principal(Kind.CLIENT, "c1", "reader", address="10.0.0.1")
    with unit_of_work(state, write=True) as session:
        accesses = [Access("read", [("Observation", f"obs-{i}", None)], {"p1"}) for i in range(30)]
        record(session, state.fhir.indexer, reader, accesses)
    auditor, _ = signed_in("auditor")
    first = text_of(auditor.get("/audit?user=reader"))
    assert rows(first) == 25
    assert "Events 1 to 25 of 30, newest first" in first
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = text_of(auditor.get(older.group(1).replace("&amp;", "&")))
    assert rows(second) == 5
    assert "Events 26 to 30 of 30" in second
    assert 'rel="next"' not in second and 'rel="prev"' in second
    assert 'value="reader"' in second  # the filters stay in the form
    expired = auditor.get("/audit?user=reader&page=6f1c1a64-0000-4000-8000-000000000000&offset=25")
    assert rows(text_of(expired)) == 25  # an unknown snapshot starts again


def test_audit_page_refuses_bad_filters(signed_in: Factory) -> None:
    auditor, _ = signed_in("auditor")
    for query, field in (
        ("date_from=yesterday", "date_from"),
        ("patient=<script>", "patient"),
        ("outcome=9", "outcome"),
        ("offset=-1", "offset"),
    ):
        response = auditor.get(f"/audit?{query}")
        assert response.status_code == 400, query
        body = text_of(response)
        assert rows(body) == 0
        assert "<script>" not in body
        if field != "offset":
            assert f'id="f-{field}-error"' in body, query


def test_audit_page_in_persian(signed_in: Factory, browser: Factory) -> None:
    browser().login("mallory", "not a password")
    auditor, _ = signed_in("auditor", language="fa")
    body = text_of(auditor.get("/audit"))
    assert '<html lang="fa" dir="rtl">' in body
    assert "ردپای ممیزی" in body
    assert re.search(r"[۰-۹]{4}-[۰-۹]{2}-[۰-۹]{2}", body)  # dates in Persian digits
    assert "رویدادهای ۱ تا ۲ از ۲" in body


def test_only_auditors_see_the_trail(signed_in: Factory) -> None:
    for role in (Role.ADMINISTRATOR, Role.CLINICIAN):
        person, _ = signed_in(role.value)
        assert person.get("/audit?user=x").status_code == 403

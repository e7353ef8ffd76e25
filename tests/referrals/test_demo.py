"""`screening demo`: a directory of 44 centres in every province, one account of every
role, 12 persons, 5 screenings and the referrals 4 of them ask for (one completed by the
Herat centre, one accepted, the others waiting), loaded through the FHIR door; a second
run adds nothing; a weak password is refused before anything is loaded."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from screening import cli
from screening.auth.professions import PROFESSION_SYSTEM, REGISTRATION_SYSTEM
from screening.auth.service import list_users
from screening.boundary import AppState, unit_of_work
from screening.config import Config
from screening.migrate import upgrade
from screening.referrals.demo import PEOPLE, SCREENINGS, USERS, WORKERS, demo_centres
from screening.referrals.directory import Directory
from screening.screenings.directory import STAFF_SYSTEM
from screening.store.seed import seed_database

PASSWORD = "a long demo secret 42"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database named by SCREENING_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    seed_database(url)
    monkeypatch.setenv("SCREENING_DATABASE_URL", url)
    return url


def count(state: AppState, res_type: str) -> int:
    """How many resources of a type are stored (as the command line sees them)."""
    from screening.api.door import perform
    from screening.api.messages import FhirRequest
    from screening.auth.principal import operator

    req = FhirRequest("GET", res_type, query=[("_summary", "count")])
    return int((perform(state, operator("t"), req, "http://t/fhir").body or {})["total"])


def task_statuses(state: AppState) -> list[str]:
    """The status of every stored Task."""
    from screening.api.door import perform
    from screening.api.messages import FhirRequest
    from screening.auth.principal import operator

    req = FhirRequest("GET", "Task", query=[("_count", "100")])
    body = perform(state, operator("t"), req, "http://t/fhir").body or {}
    return [str(e["resource"]["status"]) for e in body.get("entry", [])]


def practitioners(state: AppState) -> list[dict[str, Any]]:
    """Every stored Practitioner."""
    from screening.api.door import perform
    from screening.api.messages import FhirRequest
    from screening.auth.principal import operator

    req = FhirRequest("GET", "Practitioner", query=[("_count", "100")])
    body = perform(state, operator("t"), req, "http://t/fhir").body or {}
    return [e["resource"] for e in body.get("entry", [])]


def assert_letters_show_the_referrer(state: AppState) -> None:
    """Every referral's requester is the demo clinician's Practitioner, with the
    registration number and profession a letter prints."""
    from screening.api.door import perform
    from screening.api.messages import FhirRequest
    from screening.auth.principal import operator

    req = FhirRequest("GET", "ServiceRequest", query=[("_count", "100")])
    body = perform(state, operator("t"), req, "http://t/fhir").body or {}
    requesters = {e["resource"]["requester"]["reference"] for e in body.get("entry", [])}
    by_reference = {f"Practitioner/{p['id']}": p for p in practitioners(state)}
    [clinician] = [by_reference[r] for r in requesters]
    assert {"system": REGISTRATION_SYSTEM, "value": "MoPH-PT-10482"} in clinician["identifier"]
    assert clinician["qualification"][0]["code"]["coding"] == [
        {"system": PROFESSION_SYSTEM, "code": "physiotherapist", "display": "Physiotherapist"}
    ]
    assert clinician["identifier"][0] == {"system": STAFF_SYSTEM, "value": USERS[1][0]}
    for username, (profession, registration) in WORKERS.items():
        [worker] = [p for p in by_reference.values() if p["identifier"][0]["value"] == username]
        assert worker["identifier"][1]["value"] == registration
        assert worker["qualification"][0]["code"]["coding"][0]["code"] == profession


def test_the_demo_data_set_is_realistic() -> None:
    centres = demo_centres()
    assert len(centres) >= 36
    assert len({c.province for c in centres}) >= 20
    assert len({c.code for c in centres}) == len(centres)
    assert all(c.name_fa and c.name_en and c.services and c.latitude for c in centres)
    assert 10 <= len(PEOPLE) <= 20
    assert all(p.given_fa and p.given_latn and p.case_code for p in PEOPLE)


def test_demo_twice_loads_once(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    for username, *_ in USERS:
        assert f"user {username}" in out
    assert "--password" in out and PASSWORD not in out
    referrals = sum(len(services) for _, _, _, services, _ in SCREENINGS)
    assert f"Referrals added: {referrals}." in out

    state = AppState.build(Config.from_env())
    try:
        before = {
            t: count(state, t)
            for t in (
                "Organization",
                "Location",
                "HealthcareService",
                "Patient",
                "QuestionnaireResponse",
                "Observation",
                "ServiceRequest",
                "Task",
                "Consent",
                "Practitioner",
            )
        }
        assert before["Organization"] == len(demo_centres())
        assert before["Location"] == len(demo_centres()) + len(SCREENINGS)  # + screening places
        assert before["Patient"] == len(PEOPLE)
        assert before["QuestionnaireResponse"] == len(SCREENINGS)
        assert before["Observation"] > 0
        assert before["ServiceRequest"] == before["Task"] == referrals
        assert before["Consent"] == 4  # one per referring screening
        assert before["Practitioner"] == 3  # the screener, the clinician, the centre's staff
        assert_letters_show_the_referrer(state)
        statuses = sorted(task_statuses(state))
        assert statuses.count("requested") == referrals - 2
        assert "completed" in statuses and "accepted" in statuses
        with unit_of_work(state, write=False) as session:
            roles = {u.username: u.role for u in list_users(session)}
        assert roles == {u: r.value for u, r, *_ in USERS}

        assert cli.main(["demo", "--password", PASSWORD]) == 0
        assert "Centres added: 0" in capsys.readouterr().out
        after = {t: count(state, t) for t in before}
        assert after == before
        assert {p["meta"]["versionId"] for p in practitioners(state)} == {"1"}  # not rewritten

        from functools import partial

        from screening.api.door import perform
        from screening.auth.principal import operator

        directory = Directory(partial(perform, state, operator("t"), base_url="http://t/fhir"))
        suggested = directory.suggest("AF-HER", "prosthetics-orthotics")
        assert suggested[0].fhir_id == "her-01"
        assert suggested[1].values.province != "AF-HER"
    finally:
        state.engine.dispose()


def test_a_weak_password_loads_nothing(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--password", "short"]) == 2
    assert "screening demo:" in capsys.readouterr().err
    state = AppState.build(Config.from_env())
    try:
        assert count(state, "Organization") == 0
    finally:
        state.engine.dispose()

"""`screening db reindex`: resources stored before a SearchParameter existed are found by
it once their index is rebuilt; unknown types are a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete

from screening import cli
from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.principal import operator
from screening.boundary import AppState, unit_of_work
from screening.config import Config
from screening.migrate import upgrade
from screening.store.models import ReferenceIndex
from screening.store.seed import seed_database

BASE = "http://t/fhir"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppState:
    url = f"sqlite:///{tmp_path / 'reindex.db'}"
    upgrade(url)
    seed_database(url)
    monkeypatch.setenv("SCREENING_DATABASE_URL", url)
    return AppState.build(Config.from_env())


def found(state: AppState, query: list[tuple[str, str]]) -> int:
    req = FhirRequest("GET", "Observation", query=[*query, ("_summary", "count")])
    return int((perform(state, operator("t"), req, BASE).body or {})["total"])


def test_reindex_restores_what_the_index_lacks(
    state: AppState, capsys: pytest.CaptureFixture[str]
) -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "walking"},
        "subject": {"reference": "Patient/p1"},
    }
    for _ in range(3):
        perform(state, operator("t"), FhirRequest("POST", "Observation", body=observation), BASE)
    query = [("subject", "Patient/p1")]
    assert found(state, query) == 3
    with unit_of_work(state, write=True) as session:  # as if `subject` had not been indexed
        session.execute(delete(ReferenceIndex).where(ReferenceIndex.res_type == "Observation"))
    assert found(state, query) == 0
    assert cli.main(["db", "reindex", "Observation", "Patient"]) == 0
    assert "Resources reindexed: 3." in capsys.readouterr().out
    assert found(state, query) == 3
    state.engine.dispose()


def test_unknown_types_are_refused(state: AppState, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["db", "reindex", "Nonsense"]) == 2
    assert "Nonsense" in capsys.readouterr().err
    state.engine.dispose()

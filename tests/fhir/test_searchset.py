"""The IG's canonical base in code is the one the IG's manifest declares, and searchset
Bundles are read by search mode."""

from __future__ import annotations

import json
from pathlib import Path

from screening.fhir.searchset import CANONICAL, by_reference, resources


def test_the_canonical_base_is_the_manifests() -> None:
    manifest = json.loads(Path("fhir_profiles/package.json").read_text(encoding="utf-8"))
    assert manifest["canonical"] == CANONICAL


def test_resources_by_search_mode() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    task = {"resourceType": "Task", "id": "t"}
    bundle = {
        "entry": [
            {"resource": task, "search": {"mode": "match"}},
            {"resource": patient, "search": {"mode": "include"}},
            {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
            {"search": {"mode": "match"}},
        ]
    }
    assert resources(bundle) == [task]
    assert resources(bundle, "include") == [patient]
    assert by_reference(resources(bundle, "include")) == {"Patient/p": patient}
    assert resources({}) == []

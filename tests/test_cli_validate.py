"""`screening validate`: outcomes on stdout, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from screening.paths import data_dir

EXAMPLES = data_dir("fhir_profiles") / "examples"
PATIENT = EXAMPLES / "Patient-example-ahmad-karimi.json"


def validate(*args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "screening.cli", "validate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_valid_file_exit_0(tmp_path: Path) -> None:
    code, out, _ = validate(str(PATIENT))
    outcome = json.loads(out)
    assert code == 0 and outcome["resourceType"] == "OperationOutcome"
    assert not [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_invalid_file_exit_1_with_locations(tmp_path: Path) -> None:
    bad = json.loads(PATIENT.read_text(encoding="utf-8"))
    bad["gender"] = "sometimes"
    bad["birthDate"] = "1990-02-30"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    code, out, _ = validate(str(path))
    issues = json.loads(out)["issue"]
    assert code == 1
    where = {i["expression"][0] for i in issues if i["severity"] == "error"}
    assert {"Patient.gender", "Patient.birthDate"} <= where


def test_several_files_give_a_bundle_and_profiles_load(tmp_path: Path) -> None:
    profile = {
        "resourceType": "StructureDefinition",
        "url": "http://example.org/StructureDefinition/needs-birthdate",
        "name": "NeedsBirthDate",
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {
            "element": [{"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1}]
        },
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps({"resourceType": "Patient"}), encoding="utf-8")
    code, out, _ = validate("--profile", str(tmp_path / "profile.json"), str(patient), str(PATIENT))
    bundle = json.loads(out)
    assert code == 1 and bundle["resourceType"] == "Bundle" and len(bundle["entry"]) == 2
    first = bundle["entry"][0]["resource"]["issue"]
    assert any("Patient.birthDate: minimum required = 1" in i["diagnostics"] for i in first)
    code, out, _ = validate(
        "--load",
        str(tmp_path),
        "--profile",
        "http://example.org/StructureDefinition/needs-birthdate",
        str(patient),
    )
    assert code == 1


def test_usage_problems_exit_2(tmp_path: Path) -> None:
    assert validate()[0] == 2
    assert validate("--load", str(tmp_path / "missing.json"), str(PATIENT))[0] == 2
    not_json = tmp_path / "x.json"
    not_json.write_text("{", encoding="utf-8")
    code, out, _ = validate(str(not_json))
    assert code == 1 and json.loads(out)["issue"][0]["severity"] == "fatal"

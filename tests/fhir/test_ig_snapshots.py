"""The published IG snapshots (`fhir_profiles/snapshots/`) are what the generator makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from screening.fhir.ig_snapshots import (
    ig_structure_definitions,
    snapshot_files,
    snapshot_folder,
    stale_files,
)
from screening.fhir.packages import default_registry
from screening.fhir.structure import compile_structure


def ig_snapshots(*args: str) -> tuple[int, str]:
    """Run `screening ig snapshots` with `args`: (exit code, stdout)."""
    done = subprocess.run(
        [sys.executable, "-m", "screening.cli", "ig", "snapshots", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout


def test_committed_snapshots_match_the_generator() -> None:
    """Regenerating every IG snapshot gives the committed files byte for byte."""
    assert stale_files(default_registry(), snapshot_folder()) == []


def test_every_ig_structure_definition_has_a_snapshot_file() -> None:
    """One file per IG StructureDefinition, each compiling to a structure model."""
    names = {p.name for p in snapshot_folder().glob("*.json")}
    ids = {f"StructureDefinition-{sd['id']}.json" for sd in ig_structure_definitions()}
    assert names == ids and len(ids) >= 27
    for name in sorted(names):
        sd = json.loads((snapshot_folder() / name).read_text(encoding="utf-8"))
        assert sd["differential"]["element"] and sd["snapshot"]["element"]
        compile_structure(sd)


def test_generation_is_deterministic() -> None:
    """Two generations from separate generators give the same text."""
    first = snapshot_files(default_registry())
    assert snapshot_files(default_registry()) == first


def test_command_writes_then_checks(tmp_path: Path) -> None:
    """`--check` fails on a stale folder and passes after writing it."""
    (tmp_path / "StructureDefinition-gone.json").write_text("{}", encoding="utf-8")
    code, out = ig_snapshots("--out", str(tmp_path), "--check")
    assert code == 1 and "StructureDefinition-gone.json" in out and "tug" in out
    code, out = ig_snapshots("--out", str(tmp_path))
    assert code == 0 and "27 snapshot file(s) written" in out
    assert ig_snapshots("--out", str(tmp_path), "--check") == (0, "")
    assert not (tmp_path / "StructureDefinition-gone.json").exists()

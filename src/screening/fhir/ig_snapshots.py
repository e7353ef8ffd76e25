"""The IG's StructureDefinitions with generated snapshots, as published files.

The IG is written as differentials; `fhir_profiles/snapshots/` holds each one with its
snapshot generated against the core package, for systems that cannot generate snapshots.
`screening ig snapshots` writes them and `--check` (and a test) proves the committed files
are exactly what the generator makes now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from screening.fhir.packages import Registry, read_package
from screening.fhir.snapshot import SnapshotGenerator
from screening.paths import data_dir


def snapshot_folder() -> Path:
    """Where the published snapshots live."""
    return data_dir("fhir_profiles") / "snapshots"


def ig_structure_definitions() -> list[dict[str, Any]]:
    """The IG's StructureDefinitions as written (differentials), in file order."""
    package = read_package(data_dir("fhir_profiles"))
    found = [entry.load() for _, entry in package.entries]
    return [r for r in found if r.get("resourceType") == "StructureDefinition"]


def snapshot_files(registry: Registry) -> dict[str, str]:
    """File name -> text of each IG StructureDefinition with its generated snapshot."""
    generator = SnapshotGenerator(registry)
    files: dict[str, str] = {}
    for sd in ig_structure_definitions():
        generated = generator.generate(sd)
        text = json.dumps(generated, indent=2, ensure_ascii=False) + "\n"
        files[f"StructureDefinition-{sd['id']}.json"] = text
    return files


def stale_files(registry: Registry, folder: Path) -> list[str]:
    """The files in `folder` that are missing, different or no longer generated."""
    wanted = snapshot_files(registry)
    present = {p.name for p in folder.glob("*.json")} if folder.is_dir() else set()
    stale = [name for name, text in wanted.items() if _read(folder / name) != text]
    return sorted(stale + sorted(present - set(wanted)))


def write_snapshots(registry: Registry, folder: Path) -> list[str]:
    """Write every snapshot file into `folder` (removing ones no longer generated)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = snapshot_files(registry)
    for path in folder.glob("*.json"):
        if path.name not in wanted:
            path.unlink()
    changed = []
    for name, text in wanted.items():
        if _read(folder / name) != text:
            (folder / name).write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None

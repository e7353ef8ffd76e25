"""`screening validate`: validate FHIR JSON files and print the OperationOutcome(s)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from screening.fhir.outcome import Issue, operation_outcome
from screening.fhir.packages import Registry

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def run_validate(
    load: list[str], profiles: list[str], files: list[str], out: TextIO = sys.stdout
) -> int:
    """Validate `files`; print one OperationOutcome (or a Bundle of them); 0/1/2 exit code."""
    registry = _registry()
    try:
        for item in load:
            _load(registry, Path(item))
        urls = [_profile_url(registry, p) for p in profiles]
    except (OSError, ValueError) as exc:
        print(f"screening validate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from screening.fhir.validation import build_validator

    validator = build_validator(registry)
    outcomes = [_outcome(validator.validate, Path(f), tuple(urls)) for f in files]
    if len(outcomes) == 1:
        json.dump(outcomes[0], out, ensure_ascii=False, indent=2)
    else:
        entries = [
            {"fullUrl": Path(f).resolve().as_uri(), "resource": o}
            for f, o in zip(files, outcomes, strict=True)
        ]
        json.dump(
            {"resourceType": "Bundle", "type": "collection", "entry": entries},
            out,
            ensure_ascii=False,
            indent=2,
        )
    out.write("\n")
    failed = any(i["severity"] in ("error", "fatal") for o in outcomes for i in o["issue"])
    return EXIT_INVALID if failed else EXIT_VALID


def _registry() -> Registry:
    from screening.fhir.packages import project_registry

    return project_registry()


def _load(registry: Registry, path: Path) -> None:
    """Add the conformance resources of a file, a folder of files, or a package."""
    if (path.is_dir() and (path / "package.json").exists()) or path.suffix == ".tgz":
        registry.load_package(path)
        return
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    for file in files:
        resource = _read(file)
        for item in _resources(resource):
            registry.add(item)


def _resources(resource: Any) -> list[dict[str, Any]]:
    """A resource, or the entries of a Bundle, that can be added to the registry."""
    if not isinstance(resource, dict) or "resourceType" not in resource:
        return []
    if resource["resourceType"] == "Bundle":
        found = [e.get("resource") for e in resource.get("entry", []) if isinstance(e, dict)]
        return [r for r in found if isinstance(r, dict) and "resourceType" in r]
    return [resource]


def _profile_url(registry: Registry, value: str) -> str:
    """A profile given as a canonical URL, or as a file holding a StructureDefinition."""
    path = Path(value)
    if "://" not in value and path.exists():
        resource = _read(path)
        if not isinstance(resource, dict) or not isinstance(resource.get("url"), str):
            raise ValueError(f"{value} is not a StructureDefinition with a url")
        registry.add(resource)
        return str(resource["url"])
    return value


def _read(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.loads(handle.read().decode("utf-8-sig"))


def _outcome(validate: Any, path: Path, profiles: tuple[str, ...]) -> dict[str, Any]:
    """The OperationOutcome for one file (a fatal issue if it cannot be read as JSON)."""
    try:
        resource = _read(path)
    except OSError as exc:
        return operation_outcome([Issue("fatal", "not-found", f"Cannot read {path}: {exc}")])
    except (ValueError, UnicodeDecodeError) as exc:
        return operation_outcome([Issue("fatal", "structure", f"{path} is not JSON: {exc}")])
    issues: list[Issue] = validate(resource, profiles)
    return operation_outcome(issues)

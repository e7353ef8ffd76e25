"""Reading what the FHIR door answers: the IG's canonical base, the resources of a
searchset Bundle, and a stored resource's version and references."""

from __future__ import annotations

from typing import Any

CANONICAL = "https://fhir.rehab-screening.example"  # `canonical` of fhir_profiles/package.json


def resources(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    """The resources of a searchset Bundle in one search mode (match or include)."""
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if "resource" in e and e.get("search", {}).get("mode") == mode
    ]


def by_reference(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Resources by their relative reference `Type/id`."""
    return {f"{r.get('resourceType')}/{r.get('id')}": r for r in found}


def reference_text(reference: Any) -> str:
    """The `reference` of a Reference as written ('' when there is none)."""
    return str(reference.get("reference") or "") if isinstance(reference, dict) else ""


def version_of(resource: dict[str, Any]) -> int:
    """A stored resource's version (meta.versionId; 0 when it has none)."""
    return int(str((resource.get("meta") or {}).get("versionId") or 0) or 0)

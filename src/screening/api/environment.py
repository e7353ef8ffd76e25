"""The process-wide, expensive parts of the FHIR service: definitions, indexer, validator."""

from __future__ import annotations

from dataclasses import dataclass

from screening.config import Config
from screening.fhir.packages import Registry, default_registry
from screening.fhir.search_extract import SearchIndexer
from screening.fhir.validation import shared_validator
from screening.fhir.validator import Validator


@dataclass
class FhirEnvironment:
    """Built once per app; shared by every request (all parts are read-only after warm-up)."""

    config: Config
    registry: Registry
    indexer: SearchIndexer
    validator: Validator
    resource_types: frozenset[str]

    @classmethod
    def build(cls, config: Config, registry: Registry | None = None) -> FhirEnvironment:
        """The environment for `config`; the compiled parts are shared per registry."""
        registry = registry or default_registry()
        indexer, types = _compiled(registry)
        return cls(config, registry, indexer, shared_validator(registry), types)

    def profiles_by_type(self) -> dict[str, list[str]]:
        """The IG's profiles (canonical URLs), by the resource type they constrain."""
        found: dict[str, list[str]] = {}
        for sd in self.registry.all_of("StructureDefinition"):
            if (
                sd.get("derivation") == "constraint"
                and sd.get("kind") == "resource"
                and not str(sd.get("url", "")).startswith("http://hl7.org/fhir/")
            ):
                found.setdefault(str(sd["type"]), []).append(str(sd["url"]))
        return {k: sorted(v) for k, v in found.items()}


_COMPILED: dict[int, tuple[SearchIndexer, frozenset[str]]] = {}


def _compiled(registry: Registry) -> tuple[SearchIndexer, frozenset[str]]:
    """The indexer and type names depend only on the registry: build them once."""
    key = id(registry)
    if key not in _COMPILED:
        _COMPILED[key] = (SearchIndexer(registry), frozenset(registry.resource_types()))
    return _COMPILED[key]

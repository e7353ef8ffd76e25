"""The process-wide, expensive parts of the FHIR service: definitions, indexer, checker."""

from __future__ import annotations

from dataclasses import dataclass, field

from screening.config import Config
from screening.fhir.packages import Registry, default_registry
from screening.fhir.search_extract import SearchIndexer
from screening.fhir.structure import StructureChecker


@dataclass
class FhirEnvironment:
    """Built once per app; shared by every request (all parts are read-only after warm-up)."""

    config: Config
    registry: Registry
    indexer: SearchIndexer
    checker: StructureChecker
    resource_types: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, config: Config, registry: Registry | None = None) -> FhirEnvironment:
        registry = registry or default_registry()
        return cls(
            config=config,
            registry=registry,
            indexer=SearchIndexer(registry),
            checker=StructureChecker(registry),
            resource_types=frozenset(registry.resource_types()),
        )

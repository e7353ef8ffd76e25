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
        """The environment for `config`; the compiled parts are shared per registry."""
        registry = registry or default_registry()
        indexer, checker, types = _compiled(registry)
        return cls(config, registry, indexer, checker, types)


_COMPILED: dict[int, tuple[SearchIndexer, StructureChecker, frozenset[str]]] = {}


def _compiled(registry: Registry) -> tuple[SearchIndexer, StructureChecker, frozenset[str]]:
    """Indexer, checker and type names depend only on the registry: build them once."""
    key = id(registry)
    if key not in _COMPILED:
        _COMPILED[key] = (
            SearchIndexer(registry),
            StructureChecker(registry),
            frozenset(registry.resource_types()),
        )
    return _COMPILED[key]

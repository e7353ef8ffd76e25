"""Put the IG's conformance resources into the store, so `/fhir` serves and searches them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from screening.db import make_engine, make_session_factory, writer_session
from screening.fhir.packages import default_registry, read_package
from screening.fhir.search_extract import SearchIndexer
from screening.paths import data_dir
from screening.store.resources import ResourceStore

SEEDED_TYPES = frozenset(
    {"StructureDefinition", "ValueSet", "CodeSystem", "SearchParameter", "Questionnaire"}
)


def ig_resources() -> list[dict[str, Any]]:
    """The IG package's conformance resources, in file order."""
    package = read_package(data_dir("fhir_profiles"))
    found = [entry.load() for _, entry in package.entries]
    return [r for r in found if r.get("resourceType") in SEEDED_TYPES and r.get("id")]


def seed_conformance(session: Session, indexer: SearchIndexer) -> int:
    """Create or update each IG resource whose content differs; returns how many changed."""
    store = ResourceStore(session, indexer)
    changed = 0
    for resource in ig_resources():
        current = store.current(resource["resourceType"], resource["id"])
        if current is not None and not current.deleted and _same(current.content, resource):
            continue
        store.update(resource, resource["id"])
        changed += 1
    return changed


def _same(stored: dict[str, Any] | None, resource: dict[str, Any]) -> bool:
    """Equal but for the meta the server sets."""
    if stored is None:
        return False
    strip = ("meta",)
    left = {k: v for k, v in stored.items() if k not in strip}
    right = {k: v for k, v in resource.items() if k not in strip}
    return left == right


def seed_database(database_url: str) -> int:
    """Seed the IG resources into the database at `database_url` in one transaction."""
    engine = make_engine(database_url)
    try:
        with writer_session(make_session_factory(engine)) as session, session.begin():
            return seed_conformance(session, SearchIndexer(default_registry()))
    finally:
        engine.dispose()

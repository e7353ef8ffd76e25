"""Writes AuditEvents into the store, in the caller's transaction or in one of their own."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from screening.audit.events import Access, audit_event
from screening.auth.principal import Principal
from screening.db import transaction
from screening.fhir.search_extract import SearchIndexer
from screening.store.clock import utcnow
from screening.store.resources import ResourceStore


def record(
    session: Session, indexer: SearchIndexer, principal: Principal | None, accesses: list[Access]
) -> None:
    """Store one AuditEvent per access in `session` (committed with the action)."""
    store = ResourceStore(session, indexer)
    now = utcnow()
    for access in accesses:
        store.create(audit_event(principal, access, now))


def record_apart(
    sessions: sessionmaker[Session],
    indexer: SearchIndexer,
    principal: Principal | None,
    accesses: list[Access],
) -> None:
    """Store AuditEvents in a transaction of their own (after the action was rolled back)."""
    with transaction(sessions, write=True) as session:
        record(session, indexer, principal, accesses)

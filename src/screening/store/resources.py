"""Reads and writes of versioned resources; every write also rewrites the search index."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from screening.fhir.outcome import Conflict, Gone, NotFound, PreconditionFailed
from screening.fhir.search_extract import SearchIndexer
from screening.fhir.searchvalues import (
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)
from screening.fhir.text import normalize_string
from screening.store.clock import to_instant, utcnow
from screening.store.models import (
    INDEX_TABLES,
    ResourceRow,
    ResourceVersion,
    index_table,
)
from screening.store.sharing import refresh_grants

resource_t = cast(Table, ResourceRow.__table__)
version_t = cast(Table, ResourceVersion.__table__)


@dataclass(frozen=True)
class Stored:
    """One version of a resource as the store holds it (content None for a delete)."""

    rid: int
    res_type: str
    fhir_id: str
    version: int
    last_updated: datetime
    method: str
    content: dict[str, Any] | None

    @property
    def deleted(self) -> bool:
        return self.content is None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def new_id() -> str:
    """A fresh server-assigned logical id."""
    return str(uuid.uuid4())


class ResourceStore:
    """The versioned store. It flushes; the caller's transaction boundary commits."""

    def __init__(self, session: Session, indexer: SearchIndexer) -> None:
        self.session = session
        self.indexer = indexer

    # reads ---------------------------------------------------------------------------

    def read(self, res_type: str, fhir_id: str) -> Stored:
        """The current version; NotFound if never stored, Gone if deleted."""
        found = self.current(res_type, fhir_id)
        if found is None:
            raise NotFound(f"{res_type}/{fhir_id} is not known")
        if found.deleted:
            raise Gone(f"{res_type}/{fhir_id} was deleted (version {found.version})")
        return found

    def current(self, res_type: str, fhir_id: str) -> Stored | None:
        """The current version (possibly a delete), or None if never stored."""
        stmt = (
            select(*_VERSION_COLUMNS)
            .join(resource_t, resource_t.c.rid == version_t.c.rid)
            .where(resource_t.c.res_type == res_type, resource_t.c.fhir_id == fhir_id)
            .where(version_t.c.version == resource_t.c.version)
        )
        row = self.session.execute(stmt).first()
        return _stored(row) if row is not None else None

    def vread(self, res_type: str, fhir_id: str, version: int) -> Stored:
        """One past or current version; Gone if that version is a delete."""
        stmt = (
            select(*_VERSION_COLUMNS)
            .where(version_t.c.res_type == res_type, version_t.c.fhir_id == fhir_id)
            .where(version_t.c.version == version)
        )
        row = self.session.execute(stmt).first()
        if row is None:
            raise NotFound(f"{res_type}/{fhir_id} has no version {version}")
        found = _stored(row)
        if found.deleted:
            raise Gone(f"Version {version} of {res_type}/{fhir_id} is a deletion")
        return found

    def by_rids(self, rids: Sequence[int]) -> list[Stored]:
        """Current, not deleted versions of these rows, in the order given."""
        if not rids:
            return []
        stmt = (
            select(*_VERSION_COLUMNS)
            .join(resource_t, resource_t.c.rid == version_t.c.rid)
            .where(resource_t.c.rid.in_(list(rids)))
            .where(version_t.c.version == resource_t.c.version)
            .where(resource_t.c.deleted.is_(False))
        )
        found = {row.rid: _stored(row) for row in self.session.execute(stmt)}
        return [found[rid] for rid in rids if rid in found]

    # writes --------------------------------------------------------------------------

    def reindex(self, res_types: Sequence[str], batch: int = 500) -> int:
        """Rewrite the search index of every current resource of these types (after a
        SearchParameter was added or changed); how many were reindexed."""
        done, after = 0, 0
        while True:
            stmt = (
                select(resource_t.c.rid)
                .where(resource_t.c.res_type.in_(list(res_types)), resource_t.c.rid > after)
                .where(resource_t.c.deleted.is_(False))
                .order_by(resource_t.c.rid)
                .limit(batch)
            )
            rids = list(self.session.execute(stmt).scalars())
            if not rids:
                return done
            for stored in self.by_rids(rids):
                self._reindex(stored.rid, stored.res_type, stored.content, fresh=False)
            done += len(rids)
            after = rids[-1]

    def create(self, resource: dict[str, Any], fhir_id: str | None = None) -> Stored:
        """Store a new resource under a new (or the given) id as version 1."""
        res_type = resource["resourceType"]
        fhir_id = fhir_id or new_id()
        now = utcnow()
        stmt = insert(resource_t).values(
            res_type=res_type, fhir_id=fhir_id, version=1, last_updated=now, deleted=False
        )
        try:
            rid = self.session.execute(stmt.returning(resource_t.c.rid)).scalar_one()
        except IntegrityError as exc:
            raise Conflict(f"{res_type}/{fhir_id} was created by someone else meanwhile") from exc
        return self._write_version(rid, res_type, fhir_id, 1, now, "POST", resource)

    def update(
        self,
        resource: dict[str, Any],
        fhir_id: str,
        if_match: int | None = None,
        method: str = "PUT",
    ) -> tuple[Stored, bool]:
        """Store a new version (or create, if the id is new); returns (stored, created)."""
        res_type = resource["resourceType"]
        row = self._lock_row(res_type, fhir_id)
        if row is None:
            if if_match is not None:
                raise PreconditionFailed(f"{res_type}/{fhir_id} does not exist (If-Match)")
            return self.create(resource, fhir_id), True
        rid, version = row
        if if_match is not None and if_match != version:
            raise PreconditionFailed(
                f"{res_type}/{fhir_id} is at version {version}, not {if_match} (If-Match)"
            )
        now = utcnow()
        stored = self._write_version(rid, res_type, fhir_id, version + 1, now, method, resource)
        self._move_pointer(rid, version, version + 1, now, deleted=False)
        return stored, False

    def delete(self, res_type: str, fhir_id: str, if_match: int | None = None) -> Stored | None:
        """Write a delete version; None when there was nothing current to delete."""
        row = self._lock_row(res_type, fhir_id)
        if row is None:
            raise NotFound(f"{res_type}/{fhir_id} is not known")
        rid, version = row
        if if_match is not None and if_match != version:
            raise PreconditionFailed(
                f"{res_type}/{fhir_id} is at version {version}, not {if_match} (If-Match)"
            )
        current = self.current(res_type, fhir_id)
        if current is None or current.deleted:
            return None
        now = utcnow()
        stored = self._write_version(rid, res_type, fhir_id, version + 1, now, "DELETE", None)
        self._move_pointer(rid, version, version + 1, now, deleted=True)
        return stored

    def _lock_row(self, res_type: str, fhir_id: str) -> tuple[int, int] | None:
        """(rid, current version) with the row locked against concurrent writers."""
        stmt = (
            select(resource_t.c.rid, resource_t.c.version)
            .where(resource_t.c.res_type == res_type, resource_t.c.fhir_id == fhir_id)
            .with_for_update()
        )
        row = self.session.execute(stmt).first()
        return (row.rid, row.version) if row is not None else None

    def _move_pointer(self, rid: int, old: int, new: int, now: datetime, *, deleted: bool) -> None:
        """Point the row at the new version, only if nobody moved it meanwhile."""
        stmt = (
            update(resource_t)
            .where(resource_t.c.rid == rid, resource_t.c.version == old)
            .values(version=new, last_updated=now, deleted=deleted)
        )
        result = cast(CursorResult[Any], self.session.execute(stmt))
        if result.rowcount != 1:
            raise Conflict("The resource was changed by someone else meanwhile; try again")

    def _write_version(
        self,
        rid: int,
        res_type: str,
        fhir_id: str,
        version: int,
        now: datetime,
        method: str,
        resource: dict[str, Any] | None,
    ) -> Stored:
        """Insert one version row and rewrite the index rows for it."""
        content = _with_meta(resource, fhir_id, version, now) if resource is not None else None
        values = dict(
            rid=rid,
            version=version,
            res_type=res_type,
            fhir_id=fhir_id,
            last_updated=now,
            method=method,
            content=content,
        )
        try:
            self.session.execute(insert(version_t).values(**values))
        except IntegrityError as exc:
            raise Conflict(
                f"{res_type}/{fhir_id} version {version} was written by someone else meanwhile"
            ) from exc
        self._reindex(rid, res_type, content, fresh=version == 1)
        refresh_grants(self.session, res_type, fhir_id, content)
        return Stored(rid, res_type, fhir_id, version, now, method, content)

    def _reindex(
        self, rid: int, res_type: str, content: dict[str, Any] | None, *, fresh: bool
    ) -> None:
        """Replace the index rows of `rid` by those of `content` (none for a delete)."""
        if not fresh:
            for table in INDEX_TABLES.values():
                self.session.execute(delete(table).where(table.rid == rid))
        if content is None:
            return
        rows: dict[str, list[dict[str, Any]]] = {}
        for name, value in self.indexer.extract(content):
            kind, row = index_row(value)
            row.update(rid=rid, res_type=res_type, name=name)
            rows.setdefault(kind, []).append(row)
        conn = self.session.connection()
        for kind, batch in rows.items():
            conn.execute(insert(index_table(kind)), batch)


def index_row(value: IndexValue) -> tuple[str, dict[str, Any]]:
    """The index table kind and column values for one extracted value."""
    if isinstance(value, TokenValue):
        return "token", {"system": _cut(value.system), "code": _cut(value.code)}
    if isinstance(value, StringValue):
        norm = normalize_string(value.value)[:255]
        return "string", {"value_norm": norm, "value_exact": value.value}
    if isinstance(value, ReferenceValue):
        return "reference", {
            "target_type": value.target_type,
            "target_id": value.target_id,
            "url": value.url,
        }
    if isinstance(value, DateValue):
        return "date", {"low": value.low, "high": value.high}
    if isinstance(value, QuantityValue):
        return "quantity", {
            "value": float(value.value),
            "system": _cut(value.system),
            "code": _cut(value.code),
            "unit": _cut(value.unit),
        }
    if isinstance(value, NumberValue):
        return "number", {"value": float(value.value)}
    assert isinstance(value, UriValue)
    return "uri", {"value": value.value[:2048]}


def _cut(text: str | None) -> str | None:
    return text[:255] if text is not None else None


def _with_meta(
    resource: dict[str, Any], fhir_id: str, version: int, now: datetime
) -> dict[str, Any]:
    """The resource as stored: id, meta.versionId and meta.lastUpdated set by the server."""
    body = {k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = to_instant(now)
    return {"resourceType": resource["resourceType"], "id": fhir_id, "meta": meta, **body}


_VERSION_COLUMNS = (
    version_t.c.rid,
    version_t.c.res_type,
    version_t.c.fhir_id,
    version_t.c.version,
    version_t.c.last_updated,
    version_t.c.method,
    version_t.c.content,
)


def _stored(row: Any) -> Stored:
    return Stored(
        row.rid, row.res_type, row.fhir_id, row.version, row.last_updated, row.method, row.content
    )

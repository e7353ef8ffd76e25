"""History Bundles (instance, type, system), newest first, with paging that does not shift."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlencode

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from screening.api.messages import FhirRequest
from screening.fhir.datetimes import parse_fhir_date_range
from screening.fhir.outcome import BadRequest
from screening.store.clock import to_instant, utcnow
from screening.store.models import ResourceVersion
from screening.store.visibility import Visibility

version_t = cast(Table, ResourceVersion.__table__)
STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


def history_bundle(
    session: Session,
    base_url: str,
    req: FhirRequest,
    res_type: str | None,
    fhir_id: str | None,
    max_count: int,
    visibility: Visibility | None = None,
    types: list[str] | None = None,
) -> dict[str, Any]:
    """A history Bundle; `_before` (set by the paging links) pins the page against new writes."""
    params = dict(req.query)
    count = _whole(params.get("_count", "20"), "_count", max_count)
    offset = _whole(params.get("_getpagesoffset", "0"), "_getpagesoffset", None)
    before = _instant(params["_before"], "_before")[0] if "_before" in params else utcnow()
    stmt = select(version_t).where(version_t.c.last_updated <= before)
    if res_type:
        stmt = stmt.where(version_t.c.res_type == res_type)
    if fhir_id:
        stmt = stmt.where(version_t.c.fhir_id == fhir_id)
    if visibility is not None:
        known = [res_type] if res_type else (types or [])
        stmt = stmt.where(visibility.clause(version_t.c.res_type, version_t.c.fhir_id, known))
    if "_since" in params:
        stmt = stmt.where(version_t.c.last_updated >= _instant(params["_since"], "_since")[0])
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(
        stmt.order_by(
            version_t.c.last_updated.desc(), version_t.c.rid.desc(), version_t.c.version.desc()
        )
        .offset(offset)
        .limit(count)
    ).all()
    path = "/".join(p for p in (res_type, fhir_id, "_history") if p)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": to_instant(utcnow())},
        "type": "history",
        "total": total,
        "link": _links(f"{base_url}/{path}", params, before, offset, count, total),
        "entry": [_entry(base_url, row) for row in rows],
    }


def _entry(base_url: str, row: Any) -> dict[str, Any]:
    url = f"{row.res_type}/{row.fhir_id}"
    entry: dict[str, Any] = {"fullUrl": f"{base_url}/{url}"}
    if row.content is not None:
        entry["resource"] = row.content
    entry["request"] = {"method": row.method, "url": url if row.method != "POST" else row.res_type}
    entry["response"] = {
        "status": STATUS[row.method],
        "etag": f'W/"{row.version}"',
        "lastModified": to_instant(row.last_updated),
    }
    return entry


def _links(
    url: str, params: dict[str, str], before: datetime, offset: int, count: int, total: int
) -> list[dict[str, str]]:
    def at(position: int) -> str:
        query = {k: v for k, v in params.items() if k in ("_since",)}
        query.update(_before=to_instant(before), _getpagesoffset=str(position), _count=str(count))
        return f"{url}?{urlencode(query)}"

    links = [{"relation": "self", "url": at(offset)}]
    if offset + count < total:
        links.append({"relation": "next", "url": at(offset + count)})
    if offset > 0:
        links.append({"relation": "previous", "url": at(max(offset - count, 0))})
    return links


def _whole(text: str, name: str, cap: int | None) -> int:
    if not text.isdigit():
        raise BadRequest(f"{name} must be a whole number")
    return min(int(text), cap) if cap is not None else int(text)


def _instant(text: str, name: str) -> tuple[datetime, datetime]:
    try:
        return parse_fhir_date_range(text)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a FHIR instant") from exc

"""Run parsed searches as SQL over the index tables, with stable paging snapshots."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    delete,
    false,
    func,
    insert,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from screening.fhir.datetimes import parse_fhir_date_range
from screening.fhir.outcome import Gone, Issue
from screening.fhir.text import normalize_string
from screening.store.clock import utcnow
from screening.store.models import INDEX_TABLES, ReferenceIndex, ResourceRow, SearchSnapshot
from screening.store.query_parse import (
    Criterion,
    Include,
    SearchQuery,
    parse_decimal,
    split_pipe,
    split_prefix,
)
from screening.store.resources import ResourceStore, Stored
from screening.store.visibility import Visibility

resource_t = cast(Table, ResourceRow.__table__)
snapshot_t = cast(Table, SearchSnapshot.__table__)
MAX_SNAPSHOT = 100_000
# Which criterion usually narrows a search most (lower first): ids and references pick a
# few rows; tokens (codes, statuses) can match much of a type.
SELECTIVITY = {
    "_id": 0,
    "reference": 1,
    "uri": 2,
    "string": 3,
    "date": 4,
    "quantity": 5,
    "number": 5,
    "token": 6,
    "_lastUpdated": 7,
}
TOP = "\U0010ffff"


@dataclass
class SearchPage:
    """One page of a search: the matches, what they include, and where the page sits."""

    total: int
    matches: list[Stored]
    included: list[Stored]
    offset: int
    count: int
    snapshot: str | None
    issues: list[Issue] = field(default_factory=list)


class SearchRunner:
    """Turns a SearchQuery into SQL; pages come from a stored, ordered snapshot."""

    def __init__(
        self,
        session: Session,
        store: ResourceStore,
        base_url: str,
        snapshot_minutes: int = 60,
        visibility: Visibility | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.snapshot_minutes = snapshot_minutes
        self.visibility = visibility

    def count(self, query: SearchQuery) -> int:
        """How many resources match (for _summary=count)."""
        stmt = select(func.count()).select_from(self._matching(query).subquery())
        return int(self.session.execute(stmt).scalar_one())

    def matches(self, query: SearchQuery, limit: int) -> list[Stored]:
        """At most `limit` matches, with no paging snapshot (for conditional interactions)."""
        stmt = self._matching(query).order_by(resource_t.c.rid).limit(limit)
        return self.store.by_rids(list(self.session.execute(stmt).scalars()))

    def first_page(self, query: SearchQuery, query_string: str) -> SearchPage:
        """Run the search; keep its ordered result for the paging links if it has more pages."""
        stmt = self._matching(query).order_by(*self._order(query)).limit(MAX_SNAPSHOT)
        rids = list(self.session.execute(stmt).scalars())
        snapshot = None
        if len(rids) > query.count:
            snapshot = self._save_snapshot(query.res_type, query_string, rids)
        return self._page(query, rids, 0, snapshot)

    def later_page(self, query: SearchQuery, snapshot_id: str, offset: int) -> SearchPage:
        """A page of a stored search result."""
        row = self.session.get(SearchSnapshot, snapshot_id)
        if row is None or row.res_type != query.res_type:
            raise Gone("This search result has expired or is unknown; run the search again")
        rids = json.loads(row.rids)
        return self._page(query, rids, max(offset, 0), snapshot_id, total=row.total)

    def stored_query(self, snapshot_id: str) -> str:
        """The query string that produced a snapshot."""
        row = self.session.get(SearchSnapshot, snapshot_id)
        if row is None:
            raise Gone("This search result has expired or is unknown; run the search again")
        return row.query

    def _page(
        self,
        query: SearchQuery,
        rids: Sequence[int],
        offset: int,
        snapshot: str | None,
        total: int | None = None,
    ) -> SearchPage:
        matches = self.store.by_rids(rids[offset : offset + query.count])
        included = self._included(query, matches)
        total = len(rids) if total is None else total
        return SearchPage(
            total, matches, included, offset, query.count, snapshot, list(query.issues)
        )

    def _save_snapshot(self, res_type: str, query_string: str, rids: list[int]) -> str:
        now = utcnow()
        expired = now - timedelta(minutes=self.snapshot_minutes)
        self.session.execute(delete(snapshot_t).where(snapshot_t.c.created < expired))
        snapshot_id = str(uuid.uuid4())
        self.session.execute(
            insert(snapshot_t).values(
                id=snapshot_id,
                created=now,
                res_type=res_type,
                query=query_string,
                total=len(rids),
                rids=json.dumps(rids),
            )
        )
        return snapshot_id

    # matching ------------------------------------------------------------------------

    def _matching(self, query: SearchQuery) -> Select[Any]:
        """The rids matching every criterion. The likely most selective criterion drives
        (`rid IN (...)`); the others are probed per candidate (`EXISTS`), so the cost
        follows the size of the result, not of the store."""
        stmt = select(resource_t.c.rid).where(
            resource_t.c.res_type == query.res_type, resource_t.c.deleted.is_(False)
        )
        ordered = sorted(query.criteria, key=lambda c: SELECTIVITY.get(c.type, 9))
        for index, criterion in enumerate(ordered):
            stmt = stmt.where(self._criterion(query.res_type, criterion, drive=index == 0))
        return self._visible(stmt, [query.res_type])

    def _visible(self, stmt: Select[Any], types: list[str]) -> Select[Any]:
        """Only the rows the principal may see (when the runner has a visibility)."""
        if self.visibility is None:
            return stmt
        return stmt.where(
            self.visibility.clause(resource_t.c.res_type, resource_t.c.fhir_id, types)
        )

    def _criterion(self, res_type: str, c: Criterion, drive: bool = True) -> ColumnElement[bool]:
        if c.type == "_id":
            by_id = resource_t.c.fhir_id.in_(c.values)
            return not_(by_id) if c.modifier == "not" else by_id
        if c.type == "_lastUpdated":
            return or_(*(_instant_clause(resource_t.c.last_updated, v) for v in c.values))
        table = INDEX_TABLES[c.type]
        rows = select(table.rid).where(table.res_type == res_type, table.name == c.name)
        if c.modifier == "missing":
            present = resource_t.c.rid.in_(rows)
            return not_(present) if c.values == ("true",) else present
        clause: ColumnElement[bool] = or_(*(self._value_clause(table, c, v) for v in c.values))
        matching: ColumnElement[bool]
        if drive or c.modifier == "not":
            matching = resource_t.c.rid.in_(rows.where(clause))
        else:
            matching = rows.where(clause, table.rid == resource_t.c.rid).exists()
        return not_(matching) if c.modifier == "not" else matching

    def _value_clause(self, table: Any, c: Criterion, value: str) -> ColumnElement[bool]:
        if c.type == "string":
            return _string_clause(table, c.modifier, value)
        if c.type == "token":
            return _token_clause(table, value)
        if c.type == "date":
            return _date_clause(table.low, table.high, value)
        if c.type == "reference":
            return self._reference_clause(table, c, value)
        if c.type == "quantity":
            return _quantity_clause(table, c.name, value)
        if c.type == "number":
            prefix, text = split_prefix(value)
            return _number_clause(table.value, prefix, parse_decimal(text, c.name))
        if c.modifier == "below":
            return table.value.startswith(value, autoescape=True)  # type: ignore[no-any-return]
        return table.value == value  # type: ignore[no-any-return]

    def _reference_clause(self, table: Any, c: Criterion, value: str) -> ColumnElement[bool]:
        if self.base_url and value.startswith(self.base_url + "/"):
            value = value[len(self.base_url) + 1 :]
        if "://" in value or value.startswith("urn:"):
            return table.url == value  # type: ignore[no-any-return]
        parts = value.split("/")
        target_type: str | None
        if len(parts) >= 2 and parts[0][:1].isupper():
            target_type, target_id = parts[0], parts[1]
        else:
            target_type, target_id = c.modifier, value
            if target_type is None and len(c.targets) == 1:
                target_type = c.targets[0]
        clause = table.target_id == target_id
        if c.modifier and target_type != c.modifier:
            return false()
        return and_(clause, table.target_type == target_type) if target_type else clause

    # ordering and includes -----------------------------------------------------------

    def _order(self, query: SearchQuery) -> list[Any]:
        keys: list[Any] = []
        for name, kind, desc in query.sort:
            column = self._sort_column(query.res_type, name, kind, desc)
            keys.append(column.desc().nulls_last() if desc else column.asc().nulls_last())
        keys.append(resource_t.c.rid)
        return keys

    def _sort_column(self, res_type: str, name: str, kind: str, desc: bool) -> Any:
        if kind == "_id":
            return resource_t.c.fhir_id
        if kind == "_lastUpdated":
            return resource_t.c.last_updated
        table = INDEX_TABLES[kind]
        column = {
            "string": "value_norm",
            "token": "code",
            "date": "high" if desc else "low",
            "reference": "target_id",
            "number": "value",
            "quantity": "value",
            "uri": "value",
        }[kind]
        agg = func.max if desc else func.min
        return (
            select(agg(getattr(table, column)))
            .where(table.rid == resource_t.c.rid, table.res_type == res_type, table.name == name)
            .scalar_subquery()
        )

    def _included(self, query: SearchQuery, matches: list[Stored]) -> list[Stored]:
        if not matches or not (query.include or query.revinclude):
            return []
        seen = {m.rid for m in matches}
        found: list[Stored] = []
        for spec in query.include:
            found.extend(self._include(spec, [m.rid for m in matches]))
        for spec in query.revinclude:
            found.extend(self._revinclude(spec, query.res_type, [m.fhir_id for m in matches]))
        unique = []
        for item in found:
            if item.rid not in seen:
                seen.add(item.rid)
                unique.append(item)
        return unique

    def _include(self, spec: Include, rids: list[int]) -> list[Stored]:
        r = ReferenceIndex
        stmt = select(r.target_type, r.target_id).where(
            r.rid.in_(rids),
            r.target_id.is_not(None),
            r.target_type.is_not(None),
            r.res_type == spec.source,
        )
        if spec.param != "*":
            stmt = stmt.where(r.name == spec.param)
        if spec.target:
            stmt = stmt.where(r.target_type == spec.target)
        pairs = {(row.target_type, row.target_id) for row in self.session.execute(stmt)}
        if not pairs:
            return []
        targets = or_(
            *(and_(resource_t.c.res_type == t, resource_t.c.fhir_id == i) for t, i in sorted(pairs))
        )
        found = select(resource_t.c.rid).where(targets).order_by(resource_t.c.rid)
        found = self._visible(found, sorted({t for t, _ in pairs}))
        return self.store.by_rids(list(self.session.execute(found).scalars()))

    def _revinclude(self, spec: Include, res_type: str, ids: list[str]) -> list[Stored]:
        r = ReferenceIndex
        stmt = (
            select(r.rid)
            .distinct()
            .where(r.res_type == spec.source, r.target_type == res_type, r.target_id.in_(ids))
        )
        if spec.param != "*":
            stmt = stmt.where(r.name == spec.param)
        found = select(resource_t.c.rid).where(resource_t.c.rid.in_(stmt.scalar_subquery()))
        found = self._visible(found, [spec.source]).order_by(resource_t.c.rid)
        return self.store.by_rids(list(self.session.execute(found).scalars()))


def _instant_clause(column: Any, value: str) -> ColumnElement[bool]:
    """Compare a stored instant (a point, not a range) with a search range."""
    prefix, text = split_prefix(value)
    s_low, s_high = parse_fhir_date_range(text)
    inside = and_(column >= s_low, column < s_high)
    rules: dict[str, ColumnElement[bool]] = {
        "eq": inside,
        "ne": not_(inside),
        "ap": inside,
        "gt": column >= s_high,
        "sa": column >= s_high,
        "lt": column < s_low,
        "eb": column < s_low,
        "ge": column >= s_low,
        "le": column < s_high,
    }
    return rules[prefix]


def _string_clause(table: Any, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier == "exact":
        return table.value_exact == value  # type: ignore[no-any-return]
    norm = normalize_string(value)[:255]
    if modifier == "contains":
        return table.value_norm.contains(norm, autoescape=True)  # type: ignore[no-any-return]
    return and_(table.value_norm >= norm, table.value_norm < norm + TOP)


def _token_clause(table: Any, value: str) -> ColumnElement[bool]:
    system, code = split_pipe(value)
    if system is None:
        return table.code == code  # type: ignore[no-any-return]
    if system == "":
        return and_(table.system.is_(None), table.code == code)
    if code == "":
        return table.system == system  # type: ignore[no-any-return]
    return and_(table.system == system, table.code == code)


def _date_clause(low: Any, high: Any, value: str) -> ColumnElement[bool]:
    """Compare a stored range [low, high) with a search range, by the prefix's rule."""
    prefix, text = split_prefix(value)
    s_low, s_high = parse_fhir_date_range(text)
    contained = and_(low >= s_low, high <= s_high)
    rules: dict[str, ColumnElement[bool]] = {
        "eq": contained,
        "ne": not_(contained),
        "gt": high > s_high,
        "lt": low < s_low,
        "ge": or_(high > s_high, contained),
        "le": or_(low < s_low, contained),
        "sa": low >= s_high,
        "eb": high <= s_low,
        "ap": and_(
            low < s_high + (s_high - s_low) / 10 + timedelta(days=1),
            high > s_low - (s_high - s_low) / 10 - timedelta(days=1),
        ),
    }
    return rules[prefix]


def _number_clause(column: Any, prefix: str, value: Decimal) -> ColumnElement[bool]:
    """Numbers: `eq` means within the precision of the value given (1.5 matches 1.45..1.55)."""
    exponent = value.as_tuple().exponent
    half = Decimal(5).scaleb((exponent if isinstance(exponent, int) else 0) - 1)
    lo, hi, v = float(value - half), float(value + half), float(value)
    rules: dict[str, ColumnElement[bool]] = {
        "eq": and_(column >= lo, column < hi),
        "ne": or_(column < lo, column >= hi),
        "gt": column > v,
        "sa": column > v,
        "lt": column < v,
        "eb": column < v,
        "ge": column >= v,
        "le": column <= v,
        "ap": and_(column >= v - abs(v) * 0.1, column <= v + abs(v) * 0.1),
    }
    return rules[prefix]


def _quantity_clause(table: Any, name: str, value: str) -> ColumnElement[bool]:
    prefix, text = split_prefix(value)
    number, _, rest = text.partition("|")
    clause = _number_clause(table.value, prefix, parse_decimal(number, name))
    if not rest:
        return clause
    system, _, code = rest.partition("|")
    if system:
        clause = and_(clause, table.system == system)
    if code:
        clause = and_(clause, or_(table.code == code, table.unit == code))
    return clause

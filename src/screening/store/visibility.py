"""Which stored resources a principal may see, as SQL conditions and as a single check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, exists, or_, select, true
from sqlalchemy.orm import Session

from screening.store.models import AccessGrant

grant_t = cast(Table, AccessGrant.__table__)


@dataclass(frozen=True)
class Visibility:
    """Readable types, and for a centre-bound principal the centre whose grants bound the
    patient data it sees (directory and conformance resources stay visible)."""

    readable: Callable[[str], bool]
    centre: str | None = None
    open_types: frozenset[str] = frozenset()

    def clause(self, type_col: Any, id_col: Any, types: list[str]) -> ColumnElement[bool]:
        """A condition on (type, id) columns: visible rows only (`types`: those that may
        occur, so the type test can be written as a list)."""
        allowed = [t for t in types if self.readable(t)]
        condition: ColumnElement[bool] = type_col.in_(allowed) if allowed else ~true()
        if self.centre is not None:
            granted = exists().where(
                grant_t.c.organization_id == self.centre,
                grant_t.c.res_type == type_col,
                grant_t.c.fhir_id == id_col,
            )
            condition = and_(condition, or_(type_col.in_(sorted(self.open_types)), granted))
        return condition

    def sees(self, session: Session, res_type: str, fhir_id: str) -> bool:
        """Whether one resource is visible (readable and within reach)."""
        return self.readable(res_type) and self.reaches(session, res_type, fhir_id)

    def reaches(self, session: Session, res_type: str, fhir_id: str) -> bool:
        """Whether one resource is within the principal's reach (a centre's shares; anyone
        else reaches everything), whatever it may do with it."""
        if self.centre is None or res_type in self.open_types:
            return True
        row = session.execute(
            select(grant_t.c.fhir_id).where(
                grant_t.c.organization_id == self.centre,
                grant_t.c.res_type == res_type,
                grant_t.c.fhir_id == fhir_id,
            )
        ).first()
        return row is not None


EVERYTHING = Visibility(readable=lambda _t: True)

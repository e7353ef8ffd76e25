"""Tables of the resource store: current pointer, every version, and the search index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from screening.db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
# Byte-wise ordering so prefix ranges (value >= 'abc' AND value < 'abc\uffff') use the index.
Ordered = String(255).with_variant(String(255, collation="C"), "postgresql")


class ResourceRow(Base):
    """One row per (type, id): which version is current and whether it is deleted."""

    __tablename__ = "resource"
    __table_args__ = (
        UniqueConstraint("res_type", "fhir_id"),
        Index(None, "res_type", "last_updated"),
    )

    rid: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(64))
    fhir_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, server_default=false())


class ResourceVersion(Base):
    """Every version ever written; a delete is a version with no content."""

    __tablename__ = "resource_version"
    __table_args__ = (
        Index(None, "res_type", "last_updated"),
        Index(None, "last_updated"),
    )

    rid: Mapped[int] = mapped_column(
        BigId, ForeignKey("resource.rid", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    res_type: Mapped[str] = mapped_column(String(64))
    fhir_id: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[datetime] = mapped_column(DateTime)
    method: Mapped[str] = mapped_column(String(8))  # POST | PUT | PATCH | DELETE
    content: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)


class IndexRow:
    """Columns every index table shares."""

    rid: Mapped[int] = mapped_column(
        BigId, ForeignKey("resource.rid", ondelete="CASCADE"), index=True
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))


class StringIndex(IndexRow, Base):
    __tablename__ = "idx_string"
    __table_args__ = (Index(None, "res_type", "name", "value_norm"),)
    value_norm: Mapped[str] = mapped_column(Ordered)
    value_exact: Mapped[str] = mapped_column(Text)


class TokenIndex(IndexRow, Base):
    __tablename__ = "idx_token"
    __table_args__ = (Index(None, "res_type", "name", "code", "system"),)
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(255))


class DateIndex(IndexRow, Base):
    __tablename__ = "idx_date"
    __table_args__ = (Index(None, "res_type", "name", "low", "high"),)
    low: Mapped[datetime] = mapped_column(DateTime)
    high: Mapped[datetime] = mapped_column(DateTime)


class ReferenceIndex(IndexRow, Base):
    __tablename__ = "idx_reference"
    __table_args__ = (
        Index(None, "res_type", "name", "target_id", "target_type"),
        Index(None, "target_type", "target_id"),
    )
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(Text)


class QuantityIndex(IndexRow, Base):
    __tablename__ = "idx_quantity"
    __table_args__ = (Index(None, "res_type", "name", "value"),)
    value: Mapped[float] = mapped_column(Float)
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(255))
    unit: Mapped[str | None] = mapped_column(String(255))


class NumberIndex(IndexRow, Base):
    __tablename__ = "idx_number"
    __table_args__ = (Index(None, "res_type", "name", "value"),)
    value: Mapped[float] = mapped_column(Float)


class UriIndex(IndexRow, Base):
    __tablename__ = "idx_uri"
    __table_args__ = (Index(None, "res_type", "name", "value"),)
    value: Mapped[str] = mapped_column(String(2048))


class SearchSnapshot(Base):
    """The ordered result of a search, so paging links stay correct while data changes."""

    __tablename__ = "search_snapshot"
    __table_args__ = (Index(None, "created"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime)
    res_type: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)  # the original query string, for _include etc.
    total: Mapped[int] = mapped_column(Integer)
    rids: Mapped[str] = mapped_column(Text)  # JSON list of resource rids, in result order


INDEX_TABLES: dict[str, type[IndexRow]] = {
    "string": StringIndex,
    "token": TokenIndex,
    "date": DateIndex,
    "reference": ReferenceIndex,
    "quantity": QuantityIndex,
    "number": NumberIndex,
    "uri": UriIndex,
}


def index_table(kind: str) -> Table:
    """The Core Table of one index kind (for fast bulk inserts)."""
    table: Table = getattr(INDEX_TABLES[kind], "__table__")  # noqa: B009
    return table


class AccessGrant(Base):
    """A resource shared with a rehabilitation centre by a referral (ServiceRequest) or its
    Task; centre staff see patient data only through these rows (see store/sharing.py)."""

    __tablename__ = "access_grant"
    __table_args__ = (Index(None, "source_type", "source_id"),)

    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    res_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    fhir_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)

"""Tables of accounts, API clients, server-side sessions and failed logins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from screening.db import Base


class UserAccount(Base):
    """A person who signs in to the pages."""

    __tablename__ = "user_account"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[str | None] = mapped_column(String(64))  # centre staff: the centre
    language: Mapped[str] = mapped_column(String(8), default="en")
    # what a printed letter shows besides the name: professional council or staff number,
    # and a code of the IG CodeSystem health-profession ("" when not given)
    registration: Mapped[str] = mapped_column(String(64), default="", server_default="")
    profession: Mapped[str] = mapped_column(String(32), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    created: Mapped[datetime] = mapped_column(DateTime)


class ApiClient(Base):
    """Another system that calls /fhir with a bearer token."""

    __tablename__ = "api_client"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, hex
    scopes: Mapped[str] = mapped_column(Text)
    organization_id: Mapped[str | None] = mapped_column(String(64))  # a centre's own system
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    created: Mapped[datetime] = mapped_column(DateTime)


class WebSession(Base):
    """A signed-in browser session; the cookie holds a random token, the table its hash."""

    __tablename__ = "web_session"
    __table_args__ = (Index(None, "expires"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime)
    expires: Mapped[datetime] = mapped_column(DateTime)


class LoginFailure(Base):
    """One failed sign-in, for throttling by username and by address."""

    __tablename__ = "login_failure"
    __table_args__ = (Index(None, "username", "at"), Index(None, "address", "at"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)

"""Signing in and out of the pages, each attempt recorded as an AuditEvent. No Flask."""

from __future__ import annotations

from sqlalchemy.orm import Session

from screening.audit.events import Access
from screening.audit.recorder import record
from screening.auth.principal import Kind, Principal
from screening.auth.service import SignIn, sign_in, sign_out, user_principal
from screening.fhir.search_extract import SearchIndexer

FAILED = "wrong username or password, or the account is disabled"
THROTTLED = "too many failed attempts: sign-in refused for 15 minutes"


def attempt(
    session: Session, indexer: SearchIndexer, username: str, password: str, address: str
) -> SignIn:
    """Check a password and open a session; the attempt is audited in the same transaction."""
    result = sign_in(session, username, password, address)
    if result.user is not None:
        principal = user_principal(result.user, address)
        access = Access("operation", operation="login")
    else:
        principal = anonymous(username, address)
        reason = THROTTLED if result.throttled else FAILED
        access = Access("operation", operation="login", outcome="4", reason=reason)
    record(session, indexer, principal, [access])
    return result


def leave(session: Session, indexer: SearchIndexer, principal: Principal, token: str) -> None:
    """End a session; audited."""
    sign_out(session, token)
    record(session, indexer, principal, [Access("operation", operation="logout")])


def anonymous(username: str, address: str) -> Principal:
    """The principal of an attempt that did not sign anyone in: the name typed, as given."""
    name = username.strip().lower()[:64] or "-"
    return Principal(Kind.USER, "-", name, address=address[:64])

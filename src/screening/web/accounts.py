"""The administrator's work on accounts and API clients, audited. No Flask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from screening.audit.events import Access
from screening.audit.recorder import record
from screening.auth.models import ApiClient, UserAccount
from screening.auth.principal import Principal
from screening.auth.professions import set_details
from screening.auth.service import (
    AccountError,
    create_client,
    create_user,
    set_client_active,
    update_user,
)
from screening.fhir.search_extract import SearchIndexer

SELF_LOCKOUT = "You cannot disable your own account or change your own role"


@dataclass
class Accounts:
    """Account and client changes made by one administrator; each one is an AuditEvent."""

    session: Session
    indexer: SearchIndexer
    admin: Principal

    def user(self, user_id: str) -> UserAccount | None:
        """The account with this id, or None."""
        return self.session.get(UserAccount, user_id[:36])

    def client(self, client_id: str) -> ApiClient | None:
        """The client with this id, or None."""
        return self.session.get(ApiClient, client_id[:36])

    def create_user(self, values: dict[str, Any]) -> UserAccount:
        """A new account from the create form's values (registration and profession too)."""
        user = create_user(
            self.session,
            values["username"],
            values["role"],
            values["password"],
            organization=values["organization"] or None,
            full_name=values["full_name"],
            language=values["language"],
        )
        set_details(user, values.get("registration"), values.get("profession"))
        self.session.flush()
        self._audit(f"user-create user:{user.username} role:{user.role}")
        return user

    def update_user(self, user_id: str, **changes: Any) -> UserAccount:
        """Change role, centre, language, state, password, registration number or profession
        (never lock oneself out)."""
        own = user_id == self.admin.ident
        role = changes.get("role")
        if own and (changes.get("active") is False or role not in (None, self.admin.role)):
            raise AccountError(SELF_LOCKOUT)
        details = {key: changes.pop(key, None) for key in ("registration", "profession")}
        user = update_user(self.session, user_id, **changes)
        set_details(user, details["registration"], details["profession"])
        self.session.flush()
        what = ",".join(sorted(k for k, v in {**changes, **details}.items() if v is not None))
        self._audit(f"user-update user:{user.username} {what}")
        return user

    def create_client(
        self, values: dict[str, Any], resource_types: frozenset[str]
    ) -> tuple[ApiClient, str]:
        """A new client and its token (shown once)."""
        client, token = create_client(
            self.session,
            values["name"],
            values["scopes"],
            resource_types,
            values["organization"] or None,
        )
        self._audit(f"client-create client:{client.name}")
        return client, token

    def set_client_active(self, client_id: str, active: bool) -> ApiClient:
        """Revoke or restore a client's token."""
        client = set_client_active(self.session, client_id, active)
        self._audit(f"client-{'restore' if active else 'revoke'} client:{client.name}")
        return client

    def _audit(self, operation: str) -> None:
        """Record the change as an AuditEvent in the same transaction."""
        record(self.session, self.indexer, self.admin, [Access("operation", operation=operation)])

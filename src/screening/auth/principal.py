"""Who is acting: a signed-in user, an API client, or an operator at the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from screening.auth.roles import AUDIT, Role, role_may_print, role_may_read, role_may_write
from screening.auth.scopes import Scope, scopes_allow

READ_ACTIONS = frozenset("rs")


class Kind(StrEnum):
    """The door a principal came through."""

    USER = "user"
    CLIENT = "client"
    CLI = "cli"
    ANONYMOUS = "anonymous"  # a request without valid credentials (audited, then refused)


@dataclass(frozen=True)
class Principal:
    """An authenticated actor and what it is allowed: by role (users) or scopes (clients)."""

    kind: Kind
    ident: str  # user or client id; the operator's login name for the command line
    name: str  # username or client name
    role: Role | None = None
    scopes: tuple[Scope, ...] = ()
    organization: str | None = None  # the centre (Organization id) a principal is bound to
    address: str | None = None  # network address of the request
    language: str = "en"
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def may(self, action: str, res_type: str) -> bool:
        """Whether the principal may take `action` (c r u d s) on resources of a type."""
        if self.kind is Kind.CLIENT:
            return scopes_allow(self.scopes, action, res_type)
        if self.kind is Kind.CLI:
            return action in READ_ACTIONS or res_type not in AUDIT
        if self.kind is Kind.ANONYMOUS:
            return False
        if self.role is None:
            return False
        if action in READ_ACTIONS:
            return role_may_read(self.role, res_type)
        return role_may_write(self.role, res_type)

    def may_print(self) -> bool:
        """Whether the principal may print or export letters."""
        if self.kind is Kind.USER:
            return self.role is not None and role_may_print(self.role)
        return True

    @property
    def centre(self) -> str | None:
        """The centre whose shared records bound what this principal sees (None: all)."""
        if self.kind is Kind.USER and self.role is Role.CENTRE_STAFF:
            return self.organization or "-"  # a centre user with no centre sees nothing
        if self.kind is Kind.CLIENT:
            return self.organization
        return None

    @property
    def label(self) -> str:
        """How the audit trail names this principal."""
        return f"{self.kind.value}:{self.name}"


def operator(name: str) -> Principal:
    """The principal of a command run by someone logged in to the server machine."""
    return Principal(Kind.CLI, name, name)

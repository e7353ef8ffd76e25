"""SMART-style system scopes of API clients: `system/Patient.read`, `system/*.write`,
and the SMART v2 form `system/Observation.rs` (c create, r read, u update, d delete,
s search).

`*` as the type stands for every type except AuditEvent: reading the audit trail needs a
scope that names it (`system/AuditEvent.read`), and nobody can write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ACTIONS = "cruds"
V1 = {"read": "rs", "write": "cud", "*": ACTIONS}
SCOPE = re.compile(r"system/(\*|[A-Z][A-Za-z]{1,63})\.(read|write|\*|c?r?u?d?s?)")


class ScopeError(ValueError):
    """A scope string that is not a system scope this server understands."""


@dataclass(frozen=True)
class Scope:
    """One granted scope: a resource type (or `*`) and the actions it allows."""

    res_type: str
    actions: frozenset[str]

    def allows(self, action: str, res_type: str) -> bool:
        """Whether this scope allows `action` (one of c r u d s) on `res_type`."""
        if action not in self.actions:
            return False
        if self.res_type == "*":
            return res_type != "AuditEvent"
        return self.res_type == res_type


def parse_scopes(text: str, resource_types: frozenset[str] | None = None) -> tuple[Scope, ...]:
    """The scopes of a space-separated scope string; ScopeError names the first bad one."""
    found = []
    for word in text.split():
        match = SCOPE.fullmatch(word)
        if match is None or not match.group(2):
            raise ScopeError(f"'{word[:80]}' is not a system scope such as system/Patient.read")
        res_type, action = match.groups()
        if resource_types is not None and res_type != "*" and res_type not in resource_types:
            raise ScopeError(f"'{word[:80]}' names an unknown resource type")
        found.append(Scope(res_type, frozenset(V1.get(action, action))))
    if not found:
        raise ScopeError("At least one scope is needed")
    return tuple(found)


def scopes_allow(scopes: tuple[Scope, ...], action: str, res_type: str) -> bool:
    """Whether any scope allows `action` on `res_type`."""
    return any(scope.allows(action, res_type) for scope in scopes)


def scope_text(scopes: tuple[Scope, ...]) -> str:
    """The scopes written back as SMART v2 strings."""
    return " ".join(
        f"system/{s.res_type}.{''.join(a for a in ACTIONS if a in s.actions)}" for s in scopes
    )

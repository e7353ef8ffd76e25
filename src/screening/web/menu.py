"""What each role can do on the pages: the home page's list and the navigation links."""

from __future__ import annotations

from dataclasses import dataclass

from screening.auth.roles import Role


@dataclass(frozen=True)
class MenuItem:
    """One thing a role can do: a message key, and the page's endpoint once it exists."""

    label: str
    hint: str
    endpoint: str | None = None


_PATIENTS = MenuItem("menu.patients", "menu.patients_hint", "patients.search")
_SCREEN = MenuItem("menu.screen", "menu.screen_hint", "patients.search")  # screen a person found
_REFER = MenuItem("menu.refer", "menu.refer_hint", "referrals.listing")
_LETTERS = MenuItem("menu.letters", "menu.letters_hint", "letters.importing")
MENU: dict[Role, tuple[MenuItem, ...]] = {
    Role.SCREENER: (_PATIENTS, _SCREEN),
    Role.CLINICIAN: (_PATIENTS, _SCREEN, _REFER, _LETTERS),
    Role.CENTRE_STAFF: (
        MenuItem("menu.incoming", "menu.incoming_hint", "referrals.listing"),
        _LETTERS,
    ),
    Role.ADMINISTRATOR: (
        MenuItem("menu.users", "menu.users_hint", "admin.users"),
        MenuItem("menu.clients", "menu.clients_hint", "admin.clients"),
        MenuItem("directory.menu", "directory.menu_hint", "directory.centres"),
    ),
    Role.AUDITOR: (MenuItem("menu.audit", "menu.audit_hint", "audit.events"),),
}


def menu(role: Role) -> tuple[MenuItem, ...]:
    """Everything the role can do, with or without a page yet."""
    return MENU[role]


def nav_items(role: Role) -> list[MenuItem]:
    """The navigation links of the role: the items that have a page (one link per page)."""
    found: dict[str, MenuItem] = {}
    for item in MENU[role]:
        if item.endpoint and item.endpoint not in found:
            found[item.endpoint] = item
    return list(found.values())

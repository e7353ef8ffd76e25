"""Accounts, API clients and sign-in: the services behind the CLI, the pages and the API."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from screening.auth.models import ApiClient, LoginFailure, UserAccount, WebSession
from screening.auth.passwords import hash_password, password_problem, verify_password
from screening.auth.principal import Kind, Principal
from screening.auth.roles import Role, centre_bound
from screening.auth.scopes import parse_scopes, scope_text
from screening.db import transaction
from screening.store.clock import utcnow

USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
TOKEN_PREFIX = "scr_"
MAX_FAILURES = 5  # per username, and per address x 4, within the window
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=8)
SESSION_MAX = timedelta(hours=12)
SESSION_TOUCH = timedelta(minutes=1)  # how stale the idle timer may get before a write
LANGUAGES = ("fa", "en")
SESSION_COOKIE = "screening_session"  # HttpOnly, Secure, SameSite=Lax; see screening.web
CSRF_HEADER = "X-CSRF-Token"  # unsafe /fhir requests made with a session cookie carry it


class AccountError(ValueError):
    """A request about accounts or clients that cannot be carried out (the text says why)."""


def token_hash(token: str) -> str:
    """SHA-256 of a random token (tokens have 256 bits of entropy: no salt or stretching)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- users


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str,
    *,
    organization: str | None = None,
    full_name: str = "",
    language: str = "en",
) -> UserAccount:
    """A new active user; AccountError when a rule is broken."""
    username = username.strip().lower()
    if not 3 <= len(username) <= 64 or not set(username) <= USERNAME_CHARS:
        raise AccountError("A username has 3 to 64 of the characters a-z 0-9 . _ -")
    the_role = _role(role)
    if centre_bound(the_role) and not organization:
        raise AccountError("Centre staff need --organization: the id of their centre")
    if not centre_bound(the_role) and organization:
        raise AccountError("Only centre staff belong to a centre")
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    if language not in LANGUAGES:
        raise AccountError(f"Language must be one of {', '.join(LANGUAGES)}")
    if find_user(session, username) is not None:
        raise AccountError(f"The username '{username}' is taken")
    user = UserAccount(
        id=str(uuid.uuid4()),
        username=username,
        full_name=full_name.strip()[:200],
        password_hash=hash_password(password),
        role=the_role.value,
        organization_id=organization,
        language=language,
        active=True,
        created=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str) -> UserAccount | None:
    """The user with this username (any letter case), or None."""
    name = username.strip().lower()
    return session.execute(select(UserAccount).where(UserAccount.username == name)).scalar()


def list_users(session: Session) -> list[UserAccount]:
    """Every user, by username."""
    return list(session.execute(select(UserAccount).order_by(UserAccount.username)).scalars())


def update_user(
    session: Session,
    user_id: str,
    *,
    role: str | None = None,
    organization: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    language: str | None = None,
) -> UserAccount:
    """Change a user's role, centre, state, password or language; ends their sessions when
    the role, centre, state or password changes."""
    user = session.get(UserAccount, user_id)
    if user is None:
        raise AccountError("No such user")
    the_role = _role(role) if role is not None else Role(user.role)
    centre = organization if organization is not None else user.organization_id
    centre = centre or None
    if centre_bound(the_role) != bool(centre):
        raise AccountError("Centre staff, and only they, belong to a centre")
    if password is not None:
        problem = password_problem(password)
        if problem:
            raise AccountError(problem)
        user.password_hash = hash_password(password)
    if language is not None:
        if language not in LANGUAGES:
            raise AccountError(f"Language must be one of {', '.join(LANGUAGES)}")
        user.language = language
    changed = (the_role.value, centre) != (user.role, user.organization_id)
    changed = changed or password is not None or (active is not None and active != user.active)
    user.role, user.organization_id = the_role.value, centre
    if active is not None:
        user.active = active
    if changed:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    return user


def user_principal(user: UserAccount, address: str | None) -> Principal:
    """The principal of a signed-in user."""
    return Principal(
        Kind.USER,
        user.id,
        user.username,
        role=Role(user.role),
        organization=user.organization_id,
        address=address,
        language=user.language,
    )


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise AccountError(f"Unknown role '{text[:40]}'; roles: {names}") from None


# ---------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class SignIn:
    """The result of a sign-in attempt."""

    user: UserAccount | None
    session_token: str | None = None
    throttled: bool = False


def sign_in(session: Session, username: str, password: str, address: str) -> SignIn:
    """Check a password (throttled per username and per address); open a session."""
    now = utcnow()
    name = username.strip().lower()[:64]
    if _throttled(session, name, address[:64], now):
        return SignIn(None, throttled=True)
    user = find_user(session, name)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        session.add(LoginFailure(username=name, address=address[:64], at=now))
        session.flush()
        return SignIn(None)
    session.execute(delete(LoginFailure).where(LoginFailure.username == name))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
            expires=now + SESSION_MAX,
        )
    )
    session.execute(delete(WebSession).where(WebSession.expires < now))
    session.flush()
    return SignIn(user, token)


def _throttled(session: Session, username: str, address: str, now: datetime) -> bool:
    since = now - FAILURE_WINDOW
    by_name = session.execute(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.username == username, LoginFailure.at >= since)
    ).scalar_one()
    by_address = session.execute(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.address == address, LoginFailure.at >= since)
    ).scalar_one()
    return by_name >= MAX_FAILURES or by_address >= MAX_FAILURES * 4


def session_user(session: Session, token: str) -> tuple[UserAccount, WebSession] | None:
    """The active user and session of a session cookie (reads only)."""
    row = session.get(WebSession, token_hash(token))
    now = utcnow()
    if row is None or row.expires < now or row.last_seen + SESSION_IDLE < now:
        return None
    user = session.get(UserAccount, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user of a request, copied out of the database session."""

    user: UserAccount
    principal: Principal
    csrf_token: str


def signed_in(sessions: sessionmaker[Session], token: str, address: str | None) -> SignedIn | None:
    """The user of a session cookie, for the pages and for /fhir alike. The idle timer is
    refreshed (a write) only when it is a minute old, so most requests only read."""
    if not token or len(token) > 200:
        return None
    with transaction(sessions, write=False) as session:
        found = session_user(session, token)
        if found is None:
            return None
        user, row = found
        stale = utcnow() - row.last_seen > SESSION_TOUCH
        result = SignedIn(user, user_principal(user, address), row.csrf_token)
    if stale:
        with transaction(sessions, write=True) as session:
            session.execute(
                update(WebSession)
                .where(WebSession.token_hash == token_hash(token))
                .values(last_seen=utcnow())
            )
    return result


def sign_out(session: Session, token: str) -> None:
    """End the session of a cookie."""
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def csrf_ok(expected: str, given: str | None) -> bool:
    """Whether a request's CSRF token is the session's."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


# ---------------------------------------------------------------------------- clients


def create_client(
    session: Session,
    name: str,
    scopes: str,
    resource_types: frozenset[str],
    organization: str | None = None,
) -> tuple[ApiClient, str]:
    """A new API client and its bearer token (returned once; only its hash is stored)."""
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise AccountError("A client name has 1 to 100 printable characters")
    try:
        parsed = parse_scopes(scopes, resource_types)
    except ValueError as error:
        raise AccountError(str(error)) from None
    taken = session.execute(select(ApiClient).where(ApiClient.name == name)).scalar()
    if taken is not None:
        raise AccountError(f"A client named '{name}' exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        id=str(uuid.uuid4()),
        name=name,
        token_hash=token_hash(token),
        scopes=scope_text(parsed),
        organization_id=organization,
        active=True,
        created=utcnow(),
    )
    session.add(client)
    session.flush()
    return client, token


def list_clients(session: Session) -> list[ApiClient]:
    """Every API client, by name."""
    return list(session.execute(select(ApiClient).order_by(ApiClient.name)).scalars())


def set_client_active(session: Session, client_id: str, active: bool) -> ApiClient:
    """Revoke (or restore) a client's token."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise AccountError("No such client")
    client.active = active
    session.flush()
    return client


def bearer_principal(session: Session, token: str, address: str | None) -> Principal | None:
    """The principal of an active client's bearer token, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    client = session.execute(
        select(ApiClient).where(ApiClient.token_hash == token_hash(token))
    ).scalar()
    if client is None or not client.active:
        return None
    return Principal(
        Kind.CLIENT,
        client.id,
        client.name,
        scopes=parse_scopes(client.scopes),
        organization=client.organization_id,
        address=address,
    )

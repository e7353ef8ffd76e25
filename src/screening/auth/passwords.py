"""Password hashing with Argon2id (argon2-cffi, RFC 9106 low-memory parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

_hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
MIN_LENGTH = 10
# A well-formed hash of a random password, verified when the user does not exist so that
# a wrong username costs as much time as a wrong password.
_DUMMY = _hasher.hash("no such user: a long random password 8f3a")


def hash_password(password: str) -> str:
    """The Argon2id hash of a password (salted; parameters stored in the hash)."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash (constant work when there is none)."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the hash was made with older parameters."""
    return _hasher.check_needs_rehash(stored)


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"A password needs at least {MIN_LENGTH} characters"
    if len(password) > 1024:
        return "A password may have at most 1024 characters"
    if password.strip() != password or not password.isprintable():
        return "A password must not start or end with spaces or hold control characters"
    return None

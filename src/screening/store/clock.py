"""Time as the store records it: naive UTC datetimes, FHIR instants on the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (the form every DateTime column holds)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_instant(value: datetime) -> str:
    """A FHIR instant for a naive UTC datetime."""
    return value.isoformat(timespec="microseconds") + "Z"

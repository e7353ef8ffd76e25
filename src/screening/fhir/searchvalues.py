"""Values that a resource contributes to the search index, one kind per parameter type.

Dates are ranges of naive UTC datetimes, half-open: [low, high).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class StringValue:
    value: str  # as in the resource; the store keeps a normalised copy too


@dataclass(frozen=True)
class TokenValue:
    system: str | None
    code: str | None


@dataclass(frozen=True)
class DateValue:
    low: datetime
    high: datetime


@dataclass(frozen=True)
class ReferenceValue:
    target_type: str | None  # "Patient" for "Patient/1" or ".../fhir/Patient/1"
    target_id: str | None
    url: str | None  # the reference text for absolute URLs and canonicals, else None


@dataclass(frozen=True)
class QuantityValue:
    value: Decimal
    system: str | None
    code: str | None
    unit: str | None


@dataclass(frozen=True)
class NumberValue:
    value: Decimal


@dataclass(frozen=True)
class UriValue:
    value: str


IndexValue = (
    StringValue | TokenValue | DateValue | ReferenceValue | QuantityValue | NumberValue | UriValue
)

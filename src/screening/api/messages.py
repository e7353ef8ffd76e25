"""Requests and responses of the FHIR interactions, independent of the web framework.

The HTTP view and the Bundle processor both build a FhirRequest and get a FhirResponse,
so a transaction entry behaves exactly like the same request sent on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from screening.fhir.outcome import FhirError


@dataclass
class FhirRequest:
    """One interaction: method, path below the base, query pairs, body and headers."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    if_match: str | None = None
    if_none_exist: str | None = None
    prefer_return: str = "representation"
    prefer_strict: bool = False
    query_string: str = ""
    body_error: FhirError | None = None  # raised on first use, after routing succeeded

    def payload(self) -> Any:
        """The parsed body; raises the parse error only now, so routing errors come first."""
        if self.body_error is not None:
            raise self.body_error
        return self.body

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.strip("/").split("/") if s]


@dataclass
class FhirResponse:
    """What the interaction produced; the view turns it into HTTP."""

    status: int
    body: dict[str, Any] | None = None
    location: str | None = None
    etag: str | None = None
    last_modified: datetime | None = None
    outcome: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

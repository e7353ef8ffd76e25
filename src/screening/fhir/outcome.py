"""OperationOutcome issues and the errors that carry them to the HTTP boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: severity, code, diagnostics and FHIRPath location."""

    severity: str  # fatal | error | warning | information
    code: str  # IssueType code: invalid, structure, required, value, not-found, ...
    diagnostics: str
    expression: str | None = None

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue

    @property
    def is_error(self) -> bool:
        return self.severity in ("error", "fatal")


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource for the issues (an `informational` one if none)."""
    if not issues:
        issues = [Issue("information", "informational", "No issues detected.")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


class FhirError(Exception):
    """An error the API turns into an OperationOutcome with its HTTP status."""

    status = 400
    code = "invalid"

    def __init__(
        self, diagnostics: str, *, expression: str | None = None, issues: list[Issue] | None = None
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.issues = issues or [Issue("error", self.code, diagnostics, expression)]

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


class BadRequest(FhirError):
    status = 400


class Unauthorized(FhirError):
    status = 401
    code = "login"


class Forbidden(FhirError):
    status = 403
    code = "forbidden"


class NotFound(FhirError):
    status = 404
    code = "not-found"


class MethodNotAllowed(FhirError):
    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class Conflict(FhirError):
    status = 409
    code = "conflict"


class Gone(FhirError):
    status = 410
    code = "deleted"


class PreconditionFailed(FhirError):
    status = 412
    code = "conflict"


class PayloadTooLarge(FhirError):
    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    code = "not-supported"


class Unprocessable(FhirError):
    status = 422
    code = "processing"

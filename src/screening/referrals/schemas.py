"""The referral form and the step form of the referral pages (marshmallow). No Flask.

Errors are message keys shown next to their field. The receiving centre is one field per
service (`centre.<service>`), checked against the centres that offer the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from marshmallow import fields, validate

from screening.referrals.directory import SERVICES
from screening.referrals.workflow import REASON_REQUIRED, TRANSITIONS
from screening.screenings.suggestions import RULE_CODES
from screening.web.calendar import DateEntryError, parse_date
from screening.web.forms import FormErrors, PageForm, choice_field, parse_form, text_field
from screening.web.i18n import Message

PRIORITIES = ("routine", "urgent", "asap")
REASONS = (*RULE_CODES, "clinical-judgement")  # the referral-reason CodeSystem
CONSENT_BY = ("patient", "guardian")
BUSINESS = ("waiting-list", "scheduled", "rescheduled", "attended", "did-not-attend")
TASK_STATUSES = tuple(sorted({s for pair in TRANSITIONS for s in pair}))
MULTIPLE = ("service", "reason")
CONTROL = "referrals.error.characters"


def _many(values: tuple[str, ...]) -> fields.List[Any]:
    return fields.List(
        fields.String(validate=validate.OneOf(values, error="error.choice")),
        load_default=list,
        error_messages={"invalid": "error.invalid"},
    )


class ReferralForm(PageForm):
    """What the clinician confirms (the centres are checked apart)."""

    service = _many(tuple(SERVICES))
    priority = choice_field(PRIORITIES)
    reason = _many(REASONS)
    reason_text = text_field(2000, required=True, control_error=CONTROL, multiline=True)
    consent = choice_field(("yes",), required=False)
    consent_by = choice_field(CONSENT_BY)
    guardian_name = text_field(200, control_error=CONTROL)
    sensitive = choice_field(("yes",), required=False)


@dataclass(frozen=True)
class ReferralValues:
    """The checked referral form."""

    legs: tuple[tuple[str, str], ...]  # (service, centre id)
    priority: str
    reasons: tuple[str, ...]
    reason_text: str
    consent_by: str
    guardian_name: str
    sensitive: bool


def read_referral(
    posted: Mapping[str, Sequence[str]], offered: Mapping[str, set[str]]
) -> tuple[ReferralValues | None, FormErrors]:
    """The referral form's values, or errors by field; `offered` maps each service to the
    ids of the centres that may receive it."""
    data = {k: list(v) if k in MULTIPLE else (v[0] if v else "") for k, v in posted.items()}
    loaded, errors = parse_form(ReferralForm(), data)
    services = [s for s in SERVICES if s in (loaded.get("service") or [])]
    if not services:
        errors["service"] = Message("referrals.error.service")
    legs = []
    for service in services:
        centre = (posted.get(f"centre.{service}") or [""])[0].strip()
        if centre not in offered.get(service, set()):
            errors[f"centre.{service}"] = Message("referrals.error.centre")
        legs.append((service, centre))
    if loaded and loaded.get("consent") != "yes":
        errors["consent"] = Message("referrals.error.consent")
    if loaded.get("consent_by") == "guardian" and not loaded.get("guardian_name"):
        errors["guardian_name"] = Message("error.required")
    if errors:
        return None, errors
    return (
        ReferralValues(
            legs=tuple(legs),
            priority=loaded["priority"],
            reasons=tuple(r for r in REASONS if r in loaded["reason"]),
            reason_text=loaded["reason_text"],
            consent_by=loaded["consent_by"],
            guardian_name=loaded.get("guardian_name", ""),
            sensitive=loaded.get("sensitive") == "yes",
        ),
        {},
    )


class StepForm(PageForm):
    """A step on a referral: a status and what goes with it."""

    version = fields.Integer(
        required=True,
        validate=validate.Range(min=1, error="error.invalid"),
        error_messages={"required": "error.invalid", "invalid": "error.invalid"},
    )
    status = choice_field(TASK_STATUSES)
    reason = text_field(500, control_error=CONTROL)
    business_status = choice_field(BUSINESS, required=False)
    appointment = text_field(40)
    feedback = text_field(2000, control_error=CONTROL, multiline=True)
    note = text_field(1000, control_error=CONTROL)


@dataclass(frozen=True)
class StepValues:
    """The checked step form."""

    version: int
    status: str
    reason: str
    business_status: str
    appointment: date | None
    feedback: str
    note: str


def read_step(
    posted: Mapping[str, str], lang: str, today: date
) -> tuple[StepValues | None, FormErrors]:
    """The step form's values, or errors by field."""
    loaded, errors = parse_form(StepForm(), posted)
    appointment = None
    if loaded.get("appointment"):
        try:
            appointment = parse_date(loaded["appointment"], lang)
        except DateEntryError:
            errors["appointment"] = Message("error.date")
        else:
            if appointment < today:
                errors["appointment"] = Message("referrals.error.past_appointment")
    if loaded.get("status") in REASON_REQUIRED and not loaded.get("reason"):
        errors["reason"] = Message("referrals.error.reason")
    if errors:
        return None, errors
    return (
        StepValues(
            version=loaded["version"],
            status=loaded["status"],
            reason=loaded.get("reason", ""),
            business_status=loaded.get("business_status", ""),
            appointment=appointment,
            feedback=loaded.get("feedback", ""),
            note=loaded.get("note", ""),
        ),
        {},
    )

"""The centre form and the list filters of the directory pages (marshmallow). No Flask.

Errors are message keys (`directory.error.*`, `error.*`) shown next to their field. Digits
may be typed in Persian or Arabic-Indic; they are kept Latin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields, validate

from screening.patients.provinces import PROVINCES
from screening.referrals.directory import CENTRE_CODE, DAYS, SERVICES, CentreValues
from screening.web.calendar import latin_digits
from screening.web.forms import (
    FormErrors,
    PageForm,
    choice_field,
    is_phone,
    parse_form,
    text_field,
)

PROVINCE_CODES = tuple(p.code for p in PROVINCES)
FIELDS = (
    "code",
    "name_en",
    "name_fa",
    "province",
    "district",
    "city",
    "line",
    "phone",
    "services",
    "days",
    "latitude",
    "longitude",
)
MULTIPLE = ("services", "days")


class _Code(fields.String):
    """A centre code such as HER-01 (upper case)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        code = latin_digits(str(super()._deserialize(value, attr, data))).upper().replace(" ", "")
        if not CENTRE_CODE.match(code):
            raise ValidationError("directory.error.code_format")
        return code


class _Phone(fields.String):
    """A phone number: 6 to 15 digits, an optional leading +, spaces ( ) -."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = " ".join(latin_digits(str(super()._deserialize(value, attr, data))).split())
        if not is_phone(text):
            raise ValidationError("directory.error.phone_format")
        return text


class _Coordinate(fields.String):
    """A latitude or longitude in decimal degrees within `limit`."""

    def __init__(self, limit: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.limit = limit

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = latin_digits(str(super()._deserialize(value, attr, data))).replace("٫", ".")
        try:
            number = Decimal(text.strip())
        except InvalidOperation as error:
            raise ValidationError("directory.error.coordinate") from error
        if not number.is_finite() or abs(number) > self.limit or len(text) > 20:
            raise ValidationError("directory.error.coordinate")
        return number


def _many(values: tuple[str, ...], error: str) -> fields.List:  # type: ignore[type-arg]
    """Several of `values` (at least one)."""
    return fields.List(
        fields.String(validate=validate.OneOf(values, error="error.choice")),
        required=True,
        validate=validate.Length(min=1, error=error),
        error_messages={"required": error, "invalid": "error.invalid"},
    )


class CentreForm(PageForm):
    """A centre's details. The IG's `rehab-centre-location` requires a position, so the
    coordinates are required."""

    code = _Code(required=True, error_messages={"required": "error.required"})
    name_en = text_field(200, required=True, control_error="directory.error.characters")
    name_fa = text_field(200, required=True, control_error="directory.error.characters")
    province = choice_field(PROVINCE_CODES)
    district = text_field(100, control_error="directory.error.characters")
    city = text_field(100, control_error="directory.error.characters")
    line = text_field(200, control_error="directory.error.characters")
    phone = _Phone(load_default="", error_messages={"invalid": "error.invalid"})
    services = _many(tuple(SERVICES), "directory.error.services")
    days = _many(DAYS, "directory.error.days")
    latitude = _Coordinate(90, required=True, error_messages={"required": "error.required"})
    longitude = _Coordinate(180, required=True, error_messages={"required": "error.required"})
    version = fields.Integer(load_default=None, validate=validate.Range(min=1))


@dataclass(frozen=True)
class Posted:
    """A checked form: the values (None when there are errors), the errors, and the version
    the form was loaded from."""

    values: CentreValues | None
    errors: FormErrors
    version: int | None = None


def form_data(form: Any) -> dict[str, Any]:
    """The posted fields (a MultiDict), the repeatable ones as lists."""
    data: dict[str, Any] = {k: form.get(k) for k in form if k not in MULTIPLE}
    data.update({k: form.getlist(k) for k in MULTIPLE if form.getlist(k)})
    return data


def read_form(data: Mapping[str, Any]) -> Posted:
    """Check a posted create or edit form."""
    loaded, errors = parse_form(CentreForm(), data)
    if errors:
        return Posted(None, errors)
    services = tuple(s for s in SERVICES if s in loaded["services"])
    days = tuple(d for d in DAYS if d in loaded["days"])
    text = {k: str(loaded.get(k) or "") for k in FIELDS[:8]}
    values = CentreValues(
        code=text["code"],
        name_en=text["name_en"],
        name_fa=text["name_fa"],
        province=text["province"],
        district=text["district"],
        city=text["city"],
        line=text["line"],
        phone=text["phone"],
        services=services,
        days=days,
        latitude=loaded["latitude"],
        longitude=loaded["longitude"],
    )
    return Posted(values, {}, loaded.get("version"))


def form_values(values: CentreValues) -> dict[str, Any]:
    """What the form's fields show for stored values."""
    shown: dict[str, Any] = {k: str(getattr(values, k) or "") for k in FIELDS[:8]}
    shown["services"] = list(values.services)
    shown["days"] = list(values.days)
    shown["latitude"] = "" if values.latitude is None else str(values.latitude)
    shown["longitude"] = "" if values.longitude is None else str(values.longitude)
    return shown


def kept_values(form: Any) -> dict[str, Any]:
    """What the user typed, to show again with the errors (never the CSRF token)."""
    kept: dict[str, Any] = {
        k: str(form.get(k, ""))[:300] for k in (*FIELDS, "version") if k not in MULTIPLE
    }
    kept.update({k: [str(v)[:64] for v in form.getlist(k)][:10] for k in MULTIPLE})
    return kept


def filters(args: Mapping[str, Any]) -> tuple[str, str]:
    """The list's province and service filters (unknown values are ignored)."""
    province = str(args.get("province", ""))
    service = str(args.get("service", ""))
    return (
        province if province in PROVINCE_CODES else "",
        service if service in SERVICES else "",
    )

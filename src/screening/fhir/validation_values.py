"""Value rules of the validator: fixed and pattern values, bounds, bindings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from screening.fhir.datetimes import parse_fhir_date_range
from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry
from screening.fhir.terminology import Terminology

ANSWER_LIMIT = 8192
BINDING_SEVERITY = {"required": "error", "extensible": "warning", "preferred": "information"}
STRING_TYPES = frozenset(
    {"string", "code", "id", "markdown", "uri", "url", "canonical", "oid", "uuid"}
)
DATE_TYPES = frozenset({"date", "dateTime", "instant"})


# fixed and pattern -----------------------------------------------------------------------


def _prefixed(definition: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in definition.items():
        if key.startswith(prefix) and key[len(prefix) :][:1].isupper():
            return key, value
    return None


def check_fixed(
    definition: dict[str, Any], value: Any, path: str, found: tuple[str, Any] | None = None
) -> list[Issue]:
    """The value must equal fixed[x] exactly (`found`: the fixed[x] entry, if known)."""
    found = found or _prefixed(definition, "fixed")
    if found is None or value is None or _equal(found[1], value):
        return []
    text = f"Value is {_show(value)} but must be {_show(found[1])}"
    return [Issue("error", "value", text, path)]


def check_pattern(
    definition: dict[str, Any], value: Any, path: str, found: tuple[str, Any] | None = None
) -> list[Issue]:
    """The value must contain everything pattern[x] holds (`found`: the entry, if known)."""
    found = found or _prefixed(definition, "pattern")
    if found is None or value is None or matches_pattern(value, found[1]):
        return []
    text = f"The value {_show(value)} does not match the pattern {_show(found[1])} required here"
    return [Issue("error", "value", text, path)]


def matches_pattern(value: Any, pattern: Any) -> bool:
    """Pattern matching as in ElementDefinition.pattern[x]: objects and lists by inclusion."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches_pattern(value[key], sub) for key, sub in pattern.items()
        )
    if isinstance(pattern, list):
        values = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(v, p) for v in values) for p in pattern)
    return _equal(pattern, value)


def values_equal(expected: Any, value: Any) -> bool:
    """JSON equality, with numbers compared by value (1 == 1.0)."""
    return _equal(expected, value)


def _equal(expected: Any, value: Any) -> bool:
    """JSON equality, with numbers compared by value (1 == 1.0)."""
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
        return Decimal(str(expected)) == Decimal(str(value))
    if isinstance(expected, dict) and isinstance(value, dict):
        return expected.keys() == value.keys() and all(
            _equal(expected[k], value[k]) for k in expected
        )
    if isinstance(expected, list) and isinstance(value, list):
        return len(expected) == len(value) and all(
            _equal(a, b) for a, b in zip(expected, value, strict=True)
        )
    return bool(expected == value)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


# bounds ----------------------------------------------------------------------------------


def check_bounds(
    definition: dict[str, Any], value: Any, type_code: str | None, path: str
) -> list[Issue]:
    """minValue[x], maxValue[x] and maxLength."""
    issues: list[Issue] = []
    max_length = definition.get("maxLength")
    if isinstance(max_length, int) and isinstance(value, str) and len(value) > max_length:
        text = f"The value is longer than the maximum length of {max_length} characters"
        issues.append(Issue("error", "value", text, path))
    for prefix, below in (("minValue", True), ("maxValue", False)):
        found = _prefixed(definition, prefix)
        if found is None:
            continue
        if found[0].endswith("Duration") and type_code in DATE_TYPES:
            issues.extend(_duration_bound(found[1], value, below, path))
            continue
        outside = _outside(found[1], value, type_code, below)
        if outside:
            word = "less than the specified minimum" if below else "more than the specified maximum"
            text = (
                f"The value in the instance ({_plain(value)}) is {word} value ({_plain(found[1])})"
            )
            issues.append(Issue("error", "value", text, path))
    return issues


def _duration_bound(limit: Any, value: Any, below: bool, path: str) -> list[Issue]:
    """minValueDuration / maxValueDuration on a date: at most that long before / after now."""
    seconds = ucum_seconds(limit)
    if seconds is None or not isinstance(value, str):
        return []
    try:
        low, high = parse_fhir_date_range(value)
    except ValueError:
        return []
    now = datetime.now(UTC).replace(tzinfo=None)
    shown = f"{_plain(limit)}"
    if below and high <= now - timedelta(seconds=float(seconds)):
        text = f"The date/time value '{value}' is not legal: minValue is {shown} before now"
        return [Issue("error", "invalid", text, path)]
    if not below and low > now + timedelta(seconds=float(seconds)):
        text = f"The date/time value '{value}' is not legal: maxValue is {shown} after now"
        return [Issue("error", "invalid", text, path)]
    return []


def _outside(limit: Any, value: Any, type_code: str | None, below: bool) -> bool:
    """True when value is below (or above) the limit; False when not comparable."""
    left, right = _comparable(value, type_code), _comparable(limit, type_code)
    if left is None or right is None:
        return False
    if isinstance(left, tuple) and isinstance(right, tuple):
        pair = _same_unit(value, limit) if left[1] != right[1] else (left[0], right[0])
        if pair is None:
            return False  # quantities in units that cannot be compared here
        return bool(pair[0] < pair[1]) if below else bool(pair[0] > pair[1])
    if isinstance(left, tuple) or isinstance(right, tuple):
        return False
    try:
        return bool(left < right) if below else bool(left > right)
    except TypeError:
        return False


def _same_unit(value: dict[str, Any], limit: dict[str, Any]) -> tuple[Decimal, Decimal] | None:
    """Two UCUM quantities converted to their common base unit, when both convert."""
    left, right = ucum_canonical(value), ucum_canonical(limit)
    if left is None or right is None or left[1] != right[1]:
        return None
    return left[0], right[0]


def _comparable(value: Any, type_code: str | None) -> Any:
    """A value in a comparable form: Decimal, datetime, (Decimal, unit) or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if isinstance(value, dict) and "value" in value:
        number = _comparable(value["value"], None)
        unit = value.get("code") or value.get("unit")
        return (number, unit) if number is not None else None
    if isinstance(value, str) and type_code in DATE_TYPES | {None}:
        try:
            return parse_fhir_date_range(value)[0]
        except ValueError:
            return None
    if isinstance(value, str) and type_code == "time":
        return value
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


# UCUM -------------------------------------------------------------------------------------

UCUM = "http://unitsofmeasure.org"
_PREFIXES = {
    "Y": 24, "Z": 21, "E": 18, "P": 15, "T": 12, "G": 9, "M": 6, "k": 3, "h": 2, "da": 1,
    "d": -1, "c": -2, "m": -3, "u": -6, "n": -9, "p": -12, "f": -15, "a": -18, "z": -21,
    "y": -24,
}  # fmt: skip
_METRIC = {"g": "g", "m": "m", "L": "L", "l": "L", "s": "s", "mol": "mol", "Pa": "Pa", "eq": "eq"}
_TIME = {
    "s": Decimal(1),
    "min": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "wk": Decimal(604800),
    "mo": Decimal("2629800"),  # mean Julian month
    "a": Decimal(31557600),  # Julian year
}


def ucum_canonical(quantity: Any) -> tuple[Decimal, str] | None:
    """A UCUM quantity as (value, base unit) for prefixed metric units and units of time."""
    if not isinstance(quantity, dict) or quantity.get("system") not in (UCUM, None):
        return None
    code = quantity.get("code") or quantity.get("unit")
    number = _comparable(quantity.get("value"), None)
    if not isinstance(code, str) or not isinstance(number, Decimal):
        return None
    if code in _TIME:
        return number * _TIME[code], "s"
    if code in _METRIC:
        return number, _METRIC[code]
    for prefix, power in _PREFIXES.items():
        rest = code[len(prefix) :]
        if code.startswith(prefix) and rest in _METRIC:
            return number.scaleb(power), _METRIC[rest]
    return None


def ucum_seconds(quantity: Any) -> Decimal | None:
    """A UCUM duration in seconds (None if it is not one)."""
    found = ucum_canonical(quantity)
    return found[0] if found is not None and found[1] == "s" else None


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('value')} {value.get('code') or value.get('unit') or ''}".strip()
    return str(value)


# bindings --------------------------------------------------------------------------------


class BindingChecker:
    """Checks coded values against an element's binding, by the binding's strength."""

    def __init__(self, terminology: Terminology, registry: Registry) -> None:
        self.terminology = terminology
        self.registry = registry
        self._answers: dict[tuple[Any, ...], tuple[Issue, ...]] = {}

    def check(
        self, binding: dict[str, Any], value: Any, type_code: str, path: str, element: str
    ) -> list[Issue]:
        """Issues for one value of a bound element (none for example bindings); the answer
        for a (binding, type, value) is worked out once and placed at each path."""
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        key = (binding.get("strength"), binding.get("valueSet"), type_code, text)
        found = self._answers.get(key)
        if found is None:
            found = tuple(self._check(binding, value, type_code, "~", element))
            if len(self._answers) >= ANSWER_LIMIT:
                self._answers.clear()
            self._answers[key] = found
        return [Issue(i.severity, i.code, i.diagnostics, path) for i in found]

    def _check(
        self, binding: dict[str, Any], value: Any, type_code: str, path: str, element: str
    ) -> list[Issue]:
        """`check` without the memo."""
        strength = binding.get("strength")
        valueset = binding.get("valueSet")
        severity = BINDING_SEVERITY.get(str(strength))
        if severity is None or not isinstance(valueset, str):
            return []
        codings = _codings(value, type_code)
        if codings is None:
            return []
        if self.registry.get(valueset) is None:
            text = f"The ValueSet {valueset} is not known, so the code cannot be checked"
            return [Issue("warning", "not-found", text, path)]
        if not codings:
            if strength != "required":
                return []
            text = f"No code provided, and a code is required from the value set {valueset}"
            return [Issue("error", "code-invalid", text, path)]
        return self._judge(codings, valueset, str(strength), severity, path)

    def _judge(
        self,
        codings: list[tuple[str | None, str, str | None]],
        valueset: str,
        strength: str,
        severity: str,
        path: str,
    ) -> list[Issue]:
        unknown: list[str] = []
        for system, code, display in codings:
            result = self.terminology.validate_code(valueset, system, code, display)
            if result.valid:
                if result.display_ok is False:
                    return [Issue("warning", "code-invalid", result.message, path)]
                return []
            if result.valid is None:
                unknown.append(result.message)
        if unknown:
            text = f"The code cannot be checked against {valueset} offline: {unknown[0]}"
            return [Issue("information", "not-supported", text, path)]
        shown = ", ".join(f"{s}#{c}" if s else c for s, c, _ in codings)
        text = (
            f"The value provided ({shown}) is not in the value set {valueset} ({strength} binding)"
        )
        issues = [Issue(severity, "code-invalid", text, path)]
        if strength == "required" and len(codings) == 1 and codings[0][0] is None:
            issues[:0] = self._no_system(codings[0][1], valueset, path)
        return issues

    def _no_system(self, code: str, valueset: str, path: str) -> list[Issue]:
        """A bare code no code system of the value set defines: its system is unknowable."""
        vs = self.registry.get(valueset) or {}
        includes = (vs.get("compose") or {}).get("include") or []
        systems = [i.get("system") for i in includes if isinstance(i, dict)]
        for system in systems:
            if isinstance(system, str) and self.terminology.check_coding(system, code).valid:
                return []
        text = (
            f"The System URI could not be determined for the code '{code}'"
            f" in the ValueSet '{valueset}'"
        )
        return [Issue("error", "not-found", text, path)]

    def check_coding(self, value: Any, path: str) -> list[Issue]:
        """A Coding's code must exist in its CodeSystem when that system is available."""
        if not isinstance(value, dict):
            return []
        system, code = value.get("system"), value.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return []
        display = value.get("display") if isinstance(value.get("display"), str) else None
        result = self.terminology.check_coding(system, code, display)
        if result.valid is False:
            return [Issue("error", "code-invalid", result.message, path)]
        if result.valid and result.display_ok is False:
            return [Issue("warning", "code-invalid", result.message, path)]
        return []


def _codings(value: Any, type_code: str) -> list[tuple[str | None, str, str | None]] | None:
    """The (system, code, display) triples a value carries; None if the type is not coded."""
    if type_code in STRING_TYPES:
        return [(None, value, None)] if isinstance(value, str) else None
    if not isinstance(value, dict):
        return None
    if type_code == "Coding":
        return [_triple(value)] if isinstance(value.get("code"), str) else []
    if type_code == "CodeableConcept":
        found = value.get("coding")
        codings: list[Any] = found if isinstance(found, list) else []
        return [
            _triple(c) for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)
        ]
    if type_code == "Quantity" and isinstance(value.get("code"), str):
        return [(value.get("system"), value["code"], None)]
    return None


def _triple(coding: dict[str, Any]) -> tuple[str | None, str, str | None]:
    system = coding.get("system") if isinstance(coding.get("system"), str) else None
    display = coding.get("display") if isinstance(coding.get("display"), str) else None
    return system, coding["code"], display

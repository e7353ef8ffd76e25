"""Value rules of the validator: fixed and pattern values, bounds, bindings."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from screening.fhir.datetimes import parse_fhir_date_range
from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry
from screening.fhir.terminology import Terminology

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


def check_fixed(definition: dict[str, Any], value: Any, path: str) -> list[Issue]:
    """The value must equal fixed[x] exactly."""
    found = _prefixed(definition, "fixed")
    if found is None or value is None or _equal(found[1], value):
        return []
    text = f"Value is {_show(value)} but must be {_show(found[1])}"
    return [Issue("error", "value", text, path)]


def check_pattern(definition: dict[str, Any], value: Any, path: str) -> list[Issue]:
    """The value must contain everything pattern[x] holds."""
    found = _prefixed(definition, "pattern")
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
        outside = _outside(found[1], value, type_code, below)
        if outside:
            word = "less than the specified minimum" if below else "more than the specified maximum"
            text = (
                f"The value in the instance ({_plain(value)}) is {word} value ({_plain(found[1])})"
            )
            issues.append(Issue("error", "value", text, path))
    return issues


def _outside(limit: Any, value: Any, type_code: str | None, below: bool) -> bool:
    """True when value is below (or above) the limit; False when not comparable."""
    left, right = _comparable(value, type_code), _comparable(limit, type_code)
    if left is None or right is None:
        return False
    if isinstance(left, tuple) and isinstance(right, tuple) and left[1] != right[1]:
        return False  # quantities in different units: not compared here
    if isinstance(left, tuple) and isinstance(right, tuple):
        return bool(left[0] < right[0]) if below else bool(left[0] > right[0])
    try:
        return bool(left < right) if below else bool(left > right)
    except TypeError:
        return False


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

    def check(
        self, binding: dict[str, Any], value: Any, type_code: str, path: str, element: str
    ) -> list[Issue]:
        """Issues for one value of a bound element (none for example bindings)."""
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
        return [Issue(severity, "code-invalid", text, path)]

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

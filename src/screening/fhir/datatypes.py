"""Names of the FHIR R4 primitive datatypes, and choice-element suffixes to type codes."""

from __future__ import annotations

PRIMITIVE_TYPES = frozenset(
    {
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
        "xhtml",
    }
)


def choice_type(suffix: str) -> str:
    """The type code a choice key's suffix names: `DateTime` -> `dateTime`, `Quantity` stays."""
    lowered = suffix[:1].lower() + suffix[1:]
    return lowered if lowered in PRIMITIVE_TYPES else suffix

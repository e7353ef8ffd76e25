"""Rules of the validator that no StructureDefinition states: the spec's prose rules.

* value rules by type: an Attachment's `size` and `hash` must match its `data`; narrative
  XHTML may only use the XML entities (there is no DTD in FHIR JSON);
* unknown extensions: allowed (as information) only for the example domains the Java
  validator accepts;
* ImplementationGuide.global: the profiles every resource of a type must conform to;
* per resource type: a StructureDefinition's differential must produce a snapshot, a
  derived SearchParameter must keep its parent's type and base.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import TYPE_CHECKING, Any

from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry

if TYPE_CHECKING:
    from screening.fhir.validator import Validator

XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
UNKNOWN_EXTENSION_OK = ("example.org", "acme.com", "nema.org")
TOOLS_EXTENSIONS = "http://hl7.org/fhir/tools/StructureDefinition/"


def extension_allowed_unknown(url: str) -> bool:
    """Whether an extension without a definition is tolerated (example domains)."""
    return any(d in url for d in UNKNOWN_EXTENSION_OK) or url.startswith(TOOLS_EXTENSIONS)


def global_profiles(registry: Registry) -> dict[str, tuple[str, ...]]:
    """ImplementationGuide.global: profile URLs by resource type, from every loaded IG."""
    found: dict[str, list[str]] = {}
    for guide in _guides(registry):
        for entry in guide.get("global", []) or []:
            if isinstance(entry, dict):
                kind, profile = entry.get("type"), entry.get("profile")
                if isinstance(kind, str) and isinstance(profile, str):
                    found.setdefault(kind, []).append(profile)
    return {k: tuple(dict.fromkeys(v)) for k, v in found.items()}


def _guides(registry: Registry) -> list[dict[str, Any]]:
    """Every loaded ImplementationGuide."""
    return list(registry.all_of("ImplementationGuide"))


# value rules --------------------------------------------------------------------------------


def check_value(type_code: str, value: Any, path: str) -> list[Issue]:
    """The prose rules of some datatypes, on one value."""
    if type_code == "Attachment" and isinstance(value, dict):
        return _attachment(value, path)
    if type_code == "xhtml" and isinstance(value, str):
        return _entities(value, path)
    return []


def _attachment(value: dict[str, Any], path: str) -> list[Issue]:
    """An Attachment's stated size and hash must be those of its data."""
    data = value.get("data")
    if not isinstance(data, str):
        return []
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return []  # the structural layer reports a malformed base64Binary
    issues: list[Issue] = []
    size = value.get("size")
    if type(size) is int and size != len(raw):
        text = f"Stated Attachment Size {size:,} does not match actual attachment size {len(raw):,}"
        issues.append(Issue("error", "structure", text, path))
    stated = value.get("hash")
    if isinstance(stated, str):
        actual = base64.b64encode(hashlib.sha1(raw).digest()).decode()
        if stated != actual:
            text = f"Stated Attachment Hash {stated} does not match actual attachment hash {actual}"
            issues.append(Issue("error", "structure", text, path))
    return issues


def _entities(xhtml: str, path: str) -> list[Issue]:
    """Named entities other than XML's five are not XHTML without a DTD."""
    for match in _ENTITY.finditer(xhtml):
        if match.group(1) not in XML_ENTITIES:
            text = f"Invalid entity in the XHTML ('{match.group(0)}')"
            return [Issue("error", "invalid", text, path)]
    return []


# resource rules -----------------------------------------------------------------------------


def check_special(validator: Validator, resource: dict[str, Any], path: str) -> list[Issue]:
    """Rules for particular resource types."""
    check = _RESOURCE_RULES.get(str(resource.get("resourceType")))
    return check(validator, resource, path) if check is not None else []


BINDABLE = frozenset(
    {
        "code",
        "Coding",
        "CodeableConcept",
        "Quantity",
        "string",
        "uri",
        "Duration",
        "CodeableReference",
    }
)


def _structure_definition(validator: Validator, sd: dict[str, Any], path: str) -> list[Issue]:
    """A profile's differential must give a snapshot, element by element, in order."""
    differential = (sd.get("differential") or {}).get("element")
    if not isinstance(differential, list) or not differential:
        return []
    issues = _binding_relevance(differential, path)
    base = sd.get("baseDefinition")
    if not isinstance(base, str) or base == sd.get("url") or validator.registry.get(base) is None:
        text = (
            f"Unable to find base {base} for StructureDefinition, so can't check the differential"
        )
        return [*issues, Issue("warning", "not-found", text, path)]
    try:
        generated = validator.snapshots.generate(sd)
    except (ValueError, KeyError, TypeError, IndexError) as error:
        text = f"Error generating Snapshot: {error}"
        return [*issues, Issue("error", "exception", text, path)]
    snapshot = (generated.get("snapshot") or {}).get("element") or []
    return issues + _unmatched(sd, differential, snapshot, path)


def _binding_relevance(differential: list[Any], path: str) -> list[Issue]:
    """A binding on an element whose types cannot carry codes constrains nothing."""
    issues: list[Issue] = []
    for index, element in enumerate(differential):
        if not isinstance(element, dict) or "binding" not in element:
            continue
        codes = [t.get("code") for t in element.get("type", []) if isinstance(t, dict)]
        if codes and not any(c in BINDABLE or ":" in str(c) for c in codes):
            text = (
                f"This element has a Binding but the types {_list(codes)} do not make this"
                " kind of constraint relevant"
            )
            issues.append(
                Issue("error", "business-rule", text, f"{path}.differential.element[{index}]")
            )
    return issues


def _unmatched(
    sd: dict[str, Any], differential: list[Any], snapshot: list[Any], path: str
) -> list[Issue]:
    """Differential elements the snapshot walk does not reach in their order."""
    wanted = [e.get("id") or e.get("path") if isinstance(e, dict) else None for e in differential]
    matched: set[int] = set()
    cursor = 0
    for element in snapshot:
        key = element.get("id") or element.get("path")
        for index in range(cursor, len(wanted)):
            if wanted[index] == key:
                matched.add(index)
                cursor = index + 1
                break
    issues: list[Issue] = []
    missing = [i for i in range(len(wanted)) if i not in matched and wanted[i]]
    for index in missing:
        text = (
            f"No match found for {differential[index].get('path')} in the generated snapshot:"
            " check that the path and definitions are legal in the differential (including order)"
        )
        issues.append(Issue("error", "value", text, f"{path}.differential.element[{index}]"))
    if missing:
        ids = ", ".join(str(wanted[i]) for i in missing)
        text = (
            f"The profile {sd.get('url')} has {len(missing)} element in the differential"
            f" (id: {ids}) that don't have a matching element in the snapshot"
        )
        issues.append(Issue("error", "value", text, path))
    return issues


def _list(codes: list[Any]) -> str:
    """`[a, b]` as the Java validator writes lists."""
    return "[" + ", ".join(str(c) for c in codes) + "]"


_RESOURCE_RULES: dict[str, Any] = {"StructureDefinition": _structure_definition}

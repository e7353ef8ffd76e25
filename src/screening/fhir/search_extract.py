"""Search-index values of a FHIR resource, driven by the core SearchParameter definitions.

Each parameter's FHIRPath expression is split into its union branches; the branches that
apply to the resource type being indexed are compiled once.  Plain paths (with `as`, `ofType`,
`where(resolve() is X)`, `where(field='literal')` and `extension('url')`) become walkers over
the JSON keys, typed by the StructureDefinitions; anything else is evaluated by fhirpathpy.
The typed leaves are then turned into index values by the rules of FHIR R4 search.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models

from screening.fhir.datatypes import choice_type
from screening.fhir.datetimes import MAX_DATETIME, MIN_DATETIME, parse_fhir_date_range
from screening.fhir.packages import Registry, Resource
from screening.fhir.searchvalues import (
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)

SUPPORTED_TYPES = frozenset({"string", "token", "date", "reference", "quantity", "number", "uri"})
STORE_COLUMNS = frozenset({"_id", "_lastUpdated"})  # the store keeps these in columns

Converter = Callable[[Any], list[IndexValue]]
Predicate = Callable[[Any], bool]

_URI_TYPES = frozenset({"uri", "url", "canonical", "oid", "uuid"})
_TEXT_TYPES = _URI_TYPES | {"string", "markdown", "code", "id"}
_QUANTITY_TYPES = frozenset(
    {"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"}
)
_NESTED_TYPES = frozenset({"BackboneElement", "Element"})
_ISO_4217 = "urn:iso:std:iso:4217"
_ID = r"[A-Za-z0-9\-.]{1,64}"
_RELATIVE_REF = re.compile(rf"(?P<type>[A-Z][A-Za-z]+)/(?P<id>{_ID})(?:/_history/{_ID})?")
_ABSOLUTE_REF = re.compile(
    rf"[a-z][a-z0-9+.\-]*://[^\s]*?/(?P<type>[A-Z][A-Za-z]+)/(?P<id>{_ID})(?:/_history/{_ID})?"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\((?P<arg>.*)\)", re.DOTALL)
_AS_GROUP = re.compile(r"(?P<path>.+) as (?P<type>[A-Za-z]+)", re.DOTALL)
_RESOLVE_IS = re.compile(r"resolve\(\) is (?P<type>[A-Z][A-Za-z]+)")
_FIELD_EQUALS = re.compile(r"(?P<field>[a-z][A-Za-z]*) ?= ?'(?P<value>[^'\\]*)'")
_QUOTED = re.compile(r"'(?P<value>[^'\\]*)'")


@dataclass(frozen=True)
class SearchParam:
    """A search parameter as it applies to one resource type, with its compiled branches."""

    code: str
    type: str
    url: str
    expression: str
    targets: tuple[str, ...]
    branches: tuple[_Branch, ...] = field(compare=False, repr=False)


# ---------------------------------------------------------------- value conversion


def _nonempty(value: Any) -> str | None:
    """`value` if it is a non-empty string, else None."""
    return value if type(value) is str and value else None


def _optional_text(value: Any) -> str | None:
    """`value` if it is a string, else None."""
    return value if type(value) is str else None


def _decimal(value: Any) -> Decimal | None:
    """A finite JSON number as an exact Decimal, else None."""
    if type(value) is not int and type(value) is not float:
        return None
    try:
        number = Decimal(str(value))
    except ValueError:  # an int too long for str()
        return None
    return number if number.is_finite() else None


def _items(value: Any) -> list[Any]:
    """A JSON value that may be repeated, as a list."""
    return value if type(value) is list else [value]


def _texts(node: dict[str, Any], keys: tuple[str, ...]) -> Iterator[str]:
    """Non-empty strings under `keys` of `node`, single or repeated."""
    for key in keys:
        for value in _items(node.get(key)):
            text = _nonempty(value)
            if text is not None:
                yield text


def _string_leaves(value: Any) -> list[str]:
    """Every non-empty string inside a JSON value, depth-first, without recursion."""
    found: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is str:
            if node:
                found.append(node)
        elif type(node) is dict:
            stack.extend(reversed([v for k, v in node.items() if k != "url"]))
        elif type(node) is list:
            stack.extend(reversed(node))
    return found


def _string_values(texts: Iterable[str]) -> list[IndexValue]:
    """StringValues for `texts`."""
    return [StringValue(text) for text in texts]


def _str_primitive(value: Any) -> list[IndexValue]:
    """A string-like primitive for a string parameter."""
    return [StringValue(value)] if type(value) is str and value else []


def _str_human_name(value: Any) -> list[IndexValue]:
    """HumanName parts, each on its own."""
    if type(value) is not dict:
        return []
    return _string_values(_texts(value, ("text", "family", "given", "prefix", "suffix")))


def _str_address(value: Any) -> list[IndexValue]:
    """Address parts, each on its own."""
    if type(value) is not dict:
        return []
    keys = ("text", "line", "city", "district", "state", "postalCode", "country")
    return _string_values(_texts(value, keys))


def _str_complex(value: Any) -> list[IndexValue]:
    """The string leaves of any other complex value."""
    return _string_values(_string_leaves(value)) if type(value) is dict else []


def _token_text(value: Any) -> list[IndexValue]:
    """A code/string/uri as a token without a system."""
    return [TokenValue(None, value)] if type(value) is str and value else []


def _token_boolean(value: Any) -> list[IndexValue]:
    """A boolean as the token `true` or `false`."""
    if type(value) is not bool:
        return []
    return [TokenValue(None, "true" if value else "false")]


def _token_coding(value: Any) -> list[IndexValue]:
    """A Coding as (system, code)."""
    if type(value) is not dict:
        return []
    code = _nonempty(value.get("code"))
    return [TokenValue(_nonempty(value.get("system")), code)] if code is not None else []


def _token_concept(value: Any) -> list[IndexValue]:
    """Each coding of a CodeableConcept."""
    if type(value) is not dict:
        return []
    codings = value.get("coding")
    if type(codings) is not list:
        return []
    return [token for coding in codings for token in _token_coding(coding)]


def _token_identifier(value: Any) -> list[IndexValue]:
    """An Identifier as (system, value)."""
    if type(value) is not dict:
        return []
    text = _nonempty(value.get("value"))
    return [TokenValue(_nonempty(value.get("system")), text)] if text is not None else []


def _token_contact(value: Any) -> list[IndexValue]:
    """A ContactPoint as its value, without a system."""
    return _token_text(value.get("value")) if type(value) is dict else []


def _date_range(value: Any) -> tuple[datetime, datetime] | None:
    """The range a date/dateTime/instant string covers, or None if it is not one."""
    if type(value) is not str:
        return None
    try:
        span: tuple[datetime, datetime] = parse_fhir_date_range(value)
    except ValueError:
        return None
    return span


def _period_range(value: Any) -> tuple[datetime, datetime] | None:
    """A Period from the start of its start to the end of its end, open ends unbounded."""
    if type(value) is not dict or ("start" not in value and "end" not in value):
        return None
    start = _date_range(value["start"]) if "start" in value else (MIN_DATETIME, MIN_DATETIME)
    end = _date_range(value["end"]) if "end" in value else (MAX_DATETIME, MAX_DATETIME)
    if start is None or end is None or start[0] >= end[1]:
        return None
    return start[0], end[1]


def _timing_range(value: Any) -> tuple[datetime, datetime] | None:
    """A Timing as the span from its first to its last event, bounds period included."""
    if type(value) is not dict:
        return None
    spans = [_date_range(event) for event in _items(value.get("event"))]
    repeat = value.get("repeat")
    if type(repeat) is dict:
        spans.append(_period_range(repeat.get("boundsPeriod")))
    known = [span for span in spans if span is not None]
    if not known:
        return None
    return min(low for low, _ in known), max(high for _, high in known)


def _dates(ranger: Callable[[Any], tuple[datetime, datetime] | None]) -> Converter:
    """A date converter from a function giving the range of a value."""

    def convert(value: Any) -> list[IndexValue]:
        """A DateValue for the range of `value`, if it has one."""
        span = ranger(value)
        return [DateValue(*span)] if span is not None else []

    return convert


def _quantity(value: Any) -> list[IndexValue]:
    """A Quantity (or Age, Duration, ...) with a numeric value."""
    if type(value) is not dict:
        return []
    number = _decimal(value.get("value"))
    if number is None:
        return []
    system, code = _optional_text(value.get("system")), _optional_text(value.get("code"))
    return [QuantityValue(number, system, code, _optional_text(value.get("unit")))]


def _quantity_money(value: Any) -> list[IndexValue]:
    """Money as a quantity whose code is the ISO 4217 currency."""
    if type(value) is not dict:
        return []
    number = _decimal(value.get("value"))
    if number is None:
        return []
    currency = _optional_text(value.get("currency"))
    return [QuantityValue(number, _ISO_4217 if currency else None, currency, None)]


def _quantity_range(value: Any) -> list[IndexValue]:
    """The low and the high quantity of a Range, each on its own."""
    if type(value) is not dict:
        return []
    return _quantity(value.get("low")) + _quantity(value.get("high"))


def _number(value: Any) -> list[IndexValue]:
    """An integer or decimal."""
    number = _decimal(value)
    return [NumberValue(number)] if number is not None else []


def _uri(value: Any) -> list[IndexValue]:
    """A uri/url/canonical string."""
    return [UriValue(value)] if type(value) is str and value else []


def _reference_canonical(value: Any) -> list[IndexValue]:
    """A canonical or uri used as a reference: the URL only."""
    return [ReferenceValue(None, None, value)] if type(value) is str and value else []


class _Converters:
    """Converters from a typed FHIR value to index values, per parameter type and FHIR type."""

    def __init__(self, resource_types: frozenset[str]) -> None:
        self._resource_types = resource_types
        self.tables: dict[str, dict[str, Converter]] = {
            "string": self._string_table(),
            "token": self._token_table(),
            "date": {
                **dict.fromkeys(("date", "dateTime", "instant"), _dates(_date_range)),
                "Period": _dates(_period_range),
                "Timing": _dates(_timing_range),
            },
            "reference": {
                **dict.fromkeys(_URI_TYPES, _reference_canonical),
                "Reference": self._reference,
                "Resource": self._reference_resource,
            },
            "quantity": {
                **dict.fromkeys(_QUANTITY_TYPES, _quantity),
                "Money": _quantity_money,
                "Range": _quantity_range,
            },
            "number": dict.fromkeys(("integer", "decimal", "positiveInt", "unsignedInt"), _number),
            "uri": dict.fromkeys(_URI_TYPES, _uri),
        }
        for param_type, table in self.tables.items():
            table["Extension"] = self._extension_converter(param_type)

    @staticmethod
    def _string_table() -> dict[str, Converter]:
        """Converters for string parameters."""
        table: dict[str, Converter] = dict.fromkeys(_TEXT_TYPES, _str_primitive)
        table.update({"HumanName": _str_human_name, "Address": _str_address})
        return table

    @staticmethod
    def _token_table() -> dict[str, Converter]:
        """Converters for token parameters."""
        table: dict[str, Converter] = dict.fromkeys(_TEXT_TYPES, _token_text)
        table.update(
            {
                "boolean": _token_boolean,
                "Coding": _token_coding,
                "CodeableConcept": _token_concept,
                "Identifier": _token_identifier,
                "ContactPoint": _token_contact,
            }
        )
        return table

    def converter(self, param_type: str, fhir_type: str) -> Converter | None:
        """The converter for values of `fhir_type` in a parameter of `param_type`."""
        if fhir_type in self._resource_types:
            fhir_type = "Resource"
        found = self.tables[param_type].get(fhir_type)
        if found is None and param_type == "string" and fhir_type[:1].isupper():
            return _str_complex  # other complex types: their string leaves
        return found

    def _extension_converter(self, param_type: str) -> Converter:
        """A converter that indexes an Extension's value[x] as a `param_type` parameter."""

        def convert(value: Any) -> list[IndexValue]:
            """The index values of the extension's value[x]."""
            if type(value) is not dict:
                return []
            for key, inner in value.items():
                if key.startswith("value") and len(key) > 5:
                    inner_converter = self.converter(param_type, choice_type(key[5:]))
                    return inner_converter(inner) if inner_converter is not None else []
            return []

        return convert

    def _reference(self, value: Any) -> list[IndexValue]:
        """A Reference by its `reference` text; identifier-only references give nothing."""
        if type(value) is not dict:
            return []
        parsed = self.parse_reference(value.get("reference"))
        return [parsed] if parsed is not None else []

    def _reference_resource(self, value: Any) -> list[IndexValue]:
        """An inline resource (e.g. a Bundle's first entry) as a reference to its type and id."""
        if type(value) is not dict:
            return []
        resource_type, resource_id = value.get("resourceType"), value.get("id")
        if resource_type not in self._resource_types or not _is_id(resource_id):
            return []
        return [ReferenceValue(resource_type, resource_id, None)]

    def parse_reference(self, text: Any) -> ReferenceValue | None:
        """A reference string as (type, id, url); None for contained or malformed references."""
        if type(text) is not str or not text or text[0] == "#":
            return None
        match = _RELATIVE_REF.fullmatch(text)
        if match is not None:
            if match["type"] not in self._resource_types:
                return None
            return ReferenceValue(match["type"], match["id"], None)
        if text.startswith("urn:"):
            return ReferenceValue(None, None, text)
        match = _ABSOLUTE_REF.fullmatch(text)
        if match is not None and match["type"] in self._resource_types:
            return ReferenceValue(match["type"], match["id"], text)
        return ReferenceValue(None, None, text) if "://" in text else None


def _is_id(value: Any) -> bool:
    """Whether `value` is a valid FHIR id."""
    return type(value) is str and re.fullmatch(_ID, value) is not None


def _reference_type(value: Any) -> str | None:
    """The resource type a Reference points at, if its text says so."""
    if type(value) is not dict:
        return None
    text = value.get("reference")
    if type(text) is not str:
        return None
    match = _RELATIVE_REF.fullmatch(text) or _ABSOLUTE_REF.fullmatch(text)
    return match["type"] if match is not None else None


# ---------------------------------------------------------------- element model


@dataclass(frozen=True, slots=True)
class _Element:
    """The types of one element definition, or the element it reuses."""

    types: tuple[str, ...]
    content_reference: str | None


@dataclass(frozen=True, slots=True)
class _Typed:
    """One way to read a step: its JSON key, FHIR type, and where its children are defined."""

    key: str
    fhir_type: str
    definition: str  # StructureDefinition name whose elements describe the children
    path: str  # element path of the children's parent in that definition


class _Model:
    """Element definitions of the core types, read from their StructureDefinitions."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._elements: dict[str, dict[str, _Element]] = {}

    def root(self, type_name: str) -> _Typed | None:
        """The root of a resource or data type."""
        base = self._base_path(type_name)
        return _Typed("", type_name, type_name, base) if base is not None else None

    def children(self, parent: _Typed, name: str) -> list[_Typed]:
        """The typed JSON keys of element `name` under `parent` (several for a choice)."""
        elements = self._elements_of(parent.definition)
        path = f"{parent.path}.{name}"
        element = elements.get(path)
        if element is not None:
            return [self._typed(parent.definition, path, name, t, element) for t in element.types]
        element = elements.get(path + "[x]")
        if element is None:
            return []
        return [
            self._typed(parent.definition, path, name + t[0].upper() + t[1:], t, element)
            for t in element.types
        ]

    def _typed(
        self, definition: str, path: str, key: str, fhir_type: str, element: _Element
    ) -> _Typed:
        """A typed key, its children looked up in the same definition when nested."""
        if element.content_reference is not None:
            return _Typed(key, "BackboneElement", definition, element.content_reference)
        if fhir_type in _NESTED_TYPES:
            return _Typed(key, "BackboneElement", definition, path)
        return _Typed(key, fhir_type, fhir_type, self._base_path(fhir_type) or fhir_type)

    def _base_path(self, type_name: str) -> str | None:
        """The path its definition's elements start with (`Quantity` for SimpleQuantity)."""
        definition = self._registry.structure_definition(type_name)
        return str(definition["type"]) if definition is not None else None

    def _elements_of(self, type_name: str) -> dict[str, _Element]:
        """Element definitions of a type's snapshot, by path."""
        cached = self._elements.get(type_name)
        if cached is None:
            definition = self._registry.structure_definition(type_name) or {}
            snapshot = definition.get("snapshot", {}).get("element", [])
            cached = {e["path"]: _element(e) for e in snapshot}
            self._elements[type_name] = cached
        return cached


def _element(definition: dict[str, Any]) -> _Element:
    """The types of an ElementDefinition."""
    reference = definition.get("contentReference")
    if reference:
        return _Element(("BackboneElement",), reference[1:])
    return _Element(tuple(_type_code(t) for t in definition.get("type", [])), None)


def _type_code(type_ref: dict[str, Any]) -> str:
    """An ElementDefinition.type code, with FHIRPath system types named as FHIR primitives."""
    code: str = type_ref["code"]
    if not code.startswith("http://hl7.org/fhirpath/System."):
        return code
    for extension in type_ref.get("extension", []):
        if extension.get("url", "").endswith("structuredefinition-fhir-type"):
            return str(extension["valueUrl"])
    return _system_type(code)


def _system_type(path: str) -> str:
    """The FHIR primitive named by a FHIRPath system type (`System.DateTime` -> `dateTime`)."""
    name = path.rsplit(".", 1)[1]
    return name[:1].lower() + name[1:]


# ---------------------------------------------------------------- expressions


def _split_top(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses, brackets and quotes."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            start = index + len(separator)
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _closing_paren(text: str) -> int:
    """Index of the parenthesis closing the one that opens `text`, or -1."""
    depth, quoted = 0, False
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _unwrap_as(branch: str) -> str:
    """Rewrite `(path as T)rest` as `path.as(T)rest`, and drop redundant outer parentheses."""
    while branch.startswith("("):
        end = _closing_paren(branch)
        if end <= 0:
            return branch
        inner, rest = branch[1:end].strip(), branch[end + 1 :]
        match = _AS_GROUP.fullmatch(inner)
        branch = f"{match['path']}.as({match['type']}){rest}" if match else inner + rest
    return branch


def branch_root(branch: str) -> str | None:
    """The type a union branch starts from (`Observation`), or None for a relative path."""
    first = _split_top(_unwrap_as(branch), ".")[0]
    return first if first[:1].isupper() and _IDENTIFIER.fullmatch(first) else None


def applicable_branches(expression: str, resource_type: str) -> list[str]:
    """The union branches of `expression` that apply to `resource_type`, rooted at that type.

    `(X.value as T)` becomes `X.value.as(T)`; `Resource.meta.tag` becomes `Patient.meta.tag`.
    """
    kept = []
    for branch in _split_top(expression, "|"):
        root = branch_root(branch)
        path = _unwrap_as(branch)
        if root is None or root == resource_type:
            kept.append(path)
        elif root in ("Resource", "DomainResource"):
            kept.append(resource_type + path[len(root) :])
    return kept


@dataclass(frozen=True, slots=True)
class _Step:
    """Read `key` of every dict, keep the values that pass `where`."""

    key: str
    where: Predicate | None


@dataclass(frozen=True, slots=True)
class _Walker:
    """A compiled path: middle steps, then final keys each with its converter."""

    steps: tuple[_Step, ...]
    last: tuple[tuple[str, Converter], ...]
    where: Predicate | None

    @property
    def first_key(self) -> str:
        """The key of the resource this walk starts with."""
        return self.steps[0].key if self.steps else self.last[0][0]

    def run(self, resource: Resource) -> list[IndexValue]:
        """Index values this path yields for `resource`."""
        items: list[Any] = [resource]
        for step in self.steps:
            items = _read(items, step.key, step.where)
        out: list[IndexValue] = []
        where = self.where
        for item in items:
            if type(item) is not dict:
                continue
            for key, convert in self.last:
                value = item.get(key)
                if value is None:
                    continue
                for element in value if type(value) is list else (value,):
                    if where is None or where(element):
                        out += convert(element)
        return out


def _read(items: list[Any], key: str, where: Predicate | None) -> list[Any]:
    """The values under `key` of each dict in `items` that pass `where`."""
    found: list[Any] = []
    for item in items:
        if type(item) is not dict:
            continue
        value = item.get(key)
        if type(value) is list:
            found += value
        elif value is not None:
            found.append(value)
    return found if where is None else [value for value in found if where(value)]


@dataclass
class _Draft:
    """A path being compiled: steps so far, each a list of typed keys and a filter."""

    steps: list[tuple[list[_Typed], Predicate | None]]

    def current(self) -> list[_Typed]:
        """The typed keys of the last step."""
        return self.steps[-1][0]

    def filter(self, where: Predicate) -> bool:
        """Add `where` to the last step (only one filter per step)."""
        keys, existing = self.steps[-1]
        if existing is not None:
            return False
        self.steps[-1] = (keys, where)
        return True


def _field_equals(name: str, expected: str) -> Predicate:
    """A filter keeping dicts whose `name` equals `expected`."""
    return lambda value: type(value) is dict and value.get(name) == expected


def _references(resource_type: str) -> Predicate:
    """A filter keeping References that point at `resource_type`."""
    return lambda value: _reference_type(value) == resource_type


def _where(condition: str) -> Predicate | None:
    """The native filter for a `where(...)` condition, if it is a supported shape."""
    match = _RESOLVE_IS.fullmatch(condition)
    if match is not None:
        return _references(match["type"])
    match = _FIELD_EQUALS.fullmatch(condition)
    return _field_equals(match["field"], match["value"]) if match is not None else None


class _PathCompiler:
    """Compiles union branches into walkers, when their shape allows."""

    def __init__(self, model: _Model, converters: _Converters) -> None:
        self._model = model
        self._converters = converters

    def compile(self, resource_type: str, branch: str, param_type: str) -> list[_Walker] | None:
        """Walkers for `branch` (one per first JSON key), or None if it needs FHIRPath."""
        root = self._model.root(resource_type)
        segments = _split_top(branch, ".")
        if root is None:
            return None
        if branch_root(branch) is not None:
            segments = segments[1:]
        draft = _Draft([([root], None)])
        for segment in segments:
            if not self._apply(draft, segment):
                return None
        if len(draft.steps) < 2:
            return None
        return self._walkers(draft, param_type)

    def _apply(self, draft: _Draft, segment: str) -> bool:
        """Extend the draft by one path segment; False if the segment is not supported."""
        if _IDENTIFIER.fullmatch(segment):
            return self._child(draft, segment, None)
        call = _CALL.fullmatch(segment)
        if call is None or _closing_paren(segment[len(call["name"]) :]) != len(call["arg"]) + 1:
            return False
        name, arg = call["name"], call["arg"].strip()
        if name in ("as", "ofType"):
            return self._restrict(draft, arg)
        if name == "extension":
            url = _QUOTED.fullmatch(arg)
            return url is not None and self._child(
                draft, "extension", _field_equals("url", url["value"])
            )
        where = _where(arg) if name == "where" else None
        return where is not None and len(draft.steps) > 1 and draft.filter(where)

    def _child(self, draft: _Draft, name: str, where: Predicate | None) -> bool:
        """Step into element `name`; only a single-typed element can be stepped through."""
        parents = draft.current()
        if len(parents) != 1:
            return False
        children = self._model.children(parents[0], name)
        if children:
            draft.steps.append((children, where))
        return bool(children)

    @staticmethod
    def _restrict(draft: _Draft, type_name: str) -> bool:
        """Keep only the keys of the last step whose type is `type_name`."""
        if len(draft.steps) < 2 or not _IDENTIFIER.fullmatch(type_name):
            return False
        keys, where = draft.steps[-1]
        kept = [typed for typed in keys if typed.fhir_type == type_name]
        draft.steps[-1] = (kept, where)
        return bool(kept)

    def _walkers(self, draft: _Draft, param_type: str) -> list[_Walker]:
        """One walker per first key of a complete draft."""
        last_keys, last_where = draft.steps[-1]
        last = tuple(
            (typed.key, converter)
            for typed in last_keys
            if (converter := self._converters.converter(param_type, typed.fhir_type)) is not None
        )
        if not last:
            return []
        # every step before the last was stepped through, so it has exactly one key
        middle = tuple(_Step(keys[0].key, where) for keys, where in draft.steps[1:-1])
        if not middle:
            return [_Walker((), (pair,), last_where) for pair in last]
        return [_Walker(middle, last, last_where)]


# ---------------------------------------------------------------- FHIRPath fallback


def _fhirpath_resolve(inputs: list[Any]) -> list[Any]:
    """`resolve()` for fhirpathpy: a stub resource of the referenced type, enough for `is`."""
    resolved = []
    for value in inputs:
        resource_type = _reference_type(value)
        if resource_type is not None:
            stub = {"resourceType": resource_type}
            resolved.append(ResourceNode(stub, resource_type))  # type: ignore[no-untyped-call]
    return resolved


def _fhirpath_has_extension(inputs: list[Any], url: str) -> bool:
    """`hasExtension(url)`, which fhirpathpy lacks."""
    return any(
        type(value) is dict
        and any(
            type(ext) is dict and ext.get("url") == url for ext in _items(value.get("extension"))
        )
        for value in inputs
    )


_FHIRPATH_OPTIONS = {
    "returnRawData": True,
    "userInvocationTable": {
        "resolve": {"fn": _fhirpath_resolve, "arity": {0: []}},
        "hasExtension": {"fn": _fhirpath_has_extension, "arity": {1: ["String"]}},
    },
}
_FHIRPATH_LOCK = threading.Lock()
_PYTHON_TYPES = {bool: "boolean", str: "string", int: "integer", float: "decimal"}


@cache
def _fhirpath(expression: str) -> Callable[..., list[Any]]:
    """fhirpathpy's compiled form of an expression, once per process."""
    compiled: Callable[..., list[Any]] = fhirpath_compile(
        expression, fhirpath_models["r4"], _FHIRPATH_OPTIONS
    )
    return compiled


def _node_type(node: Any) -> tuple[Any, str]:
    """The JSON data and FHIR type name of one fhirpathpy result."""
    if isinstance(node, ResourceNode):
        path = node.path or ""
        if path.startswith("System."):
            return node.data, _system_type(path)
        return node.data, "BackboneElement" if "." in path else path
    return node, _PYTHON_TYPES.get(type(node), "")


@dataclass(frozen=True)
class _Fallback:
    """A branch evaluated by fhirpathpy, its results converted by their FHIR types."""

    expression: str
    param_type: str
    converters: _Converters = field(compare=False)

    def run(self, resource: Resource) -> list[IndexValue]:
        """Index values of the expression for `resource`; nothing if evaluation fails."""
        try:
            with _FHIRPATH_LOCK:  # fhirpathpy keeps evaluation state in globals
                nodes = _fhirpath(self.expression)(resource)
        except Exception:  # fhirpathpy raises bare Exceptions on data it cannot handle
            return []
        out: list[IndexValue] = []
        for node in nodes:
            data, fhir_type = _node_type(node)
            converter = self.converters.converter(self.param_type, fhir_type)
            if converter is not None:
                out += converter(data)
        return out


def _guard_keys(model: _Model, resource_type: str, branch: str) -> tuple[str, ...] | None:
    """Resource keys one of which a pure-path branch needs, or None if it must always run."""
    segments = _split_top(branch, ".")
    if branch_root(branch) is not None:
        segments = segments[1:]
    if not segments or len(_split_top(branch, " ")) > 1:
        return None
    name = segments[0].split("[", 1)[0]
    root = model.root(resource_type)
    if root is None or not _IDENTIFIER.fullmatch(name):
        return None
    return tuple(typed.key for typed in model.children(root, name)) or (name,)


# ---------------------------------------------------------------- indexer


@dataclass(frozen=True, slots=True)
class _Targeted:
    """A reference branch whose typed values must point at one of the parameter's targets."""

    runner: _Walker | _Fallback
    targets: frozenset[str]

    def run(self, resource: Resource) -> list[IndexValue]:
        """The runner's values, without references to other resource types."""
        return [
            value
            for value in self.runner.run(resource)
            if not isinstance(value, ReferenceValue)
            or value.target_type is None
            or value.target_type in self.targets
        ]


@dataclass(frozen=True, slots=True)
class _Branch:
    """A compiled branch and the resource keys one of which it reads (None: always run)."""

    keys: tuple[str, ...] | None
    runner: _Walker | _Fallback | _Targeted


@dataclass
class _Plan:
    """The compiled parameters of one resource type, their branches by the key they read."""

    params: dict[str, SearchParam]
    by_key: dict[str, list[tuple[str, _Branch]]]
    always: list[tuple[str, _Branch]]


class SearchIndexer:
    """Turns resources into (parameter code, index value) pairs."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._resource_types = frozenset(registry.resource_types())
        self._model = _Model(registry)
        self._converters = _Converters(self._resource_types)
        self._compiler = _PathCompiler(self._model, self._converters)
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    def params_for(self, resource_type: str) -> dict[str, SearchParam]:
        """The supported search parameters of `resource_type`, by code."""
        return self._plan(resource_type).params

    def extract(self, resource: Resource) -> list[tuple[str, IndexValue]]:
        """Every (code, value) the resource contributes to the search index, without repeats."""
        resource_type = resource.get("resourceType")
        if type(resource_type) is not str or resource_type not in self._resource_types:
            return []
        plan = self._plan(resource_type)
        pairs: dict[tuple[str, IndexValue], None] = {}
        for key in resource:
            for code, branch in plan.by_key.get(key, ()):
                for value in branch.runner.run(resource):
                    pairs[code, value] = None
        for code, branch in plan.always:
            for value in branch.runner.run(resource):
                pairs[code, value] = None
        return list(pairs)

    def _plan(self, resource_type: str) -> _Plan:
        """The compiled plan of a resource type, built on first use."""
        plan = self._plans.get(resource_type)
        if plan is None:
            with self._lock:
                plan = self._plans.get(resource_type) or self._build_plan(resource_type)
                self._plans[resource_type] = plan
        return plan

    def _build_plan(self, resource_type: str) -> _Plan:
        """Compile every applicable parameter of `resource_type`."""
        plan = _Plan({}, {}, [])
        if resource_type not in self._resource_types:
            return plan
        for definition in _unique_by_code(self._registry.search_parameters(resource_type)):
            param = self._compile_param(resource_type, definition)
            if param is None:
                continue
            plan.params[param.code] = param
            if param.code in STORE_COLUMNS:
                continue
            for branch in param.branches:
                if branch.keys is None:
                    plan.always.append((param.code, branch))
                for key in branch.keys or ():
                    plan.by_key.setdefault(key, []).append((param.code, branch))
        return plan

    def _compile_param(self, resource_type: str, definition: Resource) -> SearchParam | None:
        """A SearchParam with compiled branches, or None if it cannot be indexed."""
        param_type, expression = definition.get("type"), definition.get("expression")
        if param_type not in SUPPORTED_TYPES or not expression:
            return None
        texts = applicable_branches(expression, resource_type)
        if not texts:
            return None
        targets = tuple(definition.get("target", ()))
        branches = [
            _Branch(keys, _Targeted(runner, frozenset(targets)) if targets else runner)
            for text in texts
            for keys, runner in self._compile_branch(resource_type, text, param_type)
        ]
        return SearchParam(
            code=definition["code"],
            type=param_type,
            url=definition.get("url", ""),
            expression=expression,
            targets=targets,
            branches=tuple(branches),
        )

    def _compile_branch(
        self, resource_type: str, text: str, param_type: str
    ) -> list[tuple[tuple[str, ...] | None, _Walker | _Fallback]]:
        """Walkers for a branch keyed by the one key each reads, else a guarded fallback."""
        walkers = self._compiler.compile(resource_type, text, param_type)
        if walkers is not None:
            return [((walker.first_key,), walker) for walker in walkers]
        try:
            _fhirpath(text)
        except Exception:  # fhirpathpy's parser raises bare Exceptions; skip what it cannot read
            return []
        guard = _guard_keys(self._model, resource_type, text)
        return [(guard, _Fallback(text, param_type, self._converters))]


def _unique_by_code(definitions: list[Resource]) -> list[Resource]:
    """One definition per code, preferring those not marked experimental (examples)."""
    chosen: dict[str, Resource] = {}
    for definition in definitions:
        code = definition.get("code")
        if not isinstance(code, str):
            continue
        current = chosen.get(code)
        if current is None or (current.get("experimental") and not definition.get("experimental")):
            chosen[code] = definition
    return list(chosen.values())

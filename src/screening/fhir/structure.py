"""Structural layer of the FHIR R4 validator, driven by the core StructureDefinition snapshots.

Each StructureDefinition is compiled once into a tree of `ElementNode`s (keyed by element id and
path, with children, types, min/max and the raw ElementDefinition), so later layers (cardinality,
bindings, slicing, invariants) can hang off the same nodes. `StructureChecker` walks a resource's
JSON once against those nodes and reports the FHIR JSON rules (https://hl7.org/fhir/R4/json.html)
it breaks as `Issue`s whose `expression` is the FHIRPath of the offending location.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, field
from typing import Any

from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry

REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
_SYSTEM_TYPES = {
    "String": "string",
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
}

# JSON representation of the primitive types (anything not listed is a JSON string).
_JSON_KIND = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}
_INT_RANGE = {
    "integer": (-(2**31), 2**31 - 1),
    "positiveInt": (1, 2**31 - 1),
    "unsignedInt": (0, 2**31 - 1),
}
_CALENDAR_TYPES = frozenset({"date", "dateTime", "instant"})
# The spec's base64Binary regex backtracks exponentially on whitespace; this one is equivalent.
_SAFE_REGEX = {"base64Binary": r"\s*+(?:[0-9a-zA-Z+/=]{4}\s*+)++"}

PRIMITIVE, COMPLEX, RESOURCE = 0, 1, 2


# --------------------------------------------------------------------------- compiled model


@dataclass(eq=False, slots=True)
class ElementNode:
    """One ElementDefinition of a snapshot, with its child elements by name."""

    id: str
    path: str
    name: str
    min: int
    max: str
    is_array: bool  # JSON array: decided by the base definition's max, not a profile's
    types: tuple[str, ...]
    system_typed: bool  # id / url attributes typed System.*: no `_x` companion in JSON
    content_reference: str | None
    definition: dict[str, Any]
    children: dict[str, ElementNode] = field(default_factory=dict)
    slices: dict[str, ElementNode] = field(default_factory=dict)

    @property
    def is_choice(self) -> bool:
        """True for `value[x]`-style elements."""
        return self.name.endswith("[x]")


@dataclass(eq=False, slots=True)
class StructureModel:
    """A StructureDefinition compiled into a tree of ElementNodes."""

    url: str
    type: str
    kind: str
    abstract: bool
    root: ElementNode
    by_id: dict[str, ElementNode]
    by_path: dict[str, ElementNode]
    definition: dict[str, Any]


def compile_structure(sd: dict[str, Any]) -> StructureModel:
    """Compile a StructureDefinition's snapshot into an element tree."""
    type_name = sd["type"]
    by_id: dict[str, ElementNode] = {}
    by_path: dict[str, ElementNode] = {}
    for element in sd["snapshot"]["element"]:
        node = _element_node(element, sd.get("kind") == "resource", type_name)
        by_id[node.id] = node
        by_path.setdefault(node.path, node)
        _attach(node, by_id)
    root = by_id[sd["snapshot"]["element"][0].get("id", type_name)]
    return StructureModel(
        sd.get("url", ""),
        type_name,
        sd.get("kind", ""),
        bool(sd.get("abstract", False)),
        root,
        by_id,
        by_path,
        sd,
    )


def _element_node(element: dict[str, Any], is_resource: bool, type_name: str) -> ElementNode:
    """One ElementNode from an ElementDefinition (children are attached later)."""
    path = element["path"]
    types, system_typed = _type_codes(element)
    if is_resource and path == f"{type_name}.id":
        types = ("id",)  # Resource.id is of type id, though the snapshot says System.String
    base_max = element.get("base", {}).get("max", element.get("max", "1"))
    last = element.get("id", path).rsplit(".", 1)[-1]
    return ElementNode(
        id=element.get("id", path),
        path=path,
        name=last.split(":", 1)[0],
        min=int(element.get("min", 0)),
        max=str(element.get("max", "*")),
        is_array="." in path and base_max != "1",
        types=types,
        system_typed=system_typed,
        content_reference=element.get("contentReference"),
        definition=element,
    )


def _attach(node: ElementNode, by_id: dict[str, ElementNode]) -> None:
    """Hang a node under its parent (or under the sliced element, for a slice)."""
    parent_id, dot, last = node.id.rpartition(".")
    if not dot:
        return
    name, colon, slice_name = last.partition(":")
    parent = by_id.get(parent_id)
    if parent is None:
        return
    if colon:
        sliced = parent.children.get(name)
        if sliced is not None:
            sliced.slices[slice_name] = node
        return
    parent.children[name] = node


def _type_codes(element: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
    """The element's FHIR type codes, System.* ones mapped back to FHIR primitives."""
    codes: list[str] = []
    system_typed = False
    for type_ref in element.get("type", []):
        code = type_ref.get("code", "")
        if code.startswith(SYSTEM_PREFIX):
            system_typed = True
            code = _fhir_type_ext(type_ref) or _SYSTEM_TYPES.get(code[len(SYSTEM_PREFIX) :], "")
        if code:
            codes.append(code)
    return tuple(codes), system_typed


def _fhir_type_ext(type_ref: dict[str, Any]) -> str | None:
    """The structuredefinition-fhir-type extension's value, if any."""
    for ext in type_ref.get("extension", []):
        if ext.get("url") == FHIR_TYPE_EXT:
            value = ext.get("valueUrl") or ext.get("valueUri")
            return str(value) if value else None
    return None


# --------------------------------------------------------------------------- primitives


@dataclass(frozen=True, slots=True)
class PrimitiveRule:
    """How a primitive type is written in JSON and which lexical values it accepts."""

    type: str
    json: str  # boolean | integer | number | string
    regex: re.Pattern[str] | None
    low: int = 0
    high: int = 0
    calendar: bool = False


def primitive_rule(sd: dict[str, Any]) -> PrimitiveRule:
    """The rule for a primitive type, with the regex from its `<type>.value` element."""
    type_name = sd["type"]
    pattern = _SAFE_REGEX.get(type_name) or _value_regex(sd)
    low, high = _INT_RANGE.get(type_name, (0, 0))
    regex = re.compile(pattern, re.ASCII) if pattern else None  # Java's \s and \S are ASCII
    return PrimitiveRule(
        type_name,
        _JSON_KIND.get(type_name, "string"),
        regex,
        low,
        high,
        type_name in _CALENDAR_TYPES,
    )


def _value_regex(sd: dict[str, Any]) -> str | None:
    """The regex extension on the type of the primitive's `.value` element."""
    for element in sd.get("snapshot", {}).get("element", []):
        if element.get("path") != f"{sd['type']}.value":
            continue
        for type_ref in element.get("type", []):
            for ext in type_ref.get("extension", []):
                if ext.get("url") == REGEX_EXT and isinstance(ext.get("valueString"), str):
                    return str(ext["valueString"])
    return None


def _real_date(value: str) -> bool:
    """True when the day of a (regex-valid) date or dateTime exists in the calendar."""
    if len(value) < 10:
        return True
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    return day <= calendar.monthrange(year, month)[1]


def _show(value: Any) -> str:
    """A short rendering of a JSON value for diagnostics."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- JSON shapes


@dataclass(eq=False, slots=True)
class Prop:
    """One JSON property name allowed in an object, and how its value is checked."""

    key: str
    node: ElementNode
    type: str
    kind: int  # PRIMITIVE | COMPLEX | RESOURCE
    rule: PrimitiveRule | None
    target: ElementNode | None  # whose children are the properties of the value object
    choice: str | None  # the choice element's name (`value[x]`) for its typed variants
    companion_key: str | None  # `_key` when a primitive-extension companion is allowed


@dataclass(eq=False, slots=True)
class Shape:
    """The JSON properties an object of one element or type may have."""

    props: dict[str, Prop]
    companions: dict[str, Prop]  # `_key` -> the primitive property it extends
    choices: dict[str, list[str]]  # choice base name (`value`) -> allowed keys
    is_resource: bool
    is_extension: bool


class StructureModels:
    """Compiled StructureDefinitions and primitive rules of a registry, cached by type."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._models: dict[str, StructureModel | None] = {}
        self._rules: dict[str, PrimitiveRule] = {}
        self.resource_types = frozenset(registry.resource_types())
        for sd in registry.structure_definitions("primitive-type"):
            if sd.get("derivation") == "specialization":
                self._rules[sd["type"]] = primitive_rule(sd)

    def model(self, type_name: str) -> StructureModel | None:
        """The compiled core StructureDefinition of a type, or None if there is none."""
        if type_name not in self._models:
            sd = self.registry.structure_definition(type_name)
            ok = sd is not None and "snapshot" in sd
            self._models[type_name] = compile_structure(sd) if sd is not None and ok else None
        return self._models[type_name]

    def rule(self, type_name: str) -> PrimitiveRule | None:
        """The primitive rule of a type, or None for complex types."""
        return self._rules.get(type_name)

    def node(self, reference: str) -> ElementNode | None:
        """The node a contentReference (`#Questionnaire.item`) points at."""
        path = reference.split("#", 1)[-1]
        model = self.model(path.split(".", 1)[0])
        return model.by_id.get(path) or model.by_path.get(path) if model else None


# --------------------------------------------------------------------------- the checker


class StructureChecker:
    """Checks resources' JSON against the structure of the core R4 definitions."""

    def __init__(self, registry: Registry) -> None:
        self.models = StructureModels(registry)
        self._shapes: dict[ElementNode, Shape] = {}
        element = self.models.model("Element")
        self._element_shape = self._shape(element.root) if element else None

    def check(self, resource: Any) -> list[Issue]:
        """Every structural issue of one resource (JSON as parsed by `json.loads`)."""
        issues: list[Issue] = []
        self._resource(resource, "", False, issues)
        return issues

    # ---- shapes

    def resource_shape(self, type_name: str) -> Shape | None:
        """The shape of a concrete resource type, or None if the type is unknown."""
        if type_name not in self.models.resource_types:
            return None
        model = self.models.model(type_name)
        return self._shape(model.root) if model else None

    def _shape(self, target: ElementNode) -> Shape:
        """The (cached) shape of objects whose properties are `target`'s children."""
        shape = self._shapes.get(target)
        if shape is None:
            shape = self._build_shape(target)
            self._shapes[target] = shape
        return shape

    def _build_shape(self, target: ElementNode) -> Shape:
        """Expand `target`'s children into JSON property names."""
        props: dict[str, Prop] = {}
        choices: dict[str, list[str]] = {}
        for name, child in target.children.items():
            if child.is_choice:
                base = name[:-3]
                for code in child.types:
                    key = base + code[:1].upper() + code[1:]
                    props[key] = self._prop(key, child, code, name)
                choices[base] = [k for k in props if props[k].choice == name]
            else:
                props[name] = self._prop(name, child, self._single_type(child), None)
        companions = {p.companion_key: p for p in props.values() if p.companion_key}
        is_resource = "." not in target.path and target.path in self.models.resource_types
        return Shape(props, companions, choices, is_resource, target.path == "Extension")

    def _single_type(self, node: ElementNode) -> str:
        """The one type of a non-choice element (via its contentReference if it has none)."""
        if node.types:
            return node.types[0]
        referenced = self.models.node(node.content_reference or "")
        return referenced.types[0] if referenced and referenced.types else "BackboneElement"

    def _prop(self, key: str, node: ElementNode, code: str, choice: str | None) -> Prop:
        """The Prop for one JSON key of one element and type."""
        rule = self.models.rule(code)
        if rule is not None:
            extensible = not node.system_typed and code != "xhtml"  # xhtml has no extensions
            companion = "_" + key if extensible else None
            return Prop(key, node, code, PRIMITIVE, rule, None, choice, companion)
        if code == "Resource" or code in self.models.resource_types:
            return Prop(key, node, code, RESOURCE, None, None, choice, None)
        return Prop(key, node, code, COMPLEX, None, self._target(node, code), choice, None)

    def _target(self, node: ElementNode, code: str) -> ElementNode | None:
        """The node whose children describe a complex value: inline, referenced or the type's."""
        if node.children:
            return node
        if node.content_reference:
            return self.models.node(node.content_reference)
        model = self.models.model(code)
        return model.root if model else None

    # ---- walking

    def _resource(self, obj: Any, path: str, nested: bool, out: list[Issue]) -> None:
        """Check a resource: top level, contained or inside a Bundle / Parameters."""
        where = path or None
        if not isinstance(obj, dict):
            out.append(_err("structure", "A resource must be a JSON object", where))
            return
        type_name = obj.get("resourceType")
        if not isinstance(type_name, str):
            msg = "Missing 'resourceType'" if type_name is None else "'resourceType' not a string"
            out.append(_err("structure", msg, where))
            return
        shape = self.resource_shape(type_name)
        if shape is None:
            out.append(_err("invalid", f"Unknown resource type '{_clip(type_name)}'", where))
            return
        self._object(obj, shape, f"{path}.ofType({type_name})" if nested else type_name, out)

    def _object(self, obj: dict[Any, Any], shape: Shape, path: str, out: list[Issue]) -> None:
        """Check the properties of one JSON object against its shape."""
        if not obj:
            out.append(_err("structure", "An object must have some content", path))
            return
        props = shape.props
        chosen: dict[str, str] | None = None
        for key, value in obj.items():
            prop = props.get(key)
            if prop is None:
                prop = self._extra_key(obj, key, value, shape, path, out)
                if prop is None:
                    continue
            else:
                self._property(prop, obj, path, out)
            if prop.choice is not None:
                chosen = _choose(chosen, prop, path, out)
        if shape.is_extension:
            _check_extension(obj, path, out)

    def _extra_key(
        self, obj: dict[Any, Any], key: Any, value: Any, shape: Shape, path: str, out: list[Issue]
    ) -> Prop | None:
        """Handle a key that is not an element: a `_x` companion, resourceType, or unknown."""
        prop = shape.companions.get(key)
        if prop is not None:
            if value is None:
                out.append(_err("required", f"'{key}' must not be null", f"{path}.{prop.key}"))
            elif prop.key not in obj:
                self._property(prop, obj, path, out)
            return prop
        if not (key == "resourceType" and shape.is_resource):
            out.append(_err("structure", _unknown(key, shape), f"{path}.{_clip(str(key))}"))
        return None

    def _property(self, prop: Prop, obj: dict[Any, Any], path: str, out: list[Issue]) -> None:
        """Check one element's value in `obj`, with its `_x` companion if any."""
        here = f"{path}.{prop.key}"
        value = obj.get(prop.key)
        companion = obj.get(prop.companion_key) if prop.companion_key else None
        if value is None and prop.key in obj:
            out.append(_err("required", f"'{prop.key}' must not be null", here))
            if companion is None:
                return
        if prop.node.is_array:
            self._array(prop, value, companion, here, out)
        elif isinstance(value, list):
            out.append(_err("structure", f"'{prop.key}' must not be an array", here))
        elif isinstance(companion, list):
            out.append(_err("structure", f"'_{prop.key}' must not be an array", here))
        else:
            self._item(prop, value, companion, here, out)

    def _array(self, prop: Prop, value: Any, companion: Any, here: str, out: list[Issue]) -> None:
        """Check a repeating element: a non-empty JSON array, aligned with its companion."""
        if value is None and companion is None:
            return
        if value is not None and not isinstance(value, list):
            out.append(_err("structure", f"'{prop.key}' must be an array", here))
            return
        if companion is not None and not isinstance(companion, list):
            out.append(_err("structure", f"'_{prop.key}' must be an array", here))
            return
        items: list[Any] = value if isinstance(value, list) else [None] * len(companion or [])
        extras: list[Any] = companion if isinstance(companion, list) else [None] * len(items)
        if not items or not extras:
            key = prop.key if value is not None and not value else "_" + prop.key
            out.append(_err("structure", f"'{key}' must not be an empty array", here))
        elif len(items) != len(extras):
            msg = f"'{prop.key}' and '_{prop.key}' arrays must have the same length"
            out.append(_err("structure", msg, here))
        else:
            for index, (item, extra) in enumerate(zip(items, extras, strict=True)):
                self._item(prop, item, extra, f"{here}[{index}]", out)

    def _item(self, prop: Prop, value: Any, extra: Any, here: str, out: list[Issue]) -> None:
        """Check one value of an element, and its primitive-extension companion if any."""
        if value is not None:
            if prop.kind == PRIMITIVE:
                _primitive(prop, value, here, out)
            elif prop.kind == RESOURCE:
                self._resource(value, here, True, out)
            elif not isinstance(value, dict):
                out.append(_err("structure", f"'{prop.key}' must be a JSON object", here))
            elif prop.target is not None:
                self._object(value, self._shape(prop.target), here, out)
        elif extra is None:
            msg = f"A null in '{prop.key}' needs a '_{prop.key}' entry at the same index"
            out.append(_err("structure", msg, here))
        if extra is not None:
            self._companion(prop, extra, here, out)

    def _companion(self, prop: Prop, extra: Any, here: str, out: list[Issue]) -> None:
        """Check a `_x` value: an object with only id and extension."""
        if not isinstance(extra, dict):
            out.append(_err("structure", f"'_{prop.key}' must be a JSON object", here))
        elif self._element_shape is not None:
            self._object(extra, self._element_shape, here, out)


# --------------------------------------------------------------------------- helpers


def _err(code: str, diagnostics: str, expression: str | None) -> Issue:
    """An error-severity issue."""
    return Issue("error", code, diagnostics, expression)


def _clip(text: str) -> str:
    """Text shortened for a diagnostic or expression."""
    return text if len(text) <= 80 else text[:77] + "..."


def _unknown(key: Any, shape: Shape) -> str:
    """The diagnostic for an unknown property, naming the allowed choice types if relevant."""
    text = _clip(str(key))
    for base, keys in shape.choices.items():
        if isinstance(key, str) and key.lstrip("_").startswith(base):
            return f"Unknown element '{text}': {base}[x] allows {', '.join(keys)}"
    return f"Unknown element '{text}'"


def _choose(
    chosen: dict[str, str] | None, prop: Prop, path: str, out: list[Issue]
) -> dict[str, str]:
    """Record a choice variant, reporting a second variant of the same choice element."""
    assert prop.choice is not None
    chosen = chosen if chosen is not None else {}
    first = chosen.setdefault(prop.choice, prop.key)
    if first != prop.key:
        msg = f"Only one of {prop.choice} may be present: found '{first}' and '{prop.key}'"
        out.append(_err("structure", msg, f"{path}.{prop.key}"))
    return chosen


def _check_extension(obj: dict[Any, Any], path: str, out: list[Issue]) -> None:
    """An Extension needs a url and exactly one of value[x] or nested extensions."""
    if "url" not in obj:
        out.append(_err("required", "Extension.url is required", f"{path}.url"))
    has_value = any(isinstance(k, str) and k.startswith(("value", "_value")) for k in obj)
    has_nested = "extension" in obj
    if has_value and has_nested:
        msg = "An extension must have either a value[x] or nested extensions, not both"
        out.append(_err("structure", msg, path))
    elif not has_value and not has_nested:
        msg = "An extension must have either a value[x] or nested extensions"
        out.append(_err("structure", msg, path))


def _primitive(prop: Prop, value: Any, here: str, out: list[Issue]) -> None:
    """Check a primitive value's JSON type and lexical form."""
    rule = prop.rule
    assert rule is not None
    if rule.json == "string":
        _string(rule, value, here, out)
    elif rule.json == "boolean":
        if type(value) is not bool:
            out.append(_json_error(rule, "JSON true or false", here))
    elif rule.json == "integer":
        _integer(rule, value, here, out)
    elif type(value) not in (int, float):
        out.append(_json_error(rule, "a JSON number", here))
    elif not math.isfinite(value):
        out.append(_err("value", f"{_show(value)} is not a valid {rule.type}", here))


def _string(rule: PrimitiveRule, value: Any, here: str, out: list[Issue]) -> None:
    """Check a primitive written as a JSON string."""
    if type(value) is not str:
        out.append(_json_error(rule, "a JSON string", here))
    elif not value:
        out.append(_err("value", f"A value of type {rule.type} must not be an empty string", here))
    elif rule.regex is not None and rule.regex.fullmatch(value) is None:
        out.append(_err("value", f"{_show(value)} is not a valid {rule.type}", here))
    elif rule.calendar and not _real_date(value):
        out.append(_err("value", f"{_show(value)} is not a real calendar date", here))


def _integer(rule: PrimitiveRule, value: Any, here: str, out: list[Issue]) -> None:
    """Check a primitive written as a JSON integer, within its type's range."""
    if type(value) is not int:
        out.append(_json_error(rule, "a JSON integer", here))
    elif not rule.low <= value <= rule.high:
        msg = f"{_show(value)} is out of range for {rule.type} ({rule.low}..{rule.high})"
        out.append(_err("value", msg, here))


def _json_error(rule: PrimitiveRule, expected: str, here: str) -> Issue:
    """The issue for a primitive written with the wrong JSON type."""
    return _err("invalid", f"A value of type {rule.type} must be {expected}", here)

"""The profile validator: a resource against the base definition and every profile it claims.

The structural layer (`structure.py`) checks JSON shapes, unknown elements and primitive
formats once per resource. This layer walks the resource against the snapshot of each
StructureDefinition that applies (the core type, every `meta.profile`, and any profile
asked for) and checks cardinality, types, fixed and pattern values, bindings, slicing,
extensions, reference targets and invariants. Issues are de-duplicated across passes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry
from screening.fhir.structure import (
    ElementNode,
    StructureChecker,
    StructureModel,
    compile_structure,
)
from screening.fhir.validation_values import (
    BindingChecker,
    check_bounds,
    check_fixed,
    check_pattern,
)

CORE = "http://hl7.org/fhir/StructureDefinition/"
NATIVE_CONSTRAINTS = frozenset({"ele-1", "ext-1"})
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


class Snapshots(Protocol):
    """What the validator needs from the snapshot generator."""

    def generate(self, sd: dict[str, Any]) -> dict[str, Any]: ...


class ResourceRules(Protocol):
    """Extra rules for one resource type (e.g. a QuestionnaireResponse against its
    Questionnaire), run once per resource on the base pass."""

    def check(
        self, resource: dict[str, Any], path: str, targets: dict[str, dict[str, Any]]
    ) -> list[Issue]: ...


class Invariants(Protocol):
    """What the validator needs from the FHIRPath invariant runner."""

    def check(
        self,
        constraint: dict[str, Any],
        node: Any,
        location: str,
        *,
        resource: dict[str, Any],
        root_resource: dict[str, Any],
    ) -> Issue | None: ...


@dataclass
class Item:
    """One value found for an element: the JSON value, its `_x` companion, where it is."""

    value: Any
    companion: Any
    path: str
    type: str | None  # the type code of a choice variant (`Quantity` for valueQuantity)


@dataclass
class Run:
    """The state of one validation: the issues so far and what references can resolve to."""

    issues: list[Issue] = field(default_factory=list)
    seen: set[tuple[str, str, str | None]] = field(default_factory=set)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, issue: Issue | None) -> None:
        """Record an issue once (several profiles may find the same one)."""
        if issue is None:
            return
        key = (issue.severity, issue.diagnostics, issue.expression)
        if key not in self.seen:
            self.seen.add(key)
            self.issues.append(issue)


@dataclass
class Scope:
    """The resource an element belongs to, and the outermost resource being validated."""

    resource: dict[str, Any]
    root: dict[str, Any]
    base: bool  # True on the pass against the core definition of the resource type


class Validator:
    """Validates resources against the R4 core definitions and any number of profiles."""

    def __init__(
        self,
        registry: Registry,
        structure: StructureChecker,
        snapshots: Snapshots,
        bindings: BindingChecker,
        invariants: Invariants,
    ) -> None:
        self.registry = registry
        self.structure = structure
        self.snapshots = snapshots
        self.bindings = bindings
        self.invariants = invariants
        self.resource_rules: dict[str, ResourceRules] = {}
        self._models: dict[str, StructureModel | None] = {}
        self._lock = threading.Lock()

    # entry point -----------------------------------------------------------------------

    def validate(self, resource: Any, profiles: tuple[str, ...] = ()) -> list[Issue]:
        """Every issue of `resource` against its type, its meta.profile and `profiles`."""
        run = Run()
        for issue in self.structure.check(resource):
            run.add(issue)
        if not isinstance(resource, dict) or not self._known_type(resource):
            return run.issues
        run.targets = _targets(resource)
        self._resource(resource, resource["resourceType"], run, resource, profiles)
        return run.issues

    def model(self, url: str) -> StructureModel | None:
        """The compiled snapshot of a StructureDefinition (generated when missing)."""
        if url not in self._models:
            with self._lock:
                self._models[url] = self._compile(url)
        return self._models[url]

    def _compile(self, url: str) -> StructureModel | None:
        sd = self.registry.get(url)
        if sd is None or sd.get("resourceType") != "StructureDefinition":
            return None
        if not sd.get("snapshot", {}).get("element"):
            sd = self.snapshots.generate(sd)
        return compile_structure(sd)

    def _known_type(self, resource: dict[str, Any]) -> bool:
        return resource.get("resourceType") in self.structure.models.resource_types

    # resources -------------------------------------------------------------------------

    def _resource(
        self,
        resource: dict[str, Any],
        path: str,
        run: Run,
        root: dict[str, Any],
        extra: tuple[str, ...] = (),
    ) -> None:
        """One resource against its core definition and the profiles that apply to it."""
        type_name = resource["resourceType"]
        claimed = (
            resource.get("meta", {}).get("profile", [])
            if isinstance(resource.get("meta"), dict)
            else []
        )
        urls = [CORE + type_name] + [u for u in (*claimed, *extra) if isinstance(u, str)]
        for url in dict.fromkeys(urls):
            model = self.model(url)
            where = f"{path}.meta.profile" if url in claimed else path
            if model is None:
                run.add(_issue("error", "not-found", f"Profile '{url}' is not known", where))
            elif model.type != type_name:
                msg = f"Profile '{url}' is for {model.type}, not {type_name}"
                run.add(_issue("error", "invalid", msg, where))
            else:
                scope = Scope(resource, root, url == CORE + type_name)
                self._node(model.root, Item(resource, None, path, None), run, scope)
        rules = self.resource_rules.get(type_name)
        if rules is not None:
            for issue in rules.check(resource, path, run.targets):
                run.add(issue)

    # elements --------------------------------------------------------------------------

    def _node(self, node: ElementNode, item: Item, run: Run, scope: Scope) -> None:
        """One value against one element definition, then its children."""
        definition = node.definition
        value = item.value
        if value is not None:
            self._value_rules(node, item, run, scope)
        for constraint in definition.get("constraint", []):
            if value is None or not self._runs(constraint, scope):
                continue
            run.add(
                self.invariants.check(
                    constraint, value, item.path, resource=scope.resource, root_resource=scope.root
                )
            )
        if isinstance(value, dict):
            self._children(node, value, item, run, scope)

    def _runs(self, constraint: dict[str, Any], scope: Scope) -> bool:
        """Core constraints run on the base pass only; natively checked ones never."""
        if constraint.get("key") in NATIVE_CONSTRAINTS:
            return False
        from_core = str(constraint.get("source", CORE)).startswith(CORE)
        return scope.base or not from_core

    def _value_rules(self, node: ElementNode, item: Item, run: Run, scope: Scope) -> None:
        """Fixed and pattern values, bounds, bindings and reference targets of one value."""
        definition = node.definition
        type_code = item.type or (node.types[0] if len(node.types) == 1 else None)
        for issue in check_fixed(definition, item.value, item.path):
            run.add(issue)
        for issue in check_pattern(definition, item.value, item.path):
            run.add(issue)
        for issue in check_bounds(definition, item.value, type_code, item.path):
            run.add(issue)
        if "binding" in definition and type_code:
            for issue in self.bindings.check(
                definition["binding"], item.value, type_code, item.path, node.path
            ):
                run.add(issue)
        if type_code == "Reference" and isinstance(item.value, dict):
            self._reference(node, item, run)
        if type_code == "Coding" and scope.base:
            for issue in self.bindings.check_coding(item.value, item.path):
                run.add(issue)

    def _children(
        self, node: ElementNode, value: dict[str, Any], item: Item, run: Run, scope: Scope
    ) -> None:
        """The children of a complex value: inline in the snapshot, or from its type."""
        if node.children:
            for child in node.children.values():
                self._element(child, list(_items(child, value, item.path)), item.path, run, scope)
            return
        type_code = item.type or (node.types[0] if len(node.types) == 1 else None)
        if type_code is None:
            return
        if type_code == "Resource" or type_code in self.structure.models.resource_types:
            if self._known_type(value):
                self._resource(value, item.path, run, scope.root)
            return
        for url in self._type_profiles(node, type_code, scope):
            model = self.model(url)
            if model is None:
                run.add(_issue("error", "not-found", f"Profile '{url}' is not known", item.path))
                continue
            inner = Scope(scope.resource, scope.root, url == CORE + type_code)
            self._node_children(model.root, value, item, run, inner)

    def _node_children(
        self, root: ElementNode, value: dict[str, Any], item: Item, run: Run, scope: Scope
    ) -> None:
        """A datatype value against a datatype definition's root (its own rules, then kids)."""
        for constraint in root.definition.get("constraint", []):
            if self._runs(constraint, scope):
                run.add(
                    self.invariants.check(
                        constraint,
                        value,
                        item.path,
                        resource=scope.resource,
                        root_resource=scope.root,
                    )
                )
        for child in root.children.values():
            self._element(child, list(_items(child, value, item.path)), item.path, run, scope)

    def _type_profiles(self, node: ElementNode, type_code: str, scope: Scope) -> list[str]:
        """The definitions a datatype value is checked against (profiles on its type)."""
        urls: list[str] = []
        for type_ref in node.definition.get("type", []):
            if type_ref.get("code") == type_code:
                urls.extend(p for p in type_ref.get("profile", []) if isinstance(p, str))
        if type_code == "Extension":
            return urls  # extensions are checked by url in _extension
        if scope.base and not urls:
            urls.append(CORE + type_code)
        return urls

    def _element(
        self, node: ElementNode, items: list[Item], parent: str, run: Run, scope: Scope
    ) -> None:
        """All values of one element: cardinality, slicing, then each value."""
        _cardinality(node, len(items), parent, run)
        if node.name == "extension" or node.name == "modifierExtension":
            for item in items:
                self._extension(item, node, run, scope)
        if node.slices and node.definition.get("slicing"):
            self._sliced(node, items, parent, run, scope)
            return
        for item in items:
            self._typed(node, item, run, scope)

    def _typed(self, node: ElementNode, item: Item, run: Run, scope: Scope) -> None:
        """One value, after checking a choice variant's type is allowed here."""
        if item.type is not None and node.is_choice and item.type not in node.types:
            allowed = ", ".join(node.types)
            msg = f"The type '{item.type}' is not allowed here (allowed: {allowed})"
            run.add(_issue("error", "structure", msg, item.path))
            return
        self._node(node, item, run, scope)

    # slicing ---------------------------------------------------------------------------

    def _sliced(
        self, node: ElementNode, items: list[Item], parent: str, run: Run, scope: Scope
    ) -> None:
        """Assign values to slices by the discriminators, then check each slice."""
        from screening.fhir.slicing import assign_slices

        slicing = node.definition["slicing"]
        assigned, unmatched, order_issue = assign_slices(node, items, self, scope, run)
        for name, slice_node in node.slices.items():
            members = assigned.get(name, [])
            _cardinality(slice_node, len(members), parent, run, slice_name=name)
            for member in members:
                self._typed(slice_node, member, run, scope)
        closed = slicing.get("rules") == "closed"
        for item in unmatched:
            if closed:
                msg = (
                    f"This element does not match any known slice defined in the profile"
                    f" ({', '.join(node.slices)}) and slicing is closed"
                )
                run.add(_issue("error", "structure", msg, item.path))
            else:
                self._typed(node, item, run, scope)
        if order_issue is not None and slicing.get("ordered"):
            run.add(_issue("error", "structure", order_issue, parent))

    # extensions and references ------------------------------------------------------------

    def _extension(self, item: Item, node: ElementNode, run: Run, scope: Scope) -> None:
        """An extension against its definition (found by url), on the base pass."""
        value = item.value
        if not scope.base or not isinstance(value, dict):
            return
        url = value.get("url")
        if not isinstance(url, str):
            return
        definition = self.registry.get(url)
        if definition is None or definition.get("type") != "Extension":
            severity = "error" if url.startswith(CORE) else "warning"
            msg = f"The extension {url} is not known"
            run.add(_issue(severity, "structure", msg, item.path))
            return
        model = self.model(url)
        if model is not None:
            inner = Scope(scope.resource, scope.root, False)
            self._node_children(model.root, value, item, run, inner)
            self._extension_context(definition, item, node, run)

    def _extension_context(
        self, definition: dict[str, Any], item: Item, node: ElementNode, run: Run
    ) -> None:
        """Is the extension allowed on the element it sits on?"""
        from screening.fhir.slicing import extension_context_ok

        if not extension_context_ok(definition, node.path, item.path):
            contexts = ", ".join(c.get("expression", "?") for c in definition.get("context", []))
            msg = (
                f"The extension {definition.get('url')} is not allowed to be used at this"
                f" point (allowed: {contexts})"
            )
            run.add(_issue("error", "structure", msg, item.path))

    def _reference(self, node: ElementNode, item: Item, run: Run) -> None:
        """A reference's target type against the element's targetProfile list."""
        reference = item.value.get("reference")
        if not isinstance(reference, str):
            return
        allowed = target_types(node, self.registry)
        target = run.targets.get(reference)
        target_type = target.get("resourceType") if target else reference_type(reference)
        if not allowed or "Resource" in allowed or target_type is None:
            return
        if target_type not in allowed:
            msg = (
                f"Invalid Resource target type. Found {target_type}, but expected one of"
                f" ({', '.join(sorted(allowed))})"
            )
            run.add(_issue("error", "structure", msg, f"{item.path}"))

    def conforms(self, value: Any, url: str, scope: Scope) -> bool:
        """Does a value conform to a profile? (for `profile` discriminators)"""
        model = self.model(url)
        if model is None:
            return False
        trial = Run()
        if isinstance(value, dict) and "resourceType" in value:
            self._resource(value, value["resourceType"], trial, scope.root, (url,))
        else:
            self._node_children(
                model.root,
                value,
                Item(value, None, "", None),
                trial,
                Scope(scope.resource, scope.root, False),
            )
        return not any(i.is_error for i in trial.issues)


# helpers -----------------------------------------------------------------------------------


def _issue(severity: str, code: str, text: str, where: str | None) -> Issue:
    return Issue(severity, code, text, where)


def _cardinality(
    node: ElementNode, count: int, parent: str, run: Run, slice_name: str | None = None
) -> None:
    """Report too few or too many values of an element (or a slice of it)."""
    label = f"{node.path}:{slice_name}" if slice_name else node.path
    if count < node.min:
        msg = f"{label}: minimum required = {node.min}, but only found {count}"
        run.add(_issue("error", "structure", msg, parent))
    if node.max not in ("*", "") and count > int(node.max):
        msg = f"{label}: max allowed = {node.max}, but found {count}"
        run.add(_issue("error", "structure", msg, parent))


def _items(node: ElementNode, obj: dict[str, Any], parent: str) -> Iterator[Item]:
    """The values of `node` in `obj`: every choice variant, or the element's key."""
    if node.is_choice:
        base = node.name[:-3]
        for key in obj:
            if not key.startswith(base) or key == base:
                continue
            suffix = key[len(base) :]
            if not suffix[:1].isupper():
                continue
            type_code = _type_code(suffix, node)
            yield from _key_items(obj, key, type_code, parent)
        return
    yield from _key_items(obj, node.name, None, parent)


def _type_code(suffix: str, node: ElementNode) -> str:
    """`Quantity` -> `Quantity`, `String` -> `string` (primitive type codes are lower case)."""
    for code in node.types:
        if code[:1].upper() + code[1:] == suffix:
            return code
    lowered = suffix[:1].lower() + suffix[1:]
    return lowered if lowered in PRIMITIVE_TYPES else suffix


def _key_items(obj: dict[str, Any], key: str, type_code: str | None, parent: str) -> Iterator[Item]:
    value = obj.get(key)
    companion = obj.get("_" + key)
    if value is None and companion is None:
        return
    if isinstance(value, list) or isinstance(companion, list):
        values = value if isinstance(value, list) else [None] * len(companion or [])
        extras = companion if isinstance(companion, list) else [None] * len(values)
        for index, (one, extra) in enumerate(zip(values, extras, strict=False)):
            yield Item(one, extra, f"{parent}.{key}[{index}]", type_code)
        return
    yield Item(value, companion, f"{parent}.{key}", type_code)


def target_types(node: ElementNode, registry: Registry) -> set[str]:
    """Resource types a Reference element may point at (from targetProfile)."""
    allowed: set[str] = set()
    for type_ref in node.definition.get("type", []):
        if type_ref.get("code") != "Reference":
            continue
        for url in type_ref.get("targetProfile", []):
            sd = registry.get(url) if isinstance(url, str) else None
            if sd is not None:
                allowed.add(str(sd.get("type")))
            elif isinstance(url, str):
                allowed.add(url.rsplit("/", 1)[-1])
    return allowed


def reference_type(reference: str) -> str | None:
    """The resource type named by a literal reference (`Patient/1`, `http://x/Patient/1`)."""
    if reference.startswith(("#", "urn:")):
        return None
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2]
    return None


def _targets(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What a reference inside this resource can resolve to: Bundle entries and contained."""
    found: dict[str, dict[str, Any]] = {}
    if resource.get("resourceType") == "Bundle":
        for entry in resource.get("entry", []) or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                continue
            target = entry["resource"]
            if isinstance(entry.get("fullUrl"), str):
                found[entry["fullUrl"]] = target
            if isinstance(target.get("id"), str):
                found[f"{target.get('resourceType')}/{target['id']}"] = target
    for contained in resource.get("contained", []) or []:
        if isinstance(contained, dict) and isinstance(contained.get("id"), str):
            found["#" + contained["id"]] = contained
    return found

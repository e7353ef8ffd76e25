"""The profile validator: a resource against the base definition and every profile it claims.

The structural layer (`structure.py`) checks JSON shapes, unknown elements and primitive
formats once per resource. This layer walks the resource against the snapshot of each
StructureDefinition that applies (the core type, every `meta.profile`, any profile asked for,
and ImplementationGuide.global profiles) and checks cardinality, types, fixed and pattern
values, bounds, bindings, slicing, extensions, reference targets and invariants. The rules of
each element are compiled once (`validator_plan.Plan`); a profile pass only checks what the
profile adds to the core definition, and issues are de-duplicated across passes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from screening.fhir.datatypes import PRIMITIVE_TYPES, choice_type
from screening.fhir.fhirpath import InvariantRunner
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
from screening.fhir.validator_fhirpath import CHOICE_NAMES, CHOICE_SUFFIXES
from screening.fhir.validator_invariants import InvariantEngine, Where
from screening.fhir.validator_plan import CORE, Plan, Planner, target_types
from screening.fhir.validator_special import (
    check_special,
    extension_allowed_unknown,
    global_profiles,
)

__all__ = ["CORE", "PRIMITIVE_TYPES", "Item", "Run", "Scope", "Validator", "target_types"]


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


@dataclass(slots=True)
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
    conformance: dict[tuple[int, str], bool] = field(default_factory=dict)

    def add(self, issue: Issue | None) -> None:
        """Record an issue once (several profiles may find the same one)."""
        if issue is None:
            return
        key = (issue.severity, issue.diagnostics, location_key(issue.expression))
        if key not in self.seen:
            self.seen.add(key)
            self.issues.append(issue)


@dataclass(slots=True)
class Scope:
    """The resource an element belongs to, its %rootResource, and the pass."""

    resource: dict[str, Any]
    root: dict[str, Any]
    base: bool  # True on the pass against the core definition of the resource type
    bundle: dict[str, Any] | None = None
    where: Where = field(init=False)

    def __post_init__(self) -> None:
        self.where = Where(self.resource, self.root, self.bundle)

    def with_base(self, base: bool) -> Scope:
        """The same resources on another pass."""
        return self if base == self.base else Scope(self.resource, self.root, base, self.bundle)


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
        runner = (
            invariants if isinstance(invariants, InvariantRunner) else InvariantRunner(registry)
        )
        self.engine = InvariantEngine(runner)
        self.planner = Planner(self)
        self.resource_rules: dict[str, ResourceRules] = {}
        self.slice_cache: dict[ElementNode, Any] = {}  # compiled slice tests (slicing.py)
        self._values: dict[tuple[int, str], tuple[Issue, ...]] = {}
        self._models: dict[str, StructureModel | None] = {}
        self._globals: dict[str, tuple[str, ...]] | None = None
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
        path = resource["resourceType"]
        self._resource(resource, path, run, Scope(resource, resource, True), profiles)
        return run.issues

    def model(self, url: str) -> StructureModel | None:
        """The compiled snapshot of a StructureDefinition (generated when missing)."""
        found = self._models.get(url, self)
        if found is self:
            with self._lock:
                found = self._models[url] = self._compile(url)
        return found if isinstance(found, StructureModel) else None

    def _compile(self, url: str) -> StructureModel | None:
        sd = self.registry.get(url)
        if sd is None or sd.get("resourceType") != "StructureDefinition":
            return None
        if url.startswith(CORE) and sd.get("snapshot", {}).get("element"):
            shared = self.structure.models.model(url[len(CORE) :])
            if shared is not None and shared.url == url:
                return shared
        if not sd.get("snapshot", {}).get("element"):
            try:
                sd = self.snapshots.generate(sd)
            except (ValueError, KeyError, TypeError):
                return None
        try:
            return compile_structure(sd)
        except (KeyError, ValueError, IndexError):
            return None

    def _known_type(self, resource: dict[str, Any]) -> bool:
        return resource.get("resourceType") in self.structure.models.resource_types

    def global_profiles(self, type_name: str) -> tuple[str, ...]:
        """ImplementationGuide.global profiles for a resource type."""
        if self._globals is None:
            self._globals = global_profiles(self.registry)
        return self._globals.get(type_name, ())

    # resources -------------------------------------------------------------------------

    def _resource(
        self,
        resource: dict[str, Any],
        path: str,
        run: Run,
        scope: Scope,
        extra: tuple[str, ...] = (),
    ) -> None:
        """One resource against its core definition and the profiles that apply to it."""
        type_name = resource["resourceType"]
        meta = resource.get("meta")
        claimed = meta.get("profile", []) if isinstance(meta, dict) else []
        claimed = claimed if isinstance(claimed, list) else []
        urls = [CORE + type_name, *self.global_profiles(type_name)]
        urls += [u for u in (*claimed, *extra) if isinstance(u, str)]
        for url in dict.fromkeys(urls):
            self._profile_pass(resource, path, run, scope, url, claimed)
        for issue in check_special(self, resource, path):
            run.add(issue)
        rules = self.resource_rules.get(type_name)
        if rules is not None:
            for issue in rules.check(resource, path, run.targets):
                run.add(issue)

    def _profile_pass(
        self,
        resource: dict[str, Any],
        path: str,
        run: Run,
        scope: Scope,
        url: str,
        claimed: list[Any],
    ) -> None:
        """The resource against one definition (the core one, or a profile)."""
        type_name = resource["resourceType"]
        model = self.model(url)
        where = path
        if url in claimed:
            where = f"{path}.meta.profile[{claimed.index(url)}]"
        if model is None:
            run.add(_issue("error", "not-found", f"Profile '{url}' is not known", where))
        elif model.type != type_name:
            msg = f"Profile '{url}' is for {model.type}, not {type_name}"
            run.add(_issue("error", "invalid", msg, where))
        else:
            base = url == CORE + type_name
            plan = self.planner.plan(model.root, base)
            self._node(plan, Item(resource, None, path, None), run, scope.with_base(base))

    def _nested(
        self,
        value: dict[str, Any],
        plan: Plan,
        item: Item,
        run: Run,
        scope: Scope,
        profiles: tuple[str, ...] = (),
    ) -> None:
        """A resource inside another: contained (same root) or an entry / parameter; with the
        profiles the element states for it."""
        if not self._known_type(value):
            return
        if plan.key == "contained":
            inner = Scope(value, scope.root, True, scope.bundle)
        else:
            bundle = scope.resource if scope.resource.get("resourceType") == "Bundle" else None
            inner = Scope(value, value, True, bundle or scope.bundle)
        self._resource(value, item.path, run, inner, profiles)

    # elements --------------------------------------------------------------------------

    def check_node(self, node: ElementNode, item: Item, run: Run, scope: Scope) -> None:
        """One value against one element definition (used by slicing to try a slice)."""
        self._node(self.planner.plan(node, scope.base, True), item, run, scope)

    def _node(self, plan: Plan, item: Item, run: Run, scope: Scope) -> None:
        """One value against one element's plan, then its children."""
        value = item.value
        if value is None:
            return
        if plan.value_rules:
            self._value_rules(plan, item, run, scope)
        for invariant in plan.invariants:
            run.add(self.engine.check(invariant, value, item.path, scope.where))
        if plan.descend and isinstance(value, dict):
            self._children(plan, value, item, run, scope)

    def _value_rules(self, plan: Plan, item: Item, run: Run, scope: Scope) -> None:
        """Fixed and pattern values, bounds, bindings and reference targets of one value."""
        definition = plan.node.definition
        value = item.value
        type_code = item.type or plan.type_code
        if plan.fixed is not None:
            run.issues.extend(_new(run, check_fixed(definition, value, item.path, plan.fixed)))
        if plan.pattern is not None:
            found = check_pattern(definition, value, item.path, plan.pattern)
            run.issues.extend(_new(run, found))
        if plan.bounds:
            run.issues.extend(_new(run, check_bounds(definition, value, type_code, item.path)))
        if plan.binding is not None and type_code:
            found = self.bindings.check(plan.binding, value, type_code, item.path, plan.node.path)
            run.issues.extend(_new(run, found))
        if plan.targets is not None and type_code == "Reference" and isinstance(value, dict):
            self._reference(plan.targets, item, run, scope)
        if plan.target_profiles and type_code == "Reference" and isinstance(value, dict):
            self._reference_profiles(plan.target_profiles, item, run, scope)
        if plan.coding and type_code == "Coding":
            run.issues.extend(_new(run, self.bindings.check_coding(value, item.path)))
        if plan.special and type_code:
            from screening.fhir.validator_special import check_value

            run.issues.extend(_new(run, check_value(type_code, value, item.path)))

    def _children(
        self, plan: Plan, value: dict[str, Any], item: Item, run: Run, scope: Scope
    ) -> None:
        """The children of a complex value: inline in the snapshot, or from its type."""
        if plan.content_ref is not None:
            self._node(self.planner.plan(plan.content_ref, plan.base), item, run, scope)
            return
        if plan.inline:
            if "resourceType" in value and self._known_type(value):
                scope = Scope(value, scope.root, scope.base, scope.bundle)
            self._present(plan, value, item.path, run, scope)
            return
        type_code = item.type or plan.type_code
        if type_code is None:
            return
        if type_code == "Resource" or type_code in self.structure.models.resource_types:
            self._nested(value, plan, item, run, scope, plan.type_profiles.get(type_code, ()))
            return
        for url, root, base in self.planner.type_roots(plan, type_code):
            if root is None:
                run.add(_issue("error", "not-found", f"Profile '{url}' is not known", item.path))
            elif base and scope.base and self.planner.pure(root):
                self._remembered(root, value, item, run, scope)
            else:
                self._type_root(root, value, item, run, scope.with_base(base))

    def _remembered(
        self, root: Plan, value: dict[str, Any], item: Item, run: Run, scope: Scope
    ) -> None:
        """A datatype value whose issues depend on the value alone: walked once per value."""
        text = json.dumps(value, separators=(",", ":"))
        if '"extension"' in text:
            self._type_root(root, value, item, run, scope)
            return
        key = (id(root), text)
        found = self._values.get(key)
        if found is None:
            trial = Run(targets=run.targets)
            self._type_root(root, value, item, trial, scope)
            found = tuple(_relative(issue, item.path) for issue in trial.issues)
            if len(self._values) >= VALUE_MEMO_LIMIT:
                self._values.clear()
            self._values[key] = found
        for issue in found:
            run.add(_absolute(issue, item.path))

    def _type_root(
        self, root: Plan, value: dict[str, Any], item: Item, run: Run, scope: Scope
    ) -> None:
        """A datatype value against a datatype definition's root (its own rules, then kids)."""
        for invariant in root.invariants:
            run.add(self.engine.check(invariant, value, item.path, scope.where))
        if root.children:
            self._present(root, value, item.path, run, scope)

    def _present(
        self, plan: Plan, obj: dict[str, Any], parent: str, run: Run, scope: Scope
    ) -> None:
        """The children of `plan` present in `obj` (by JSON key), then the missing ones."""
        by_key = plan.by_key
        for key, raw in obj.items():
            hit = by_key.get(key)
            if hit is None:
                if plan.narrowed:
                    self._other_variant(plan, key, raw, parent, run)
                continue
            child, code, primitive = hit
            if key[0] == "_":
                if key[1:] in obj:
                    continue  # taken with its value
                items = _make_items(None, raw, key[1:], code, parent)
            else:
                companion = obj.get("_" + key) if primitive else None
                if child.simple and not isinstance(raw, list) and companion is None:
                    self._node(child, Item(raw, None, f"{parent}.{key}", code), run, scope)
                    continue
                items = _make_items(raw, companion, key, code, parent)
            if child.simple:
                for item in items:
                    self._node(child, item, run, scope)
            else:
                self._element(child, items, parent, run, scope)
        for child, keys in plan.required:
            if not any(k in obj for k in keys) and not (
                child.is_choice and _variant_in(child, obj)
            ):
                _cardinality(child, 0, parent, run)

    def _other_variant(self, plan: Plan, key: str, raw: Any, parent: str, run: Run) -> None:
        """A choice variant a profile does not allow (`valueString` where only Quantity is)."""
        key = key.removeprefix("_")
        for child in plan.narrowed:
            base = child.key
            size = len(base)
            if key.startswith(base) and key[size : size + 1].isupper():
                code = _type_code(key[size:], child)
                path = f"{parent}.{key}"
                allowed = ", ".join(child.types)
                msg = f"The type '{code}' is not allowed here (allowed: {allowed})"
                run.add(_issue("error", "structure", msg, path))
                return

    def _element(self, plan: Plan, items: list[Item], parent: str, run: Run, scope: Scope) -> None:
        """All values of one element: cardinality, slicing, then each value."""
        if plan.card:
            _cardinality(plan, len(items), parent, run)
        if plan.extension:
            for item in items:
                self._extension(item, plan, run, scope)
        if plan.slicing is not None:
            if self.planner.slicing_pure(plan) and not plan.extension:
                self._sliced_remembered(plan, items, parent, run, scope)
            else:
                self._sliced(plan, items, parent, run, scope)
            return
        for item in items:
            self._node(plan, item, run, scope)

    def _sliced_remembered(
        self, plan: Plan, items: list[Item], parent: str, run: Run, scope: Scope
    ) -> None:
        """Sliced values whose issues depend on the values alone (codings in categories):
        sliced once per distinct list of values, the issues reused at each place."""
        text = json.dumps([(i.type, i.value) for i in items], separators=(",", ":"))
        if '"extension"' in text or '"resourceType"' in text:
            self._sliced(plan, items, parent, run, scope)
            return
        key = (id(plan), text)
        found = self._values.get(key)
        if found is None:
            trial = Run(targets=run.targets)
            self._sliced(plan, items, parent, trial, scope)
            found = tuple(_relative(issue, parent) for issue in trial.issues)
            if len(self._values) >= VALUE_MEMO_LIMIT:
                self._values.clear()
            self._values[key] = found
        for issue in found:
            run.add(_absolute(issue, parent))

    def _typed(self, plan: Plan, item: Item, run: Run, scope: Scope) -> None:
        """One value, after checking a choice variant's type is allowed here."""
        types = plan.choice_types
        if types is not None and item.type is not None and item.type not in types:
            allowed = ", ".join(plan.types)
            msg = f"The type '{item.type}' is not allowed here (allowed: {allowed})"
            run.add(_issue("error", "structure", msg, item.path))
            return
        self._node(plan, item, run, scope)

    # slicing ---------------------------------------------------------------------------

    def _sliced(self, plan: Plan, items: list[Item], parent: str, run: Run, scope: Scope) -> None:
        """Assign values to slices by the discriminators, then check each slice."""
        from screening.fhir.slicing import assign_slices

        slicing = plan.slicing or {}
        assigned, unmatched, order_issue = assign_slices(plan.node, items, self, scope, run)
        for name, slice_plan in plan.slices:
            members = assigned.get(name, [])
            _cardinality(slice_plan, len(members), parent, run, slice_name=name)
            for member in members:
                self._typed(slice_plan, member, run, scope)
        closed = slicing.get("rules") == "closed"
        for item in unmatched:
            if closed:
                names = ", ".join(name for name, _ in plan.slices)
                msg = (
                    "This element does not match any known slice defined in the profile"
                    f" ({names}) and slicing is closed"
                )
                run.add(_issue("error", "structure", msg, item.path))
            else:
                self._typed(plan, item, run, scope)
        if order_issue is not None and slicing.get("ordered"):
            run.add(_issue("error", "structure", order_issue, parent))

    # extensions and references ------------------------------------------------------------

    def _extension(self, item: Item, plan: Plan, run: Run, scope: Scope) -> None:
        """An extension against its definition (found by url), on the base pass."""
        value = item.value
        if not isinstance(value, dict):
            return
        url = value.get("url")
        if not isinstance(url, str):
            return
        definition = self.registry.get(url)
        if definition is None or definition.get("type") != "Extension":
            if extension_allowed_unknown(url):
                msg = f"The extension {url} is not known, so its content is not checked"
                run.add(_issue("information", "structure", msg, item.path))
            else:
                msg = f"The extension {url} could not be found so is not allowed here"
                run.add(_issue("error", "structure", msg, item.path))
            return
        model = self.model(url)
        if model is not None:
            root = self.planner.plan(model.root, False)
            self._type_root(root, value, item, run, scope.with_base(False))
            self._extension_context(definition, item, plan, run)

    def _extension_context(
        self, definition: dict[str, Any], item: Item, plan: Plan, run: Run
    ) -> None:
        """Is the extension allowed on the element it sits on?"""
        from screening.fhir.slicing import extension_context_ok

        if not extension_context_ok(definition, plan.node.path, item.path):
            contexts = ", ".join(c.get("expression", "?") for c in definition.get("context", []))
            msg = (
                f"The extension {definition.get('url')} is not allowed to be used at this"
                f" point (allowed: {contexts})"
            )
            run.add(_issue("error", "structure", msg, item.path))

    def _reference(self, allowed: frozenset[str], item: Item, run: Run, scope: Scope) -> None:
        """A reference's target type against the element's targetProfile list."""
        reference = item.value.get("reference")
        if not isinstance(reference, str):
            return
        target = resolve(reference, scope, run)
        target_type = target.get("resourceType") if target else reference_type(reference)
        if target_type is None or target_type in allowed:
            return
        msg = (
            f"Invalid Resource target type. Found {target_type}, but expected one of"
            f" ({', '.join(sorted(allowed))})"
        )
        run.add(_issue("error", "structure", msg, item.path))

    def _reference_profiles(
        self, urls: tuple[str, ...], item: Item, run: Run, scope: Scope
    ) -> None:
        """A resolved target (contained, or in the Bundle) against the targetProfiles of its
        type; a target that does not resolve cannot be checked offline."""
        reference = item.value.get("reference")
        target = resolve(reference, scope, run) if isinstance(reference, str) else None
        if target is None or not isinstance(target.get("resourceType"), str):
            return
        target_type = target["resourceType"]
        candidates = [u for u in urls if (m := self.model(u)) is not None and m.type == target_type]
        if not candidates:
            return  # a type the element does not allow: the type check reports it
        if any(self._target_conforms(target, url, scope, run) for url in candidates):
            return
        msg = (
            f"The target of '{reference[:100]}' does not conform to any of the profiles the"
            f" reference requires ({', '.join(candidates)})"
        )
        run.add(_issue("error", "structure", msg, item.path))

    def _target_conforms(self, target: dict[str, Any], url: str, scope: Scope, run: Run) -> bool:
        """conforms(), once per (target, profile) and validation (cycles count as yes)."""
        key = (id(target), url)
        found = run.conformance.get(key)
        if found is None:
            run.conformance[key] = True  # while deciding: a reference cycle conforms
            found = run.conformance[key] = self.conforms(target, url, scope)
        return found

    def conforms(self, value: Any, url: str, scope: Scope) -> bool:
        """Does a value conform to a profile? (for `profile` discriminators)"""
        model = self.model(url)
        if model is None:
            return False
        trial = Run()
        if isinstance(value, dict) and "resourceType" in value:
            inner = Scope(value, value, True, scope.bundle)
            self._resource(value, value["resourceType"], trial, inner, (url,))
        else:
            root = self.planner.plan(model.root, url.startswith(CORE) and model.type in url)
            self._type_root(root, value, Item(value, None, "", None), trial, scope.with_base(False))
        return not any(i.is_error for i in trial.issues)


# helpers -----------------------------------------------------------------------------------


VALUE_MEMO_LIMIT = 8192


def _relative(issue: Issue, path: str) -> Issue:
    """An issue located relative to `path` (`~.coding[0]`), for reuse at other places."""
    where = issue.expression
    if where is not None and (where == path or where.startswith(path + ".")):
        return dataclasses.replace(issue, expression="~" + where[len(path) :])
    return issue


def _absolute(issue: Issue, path: str) -> Issue:
    """A remembered issue placed under `path` again."""
    where = issue.expression
    if where is not None and where.startswith("~"):
        return dataclasses.replace(issue, expression=path + where[1:])
    return issue


def _issue(severity: str, code: str, text: str, where: str | None) -> Issue:
    return Issue(severity, code, text, where)


_VARIANT = re.compile(r"\.([a-z][A-Za-z]*?)([A-Z][A-Za-z]*)(?=\.|\[|$)")


def location_key(expression: str | None) -> str | None:
    """A location with choice variants spelled one way (`value.ofType(Quantity)` for
    `valueQuantity`), so that one place written both ways is one place."""
    if expression is None or "." not in expression:
        return expression
    return _VARIANT.sub(_variant, expression)


def _variant(match: re.Match[str]) -> str:
    """`.valueQuantity` -> `.value.ofType(Quantity)` for the choice elements of R4."""
    base, suffix = match.group(1), match.group(2)
    if base in CHOICE_NAMES and suffix in CHOICE_SUFFIXES:
        return f".{base}.ofType({suffix})"
    return match.group(0)


def _new(run: Run, issues: list[Issue]) -> list[Issue]:
    """The issues not yet recorded (recording them as seen)."""
    fresh: list[Issue] = []
    for issue in issues:
        key = (issue.severity, issue.diagnostics, location_key(issue.expression))
        if key not in run.seen:
            run.seen.add(key)
            fresh.append(issue)
    return fresh


def _cardinality(
    plan: Plan, count: int, parent: str, run: Run, slice_name: str | None = None
) -> None:
    """Report too few or too many values of an element (or a slice of it)."""
    label = f"{plan.node.path}:{slice_name}" if slice_name else plan.node.path
    if count < plan.min:
        msg = f"{label}: minimum required = {plan.min}, but only found {count}"
        run.add(_issue("error", "structure", msg, parent))
    if plan.max is not None and count > plan.max:
        msg = f"{label}: max allowed = {plan.max}, but found {count}"
        run.add(_issue("error", "structure", msg, parent))


def _type_code(suffix: str, plan: Plan) -> str:
    """`Quantity` -> `Quantity`, `String` -> `string` (primitive type codes are lower case)."""
    for code in plan.types:
        if code[:1].upper() + code[1:] == suffix:
            return code
    return choice_type(suffix)


def _variant_in(plan: Plan, obj: dict[str, Any]) -> bool:
    """Whether `obj` holds any variant of a choice element (allowed here or not)."""
    base = plan.key
    size = len(base)
    return any(
        k.lstrip("_").startswith(base) and k.lstrip("_")[size : size + 1].isupper() for k in obj
    )


def _make_items(
    value: Any, companion: Any, key: str, type_code: str | None, parent: str
) -> list[Item]:
    """Items for one JSON key (one per array entry)."""
    if isinstance(value, list) or isinstance(companion, list):
        values = value if isinstance(value, list) else [None] * len(companion or [])
        extras = companion if isinstance(companion, list) else [None] * len(values)
        return [
            Item(one, extra, f"{parent}.{key}[{index}]", type_code)
            for index, (one, extra) in enumerate(zip(values, extras, strict=False))
        ]
    return [Item(value, companion, f"{parent}.{key}", type_code)]


@functools.lru_cache(maxsize=4096)
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


def resolve(reference: str, scope: Scope, run: Run) -> dict[str, Any] | None:
    """The resource a reference points at: contained in its container, or in the Bundle."""
    if reference.startswith("#"):
        for contained in _list(scope.root.get("contained")):
            if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                return contained
        return run.targets.get(reference)
    return run.targets.get(reference)


def _list(value: Any) -> list[Any]:
    """A JSON array, or nothing for any other value."""
    return value if isinstance(value, list) else []


def _targets(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What a reference inside this resource can resolve to: Bundle entries and contained."""
    found: dict[str, dict[str, Any]] = {}
    if resource.get("resourceType") == "Bundle":
        for entry in _list(resource.get("entry")):
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                continue
            target = entry["resource"]
            if isinstance(entry.get("fullUrl"), str):
                found[entry["fullUrl"]] = target
            if isinstance(target.get("id"), str):
                found[f"{target.get('resourceType')}/{target['id']}"] = target
    for contained in _list(resource.get("contained")):
        if isinstance(contained, dict) and isinstance(contained.get("id"), str):
            found["#" + contained["id"]] = contained
    return found

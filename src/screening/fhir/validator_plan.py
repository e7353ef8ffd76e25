"""The rules of one element, compiled once per (element, pass) for the validator's walk.

A `Plan` says what to check on the values of one ElementNode: cardinality, fixed and pattern
values, bounds, binding, reference targets, invariants, extensions, slicing, and how to reach
the rules below it. On a profile pass (any definition but the resource's own core type), rules
the core definition of the same element already states are left out: the base pass checks
them once. A plan whose element and descendants have nothing to check is inactive, and the
walk skips it without looking at its values.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from screening.fhir.datatypes import PRIMITIVE_TYPES
from screening.fhir.structure import ElementNode
from screening.fhir.validation_values import BINDING_SEVERITY
from screening.fhir.validator_invariants import Invariant

if TYPE_CHECKING:
    from screening.fhir.validator import Validator

CORE = "http://hl7.org/fhir/StructureDefinition/"
SPECIAL_TYPES = frozenset({"Attachment", "xhtml"})  # natively checked value rules (base pass)
BOUND_KEYS = ("maxLength", "minValue", "maxValue")


@dataclass(eq=False, slots=True)
class Plan:
    """What to check on the values of one element in one pass."""

    node: ElementNode
    base: bool
    key: str  # the JSON key (the base name `value` for a choice element)
    companion: str  # `_key`
    is_choice: bool
    is_slice: bool
    min: int
    max: int | None  # None: not limited (or not checked here)
    card: bool  # check the number of values
    types: tuple[str, ...]
    type_code: str | None  # the type when there is only one
    choice_types: frozenset[str] | None  # allowed variants, when narrower than the core's
    fixed: tuple[str, Any] | None = None
    pattern: tuple[str, Any] | None = None
    bounds: bool = False
    binding: dict[str, Any] | None = None
    targets: frozenset[str] | None = None  # resource types a Reference may point at
    target_profiles: tuple[str, ...] = ()  # profiles a resolved target must meet (one of)
    coding: bool = False  # codes must exist in their CodeSystem (base pass)
    special: bool = False  # Attachment / xhtml native checks (base pass)
    invariants: tuple[Invariant, ...] = ()
    type_profiles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extension: bool = False  # an extension element: each value checked by its url
    slicing: dict[str, Any] | None = None
    slices: tuple[tuple[str, Plan], ...] = ()
    inline: bool = False  # children come from the snapshot, not from the type
    content_ref: ElementNode | None = None  # `item.item`: walked with the referenced element
    children: tuple[Plan, ...] = ()
    by_key: dict[str, tuple[Plan, str | None, bool]] = field(default_factory=dict)
    required: tuple[tuple[Plan, tuple[str, ...]], ...] = ()  # must be present: (child, keys)
    narrowed: tuple[Plan, ...] = ()  # choice children whose other variants are errors
    type_roots: dict[str, tuple[tuple[str, Plan | None, bool], ...]] = field(default_factory=dict)
    simple: bool = False  # no cardinality, extension or slicing rule: values go straight on
    descend: bool = False  # dict values are walked into
    value_rules: bool = False
    active: bool = False


class Planner:
    """Builds and caches the plans of a validator's definitions."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator
        self._plans: dict[tuple[ElementNode, bool, bool], Plan] = {}
        self._building: set[tuple[ElementNode, bool, bool]] = set()
        self._pure: dict[tuple[ElementNode, bool, bool], bool] = {}
        self._sliced_pure: dict[tuple[ElementNode, bool, bool], bool] = {}
        self._lock = threading.RLock()

    def plan(self, node: ElementNode, base: bool, is_slice: bool = False) -> Plan:
        """The plan of one element for a pass (base: the resource's own core definition)."""
        key = (node, base, is_slice)
        found = self._plans.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._plans.get(key)
            if found is None:
                found = self._build(node, base, is_slice)
                self._plans[key] = found
            return found

    def root_active(self, url: str, base: bool) -> bool:
        """Whether values of the type or profile at `url` have anything to check."""
        model = self.validator.model(url)
        if model is None:
            return True  # reported as unknown when walked
        key = (model.root, base, False)
        if key in self._building:
            return True  # a recursive type: assume so
        return self.plan(model.root, base).active

    # building -----------------------------------------------------------------------------

    def type_roots(self, plan: Plan, code: str) -> tuple[tuple[str, Plan | None, bool], ...]:
        """The definitions a value of type `code` is walked against: (url, root plan or None
        when unknown, whether it is the type's core definition); inactive ones left out."""
        found = plan.type_roots.get(code)
        if found is not None:
            return found
        urls = plan.type_profiles.get(code, ())
        if not urls and plan.base and code not in PRIMITIVE_TYPES and code != "Extension":
            urls = (CORE + code,)
        roots: list[tuple[str, Plan | None, bool]] = []
        for url in urls:
            model = self.validator.model(url)
            base = url == CORE + code
            root = self.plan(model.root, base) if model is not None else None
            if root is None or root.active:
                roots.append((url, root, base))
        plan.type_roots[code] = result = tuple(roots)
        return result

    def pure(self, plan: Plan) -> bool:
        """Whether the issues of a value walked with this plan depend on the value alone
        (no reference targets, no invariant reading %resource, no nested resource), as long
        as the value holds no extension (their contexts depend on the place)."""
        key = (plan.node, plan.base, plan.is_slice)
        found = self._pure.get(key)
        if found is None:
            self._pure[key] = False  # while deciding (recursive types): assume not
            found = self._decide_pure(plan)
            self._pure[key] = found
        return found

    def slicing_pure(self, plan: Plan) -> bool:
        """Whether the issues of a sliced element's values depend on the values alone: its
        slices and members are pure and no discriminator resolves a reference."""
        key = (plan.node, plan.base, plan.is_slice)
        found = self._sliced_pure.get(key)
        if found is None:
            discriminators = (plan.slicing or {}).get("discriminator", [])
            resolves = any("resolve(" in str(d.get("path", "")) for d in discriminators)
            found = (
                not resolves
                and plan.targets is None
                and all(inv.by_value for inv in plan.invariants)
                and all(self.pure(slice_plan) for _, slice_plan in plan.slices)
                and all(self.pure(child) for child in plan.children)
                and not any(t == "Resource" or t == "Reference" for t in plan.types)
            )
            self._sliced_pure[key] = found
        return found

    def _decide_pure(self, plan: Plan) -> bool:
        """`pure` without the memo."""
        if plan.targets is not None or plan.slicing is not None:
            return False
        if any(not inv.by_value for inv in plan.invariants):
            return False
        for code in plan.types if not plan.inline else ():
            if code == "Resource" or code in self.validator.structure.models.resource_types:
                return False
            roots = self.type_roots(plan, code) if plan.descend else ()
            if any(root is None or not self.pure(root) for _, root, _ in roots):
                return False
        return all(self.pure(child) for child in plan.children)

    def _build(self, node: ElementNode, base: bool, is_slice: bool) -> Plan:
        """Compile one element's rules, then its children's."""
        self._building.add((node, base, is_slice))
        try:
            twin = None if base else self._twin(node)
            plan = self._own_rules(node, base, is_slice, twin)
            self._below(plan, twin)
        finally:
            self._building.discard((node, base, is_slice))
        plan.simple = not (plan.card or plan.extension or plan.slicing)
        plan.active = bool(
            plan.card
            or plan.choice_types
            or plan.value_rules
            or plan.invariants
            or plan.extension
            or plan.slicing
            or plan.descend
        )
        return plan

    def _twin(self, node: ElementNode) -> ElementNode | None:
        """The core definition's element at the same path (None when there is none)."""
        model = self.validator.structure.models.model(node.path.split(".", 1)[0])
        return model.by_path.get(node.path) if model is not None else None

    def _own_rules(
        self, node: ElementNode, base: bool, is_slice: bool, twin: ElementNode | None
    ) -> Plan:
        """The rules stated on the element itself."""
        definition = node.definition
        limited = node.max not in ("*", "") and node.is_array
        plan = Plan(
            node=node,
            base=base,
            key=node.name[:-3] if node.is_choice else node.name,
            companion="_" + node.name,
            is_choice=node.is_choice,
            is_slice=is_slice,
            min=node.min,
            max=int(node.max) if limited or (is_slice and node.max not in ("*", "")) else None,
            card=False,
            types=node.types,
            type_code=node.types[0] if len(node.types) == 1 else None,
            choice_types=self._choice_types(node, twin) if not base else None,
        )
        same_card = twin is not None and (twin.min, twin.max) == (node.min, node.max)
        plan.card = (plan.min > 0 or plan.max is not None) and (is_slice or not same_card)
        plan.fixed = _prefixed(definition, "fixed")
        plan.pattern = _prefixed(definition, "pattern")
        plan.bounds = any(_prefixed(definition, k) for k in BOUND_KEYS[1:]) or (
            "maxLength" in definition
        )
        plan.binding = self._binding(definition, twin)
        plan.targets = self._targets(node, twin)
        plan.target_profiles = _target_profiles(node, twin)
        plan.coding = base and "Coding" in node.types
        plan.special = base and any(t in SPECIAL_TYPES for t in node.types)
        plan.invariants = self._invariants(node, base, twin)
        plan.type_profiles = _type_profiles(node)
        plan.extension = base and node.name in ("extension", "modifierExtension")
        if node.slices and definition.get("slicing"):
            plan.slicing = definition["slicing"]
            plan.slices = tuple(
                (name, self.plan(slice_node, base, True))
                for name, slice_node in node.slices.items()
            )
        plan.value_rules = bool(
            plan.fixed
            or plan.pattern
            or plan.bounds
            or plan.binding
            or plan.targets
            or plan.target_profiles
            or plan.coding
            or plan.special
        )
        return plan

    def _choice_types(self, node: ElementNode, twin: ElementNode | None) -> frozenset[str] | None:
        """The allowed variants of a choice element, when a profile narrowed them."""
        if not node.is_choice or (twin is not None and set(twin.types) == set(node.types)):
            return None
        return frozenset(node.types)

    def _binding(
        self, definition: dict[str, Any], twin: ElementNode | None
    ) -> dict[str, Any] | None:
        """The binding to check (none for example bindings or the core's own one)."""
        binding = definition.get("binding")
        if not isinstance(binding, dict) or not isinstance(binding.get("valueSet"), str):
            return None
        if binding.get("strength") not in BINDING_SEVERITY:
            return None
        if twin is not None:
            core = twin.definition.get("binding") or {}
            same = (core.get("strength"), core.get("valueSet"))
            if same == (binding.get("strength"), binding.get("valueSet")):
                return None
        return binding

    def _targets(self, node: ElementNode, twin: ElementNode | None) -> frozenset[str] | None:
        """Reference target types to check (none when any resource will do)."""
        if "Reference" not in node.types:
            return None
        allowed = frozenset(target_types(node, self.validator))
        if not allowed or "Resource" in allowed:
            return None
        if twin is not None and frozenset(target_types(twin, self.validator)) == allowed:
            return None
        return allowed

    def _invariants(
        self, node: ElementNode, base: bool, twin: ElementNode | None
    ) -> tuple[Invariant, ...]:
        """Constraints to run: all on the base pass, only a profile's own on a profile pass."""
        core_keys = {c.get("key") for c in (twin.definition.get("constraint", []) if twin else [])}
        found: list[Invariant] = []
        for constraint in node.definition.get("constraint", []):
            if not base and (
                constraint.get("key") in core_keys or self._from_core_type(constraint)
            ):
                continue
            compiled = self.validator.engine.compile(constraint)
            if compiled is not None:
                found.append(compiled)
        return tuple(found)

    def _from_core_type(self, constraint: dict[str, Any]) -> bool:
        """Whether a constraint belongs to a core type's own definition (not a profile)."""
        source = constraint.get("source")
        if not isinstance(source, str) or not source.startswith(CORE):
            return False
        sd = self.validator.registry.get(source)
        return sd is not None and sd.get("derivation") != "constraint"

    def _below(self, plan: Plan, twin: ElementNode | None) -> None:
        """Children plans (inline), or whether the value's type has rules of its own."""
        node = plan.node
        if not node.children and node.content_reference:
            target = self.validator.structure.models.node(node.content_reference)
            if target is not None:
                plan.content_ref = target  # planned when walked: the reference may be a cycle
                plan.descend = True
                return
        inline = bool(node.children) and not (node.is_choice and len(node.types) > 1)
        if inline:
            plan.inline = True
            kids = (self.plan(child, plan.base) for child in node.children.values())
            plan.children = tuple(kid for kid in kids if kid.active)
            plan.by_key, plan.required = _index(plan.children)
            plan.narrowed = tuple(c for c in plan.children if c.choice_types is not None)
            plan.descend = bool(plan.children)
            return
        plan.descend = any(self._type_active(plan, code) for code in node.types)

    def _type_active(self, plan: Plan, code: str) -> bool:
        """Whether values of one of the element's types need walking into."""
        if code in PRIMITIVE_TYPES:
            return False
        if code == "Resource" or code in self.validator.structure.models.resource_types:
            return True
        if code == "Extension":
            return False  # extensions are walked by their url (see Validator._extension)
        urls = plan.type_profiles.get(code, ())
        if urls:
            return True
        return plan.base and self.root_active(CORE + code, True)


def _index(
    children: tuple[Plan, ...],
) -> tuple[dict[str, tuple[Plan, str | None, bool]], tuple[tuple[Plan, tuple[str, ...]], ...]]:
    """Children by the JSON keys their values use (`valueQuantity`, `_birthDate`), with the
    type of a choice variant and whether it is primitive; and the children that must be
    present, with their keys."""
    by_key: dict[str, tuple[Plan, str | None, bool]] = {}
    required: list[tuple[Plan, tuple[str, ...]]] = []
    for child in children:
        keys: list[str] = []
        if not child.is_choice:
            primitive = all(t in PRIMITIVE_TYPES for t in child.types) and bool(child.types)
            by_key[child.key] = by_key[child.companion] = (child, None, primitive)
            keys = [child.key, child.companion]
        for code in child.node.types if child.is_choice else ():
            key = child.key + code[:1].upper() + code[1:]
            by_key[key] = by_key["_" + key] = (child, code, code in PRIMITIVE_TYPES)
            keys += [key, "_" + key]
        if child.card and child.min > 0:
            required.append((child, tuple(keys)))
    return by_key, tuple(required)


def _prefixed(definition: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    """The `fixed[x]` / `pattern[x]` / `minValue[x]` entry of a definition, if any."""
    size = len(prefix)
    for key, value in definition.items():
        if key.startswith(prefix) and key[size : size + 1].isupper():
            return key, value
    return None


def _type_profiles(node: ElementNode) -> dict[str, tuple[str, ...]]:
    """Profiles stated on the element's types, by type code."""
    found: dict[str, tuple[str, ...]] = {}
    for type_ref in node.definition.get("type", []):
        profiles = tuple(p for p in type_ref.get("profile", []) if isinstance(p, str))
        if profiles:
            found[str(type_ref.get("code"))] = profiles
    return found


def target_types(node: ElementNode, validator: Validator) -> set[str]:
    """Resource types a Reference element may point at (from targetProfile)."""
    allowed: set[str] = set()
    for type_ref in node.definition.get("type", []):
        if type_ref.get("code") != "Reference":
            continue
        for url in type_ref.get("targetProfile", []):
            if not isinstance(url, str):
                continue
            sd = validator.registry.get(url)
            allowed.add(str(sd.get("type")) if sd is not None else url.rsplit("/", 1)[-1])
    return allowed


def _target_profiles(node: ElementNode, twin: ElementNode | None) -> tuple[str, ...]:
    """The profiles (not core types) a Reference's resolved target must conform to, when a
    profile states them (none when the core element states the same)."""

    def profiles(element: ElementNode) -> tuple[str, ...]:
        found = []
        for type_ref in element.definition.get("type", []):
            if type_ref.get("code") == "Reference":
                found += [u for u in type_ref.get("targetProfile", []) if isinstance(u, str)]
        return tuple(sorted(u for u in set(found) if not u.startswith(CORE)))

    own = profiles(node)
    if not own or (twin is not None and profiles(twin) == own):
        return ()
    return own

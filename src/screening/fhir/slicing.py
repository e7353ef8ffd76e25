"""Slicing: which slice each value of a sliced element belongs to, by its discriminators.

The tests of each slice are compiled once (`SliceTests`), as the Java validator builds them:
per discriminator, the slice's element at the discriminator path gives the test. A `value` or
`pattern` discriminator matches the element's fixed or pattern value, or its required binding
(membership), or absence when its max is 0; a discriminator the slice says nothing about is
left out, and a slice for which no discriminator says anything cannot be evaluated (an error,
and no value matches it). `type`, `profile` and `exists` test the type, the conformance to a
profile and the presence of the value at the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from screening.fhir.outcome import Issue
from screening.fhir.structure import ElementNode
from screening.fhir.validation_values import matches_pattern, values_equal

if TYPE_CHECKING:
    from screening.fhir.validator import Item, Run, Scope, Validator

_STEP = re.compile(r"(extension|ofType|as|resolve)\(([^)]*)\)|\$this|[^.()]+")
ANY_CONTEXT = frozenset({"Element", "Resource", "DomainResource", "Base", "BackboneElement"})

Test = Callable[["Item", "Validator", "Scope", "Run"], bool]


@dataclass(frozen=True, slots=True)
class SliceTests:
    """The compiled tests of one slice (None: the slice cannot be evaluated)."""

    name: str
    tests: tuple[Test, ...] | None
    problem: str


def assign_slices(
    node: ElementNode, items: list[Item], validator: Validator, scope: Scope, run: Run
) -> tuple[dict[str, list[Item]], list[Item], str | None]:
    """(values per slice, values in no slice, an ordering problem if any)."""
    slices = compiled_slices(node, validator)
    names = [s.name for s in slices]
    assigned: dict[str, list[Item]] = {}
    unmatched: list[Item] = []
    positions: list[int] = []
    for item in items:
        index = _first_match(slices, item, validator, scope, run)
        if index is None:
            unmatched.append(item)
            positions.append(len(names))
        else:
            assigned.setdefault(names[index], []).append(item)
            positions.append(index)
    order = None
    if positions != sorted(positions):
        order = f"The values of {node.path} are not in the order of the slices ({', '.join(names)})"
    return assigned, unmatched, order


def _first_match(
    slices: list[SliceTests], item: Item, validator: Validator, scope: Scope, run: Run
) -> int | None:
    """The index of the first slice the value belongs to."""
    for index, tests in enumerate(slices):
        if tests.tests is None:
            text = f"Slicing cannot be evaluated: {tests.problem}"
            run.add(Issue("error", "processing", text, item.path))
            continue
        if all(test(item, validator, scope, run) for test in tests.tests):
            return index
    return None


def compiled_slices(node: ElementNode, validator: Validator) -> list[SliceTests]:
    """The tests of every slice of a sliced element (compiled once per validator)."""
    cache: dict[ElementNode, list[SliceTests]] = validator.slice_cache
    found = cache.get(node)
    if found is None:
        discriminators = node.definition["slicing"].get("discriminator", []) or []
        found = [
            _compile_slice(name, slice_node, discriminators, validator)
            for name, slice_node in node.slices.items()
        ]
        cache[node] = found
    return found


def _compile_slice(
    name: str, slice_node: ElementNode, discriminators: list[dict[str, Any]], validator: Validator
) -> SliceTests:
    """A slice's tests, one per discriminator that says something about it."""
    if not discriminators:
        return SliceTests(name, (_conformance_test(slice_node),), "")
    tests = [_compile_discriminator(slice_node, d, validator) for d in discriminators]
    usable = tuple(t for t in tests if t is not None)
    if not usable:
        paths = ", ".join(str(d.get("path")) for d in discriminators)
        problem = (
            f"Could not match discriminator ({paths}) for slice {slice_node.id}: the"
            " discriminator does not have fixed value, binding or existence assertions"
        )
        return SliceTests(name, None, problem)
    return SliceTests(name, usable, "")


def _conformance_test(slice_node: ElementNode) -> Test:
    """Without discriminators: the value belongs to the slice when it conforms to it."""

    def conforms(item: Item, validator: Validator, scope: Scope, run: Run) -> bool:
        from screening.fhir.validator import Run as TrialRun

        trial = TrialRun(targets=run.targets)
        validator.check_node(slice_node, item, trial, scope)
        return not any(i.is_error for i in trial.issues)

    return conforms


def _compile_discriminator(
    slice_node: ElementNode, disc: dict[str, Any], validator: Validator
) -> Test | None:
    """The test of one discriminator for one slice (None when the slice says nothing)."""
    kind, path = disc.get("type"), str(disc.get("path", "$this"))
    steps = _steps(path)
    candidates = _nodes_at(slice_node, steps)
    target = candidates[0] if candidates else None
    if kind in ("value", "pattern"):
        return _value_test(slice_node, candidates, steps)
    if kind == "exists":
        return _exists_test(target, steps)
    if kind == "type":
        return _type_test(target or slice_node, steps, validator)
    if kind == "profile":
        return _profile_test(target or slice_node, steps)
    return None


def _value_test(
    slice_node: ElementNode, candidates: list[ElementNode], steps: list[str]
) -> Test | None:
    """`value` / `pattern`: fixed or pattern values, else a required binding, else max 0."""
    options: list[ElementNode | None] = [*candidates] if candidates else [None]
    expected = [e for e in (_expected_value(slice_node, c, steps) for c in options) if e]
    if expected:
        tests = [
            _fixed_test(steps, v) if k == "fixed" else _pattern_test(steps, v) for k, v in expected
        ]
        if len(tests) == 1:
            return tests[0]
        return lambda item, validator, scope, run: any(
            t(item, validator, scope, run) for t in tests
        )
    for candidate in candidates:
        if candidate.max == "0":
            return lambda item, validator, scope, run: not _values_at(item, steps, run)
        binding = candidate.definition.get("binding") or {}
        if binding.get("strength") == "required" and isinstance(binding.get("valueSet"), str):
            return _binding_test(steps, binding["valueSet"], candidate.types)
    return None


def _fixed_test(steps: list[str], wanted: Any) -> Test:
    """Some value at the path equals the fixed value."""
    return lambda item, validator, scope, run: any(
        values_equal(wanted, v) for v in _values_at(item, steps, run)
    )


def _pattern_test(steps: list[str], wanted: Any) -> Test:
    """Some value at the path holds everything the pattern holds."""
    return lambda item, validator, scope, run: any(
        matches_pattern(v, wanted) for v in _values_at(item, steps, run)
    )


def _binding_test(steps: list[str], valueset: str, types: tuple[str, ...]) -> Test:
    """Some value at the path has a code in the required value set."""
    type_code = types[0] if len(types) == 1 else "CodeableConcept"

    def member(item: Item, validator: Validator, scope: Scope, run: Run) -> bool:
        binding = {"strength": "required", "valueSet": valueset}
        for value in _values_at(item, steps, run):
            found = validator.bindings.check(binding, value, type_code, "", "")
            if not any(i.is_error or i.severity == "information" for i in found):
                return True
        return False

    return member


def _exists_test(target: ElementNode | None, steps: list[str]) -> Test:
    """`exists`: the slice requires (min > 0) or forbids (max 0) a value at the path."""
    wanted = target is not None and target.min > 0
    return lambda item, validator, scope, run: bool(_values_at(item, steps, run)) == wanted


def _type_test(target: ElementNode, steps: list[str], validator: Validator) -> Test:
    """`type`: the value's type (or the referenced resource's) is one the slice allows."""
    if steps and steps[-1] == "resolve()":
        return _target_type_test(target, steps)
    wanted = set(target.types)

    def typed(item: Item, validator: Validator, scope: Scope, run: Run) -> bool:
        if steps in ([], ["$this"]) and item.type is not None:
            return item.type in wanted
        for value in _values_at(item, steps, run):
            kind = value.get("resourceType") if isinstance(value, dict) else None
            if isinstance(kind, str) and (kind in wanted or "Resource" in wanted):
                return True
        return False

    return typed


def _target_type_test(target: ElementNode, steps: list[str]) -> Test:
    """`type` on `resolve()`: the referenced resource's type, from the target or the text."""

    def typed(item: Item, validator: Validator, scope: Scope, run: Run) -> bool:
        from screening.fhir.validator import reference_type, target_types

        wanted = target_types(target, validator)
        values = _values_at(item, steps, run)
        if values:
            return any(isinstance(v, dict) and v.get("resourceType") in wanted for v in values)
        references = [v for v in _values_at(item, steps[:-1], None) if isinstance(v, dict)]
        return any(reference_type(str(r.get("reference", ""))) in wanted for r in references)

    return typed


def _profile_test(target: ElementNode, steps: list[str]) -> Test:
    """`profile`: the value (or the referenced resource) conforms to a profile of the slice."""
    wants_target = bool(steps) and steps[-1] == "resolve()"
    key = "targetProfile" if wants_target else "profile"
    urls = [
        u
        for type_ref in target.definition.get("type", [])
        for u in type_ref.get(key, [])
        if isinstance(u, str)
    ]

    def conforms(item: Item, validator: Validator, scope: Scope, run: Run) -> bool:
        values = _values_at(item, steps, run)
        return any(validator.conforms(v, url, scope) for v in values for url in urls)

    return conforms


def _expected_value(
    slice_node: ElementNode, target: ElementNode | None, steps: list[str]
) -> tuple[str, Any] | None:
    """The fixed or pattern value a slice demands at the discriminator path."""
    if target is not None:
        for key, value in target.definition.items():
            if key.startswith("fixed") and key[5:6].isupper():
                return "fixed", value
            if key.startswith("pattern") and key[7:8].isupper():
                return "pattern", value
    if steps == ["url"] and "Extension" in slice_node.types:
        profiles = _type_profiles(slice_node, "Extension")
        if profiles:
            return "fixed", profiles[0]
    return None


def _type_profiles(node: ElementNode, code: str) -> list[str]:
    return [
        p
        for t in node.definition.get("type", [])
        if t.get("code") == code
        for p in t.get("profile", [])
        if isinstance(p, str)
    ]


def _steps(path: str) -> list[str]:
    """Split a discriminator path into steps, keeping `extension('a.b')` whole."""
    return [m.group(0) for m in _STEP.finditer(path) if m.group(0) != "$this"]


def _nodes_at(slice_node: ElementNode, steps: list[str]) -> list[ElementNode]:
    """Elements of the slice's definition at the discriminator path; a path through a
    sliced element also reaches into its slices (where the fixed values often sit)."""
    nodes = [slice_node]
    for step in steps:
        if step.startswith(("ofType(", "as(")) or step == "resolve()":
            continue
        found: list[ElementNode] = []
        for node in nodes:
            if step.startswith("extension("):
                url = step[len("extension(") : -1].strip("'\"")
                ext = node.children.get("extension")
                hit = _extension_slice(ext, url) if ext else None
            else:
                hit = node.children.get(step) or _choice_child(node, step)
            if hit is not None:
                found.append(hit)
                found.extend(hit.slices.values())
        nodes = found
    return nodes


def _choice_child(node: ElementNode, step: str) -> ElementNode | None:
    for name, child in node.children.items():
        if child.is_choice and step.startswith(name[:-3]):
            return child
    return None


def _extension_slice(ext: ElementNode, url: str) -> ElementNode | None:
    for slice_node in ext.slices.values():
        if url in _type_profiles(slice_node, "Extension"):
            return slice_node
    return None


def _values_at(item: Item, steps: list[str], run: Run | None) -> list[Any]:
    """The instance values at the discriminator path below one value."""
    values: list[Any] = [item.value] if item.value is not None else []
    for step in steps:
        values = [found for value in values for found in _step(value, step, run)]
    return values


def _step(value: Any, step: str, run: Run | None) -> list[Any]:
    if step == "resolve()":
        ref = value.get("reference") if isinstance(value, dict) else None
        target = run.targets.get(ref) if isinstance(ref, str) and run else None
        return [target] if target is not None else []
    if step.startswith(("ofType(", "as(")):
        return [value]
    if not isinstance(value, dict):
        return []
    if step.startswith("extension("):
        url = step[len("extension(") : -1].strip("'\"")
        extensions = value.get("extension")
        if not isinstance(extensions, list):
            return []
        return [e for e in extensions if isinstance(e, dict) and e.get("url") == url]
    found = value.get(step)
    if found is None:
        found = next(
            (v for k, v in value.items() if k.startswith(step) and k[len(step) :][:1].isupper()),
            None,
        )
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def extension_context_ok(definition: dict[str, Any], node_path: str, instance_path: str) -> bool:
    """Is an extension allowed where it is used (its `context` list)?"""
    contexts = definition.get("context") or []
    if not contexts:
        return True
    host_node = node_path.rsplit(".", 1)[0]
    host_instance = re.sub(r"\[\d+\]|\.ofType\([^)]*\)", "", instance_path).rsplit(".", 1)[0]
    for context in contexts:
        expression = str(context.get("expression", ""))
        if context.get("type") != "element" or expression in ANY_CONTEXT:
            return True
        if expression in (host_node, host_instance) or host_instance.endswith("." + expression):
            return True
        if host_node == expression.split(".", 1)[0] and "." not in host_node:
            return "." not in expression
    return False

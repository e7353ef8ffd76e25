"""Slicing: which slice each value of a sliced element belongs to, by its discriminators."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from screening.fhir.structure import ElementNode
from screening.fhir.validation_values import matches_pattern

if TYPE_CHECKING:
    from screening.fhir.validator import Item, Run, Scope, Validator

_STEP = re.compile(r"(extension|ofType|as|resolve)\(([^)]*)\)|\$this|[^.()]+")
ANY_CONTEXT = frozenset({"Element", "Resource", "DomainResource", "Base", "BackboneElement"})


def assign_slices(
    node: ElementNode, items: list[Item], validator: Validator, scope: Scope, run: Run
) -> tuple[dict[str, list[Item]], list[Item], str | None]:
    """(values per slice, values in no slice, an ordering problem if any)."""
    discriminators = node.definition["slicing"].get("discriminator", [])
    names = list(node.slices)
    assigned: dict[str, list[Item]] = {}
    unmatched: list[Item] = []
    positions: list[int] = []
    for item in items:
        name = next(
            (
                n
                for n in names
                if _matches(node.slices[n], item, discriminators, validator, scope, run)
            ),
            None,
        )
        if name is None:
            unmatched.append(item)
            positions.append(len(names))
        else:
            assigned.setdefault(name, []).append(item)
            positions.append(names.index(name))
    order = None
    if positions != sorted(positions):
        order = f"The values of {node.path} are not in the order of the slices ({', '.join(names)})"
    return assigned, unmatched, order


def _matches(
    slice_node: ElementNode,
    item: Item,
    discriminators: list[dict[str, Any]],
    validator: Validator,
    scope: Scope,
    run: Run,
) -> bool:
    """Does a value belong to a slice? Without discriminators: does it conform to it?"""
    if not discriminators:
        return _conforms_to_slice(slice_node, item, validator, scope)
    return all(_discriminator(slice_node, item, d, validator, scope, run) for d in discriminators)


def _conforms_to_slice(
    slice_node: ElementNode, item: Item, validator: Validator, scope: Scope
) -> bool:
    from screening.fhir.validator import Run as TrialRun

    trial = TrialRun(targets={})
    validator._node(slice_node, item, trial, scope)
    return not any(i.is_error for i in trial.issues)


def _discriminator(
    slice_node: ElementNode,
    item: Item,
    disc: dict[str, Any],
    validator: Validator,
    scope: Scope,
    run: Run,
) -> bool:
    kind, path = disc.get("type"), str(disc.get("path", "$this"))
    steps = _steps(path)
    candidates = _nodes_at(slice_node, steps)
    target = candidates[0] if candidates else None
    values = _values_at(item, steps, run)
    if kind == "exists":
        wanted = target is not None and target.min > 0
        return bool(values) == wanted if target is not None else not values
    if kind in ("value", "pattern"):
        options: list[ElementNode | None] = [*candidates] if candidates else [None]
        return any(_value_matches(slice_node, c, steps, values) for c in options)
    if kind == "type" and steps and steps[-1] == "resolve()":
        return _target_type_matches(target or slice_node, item, steps, values, validator)
    if kind == "type":
        return _type_matches(target or slice_node, item, steps, values)
    if kind == "profile":
        return _profile_matches(target or slice_node, values, validator, scope, steps)
    return False


def _value_matches(
    slice_node: ElementNode, target: ElementNode | None, steps: list[str], values: list[Any]
) -> bool:
    expected = _expected_value(slice_node, target, steps)
    if expected is None:
        return False
    kind, wanted = expected
    if kind == "fixed":
        return any(v == wanted for v in values)
    return any(matches_pattern(v, wanted) for v in values)


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


def _type_matches(target: ElementNode, item: Item, steps: list[str], values: list[Any]) -> bool:
    wanted = set(target.types)
    if steps in ([], ["$this"]) and item.type is not None:
        return item.type in wanted
    for value in values:
        kind = value.get("resourceType") if isinstance(value, dict) else None
        if isinstance(kind, str) and (kind in wanted or "Resource" in wanted):
            return True
    return False


def _target_type_matches(
    target: ElementNode, item: Item, steps: list[str], values: list[Any], validator: Validator
) -> bool:
    """`type` on `resolve()`: the referenced resource's type, from the target or the text."""
    from screening.fhir.validator import reference_type, target_types

    wanted = target_types(target, validator.registry)
    if values:
        return any(isinstance(v, dict) and v.get("resourceType") in wanted for v in values)
    references = [v for v in _values_at(item, steps[:-1], None) if isinstance(v, dict)]
    return any(reference_type(str(r.get("reference", ""))) in wanted for r in references)


def _profile_matches(
    target: ElementNode, values: list[Any], validator: Validator, scope: Scope, steps: list[str]
) -> bool:
    wants_target = bool(steps) and steps[-1] == "resolve()"
    urls: list[str] = []
    for type_ref in target.definition.get("type", []):
        key = "targetProfile" if wants_target else "profile"
        urls.extend(u for u in type_ref.get(key, []) if isinstance(u, str))
    return any(validator.conforms(v, url, scope) for v in values for url in urls)


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
        return [
            e
            for e in value.get("extension", []) or []
            if isinstance(e, dict) and e.get("url") == url
        ]
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

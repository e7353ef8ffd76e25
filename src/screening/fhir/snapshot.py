"""StructureDefinition snapshot generation from a differential, fully offline.

Does the job of the HL7 Java `ProfileUtilities.generateSnapshot` for constraint profiles
(https://hl7.org/fhir/R4/profiling.html): the base snapshot is copied, then each differential
element is located in it (by id, else by path and slice name) and merged in. Locating an
element may first dive into a complex type (insert that datatype's or type profile's children,
or the children a `contentReference` points at), create a slice (a copy of the sliced element
as the base defined it, with the children the base had, min 0, no slicing), or turn a
type-renamed choice (`Observation.valueQuantity`) into a type slice
`Observation.value[x]:valueQuantity` of a `value[x]` restricted to the renamed types.

Where the official R4 snapshots (made by the Java tool) show a rule, it is followed, so the core
package's derived profiles regenerate identically:
- inside a slice a type-renamed choice only narrows `value[x]` (the `bp` components);
- a differential type with a profile (an extension, SimpleQuantity) starts the element from the
  profile's root (text, constraints, flags) keeping its own id, cardinality, values, binding;
  so an extension slice keeps the cardinality the slice gives, not the extension's root one;
- a new slice of an element the base had already sliced gets its datatype's children at once
  unless it is the last differential element (`elementdefinition-de`); other slices, e.g.
  extension slices of a resource, stay unexpanded unless the differential dives into them.
Not followed: a slice name on an element nobody sliced (not an extension or choice) where Java
renames the element itself; here the element stays and gets an open slicing.

Generation is deterministic and `generate` is pure; `snapshot_for(url)` caches by url and
version and registers the result. Snapshots of bases and type profiles that lack one are
generated on demand (cached the same way, not registered), with cycle protection.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from screening.fhir.packages import Registry, Resource

Element = dict[str, Any]

EXTENSION_SLICING: dict[str, Any] = {
    "discriminator": [{"type": "value", "path": "url"}],
    "ordered": False,
    "rules": "open",
}
TYPE_SLICING: dict[str, Any] = {
    "discriminator": [{"type": "type", "path": "$this"}],
    "ordered": False,
    "rules": "closed",
}
OPEN_SLICING: dict[str, Any] = {"ordered": False, "rules": "open"}
_INLINE_TYPES = frozenset({"Element", "BackboneElement"})  # children are inline, not from a type

_TEXT_KEYS = frozenset({"short", "definition", "comment", "requirements", "label"})
_CHOICE_PREFIXES = ("fixed", "pattern", "minValue", "maxValue", "defaultValue")
_NOT_MERGED = frozenset({"id", "path", "base"})
# A type profile's root replaces an element but for these (and the choice-prefixed ones).
_TEMPLATE_SKIPPED = frozenset({"id", "path", "sliceName", "base", "constraint"})
_TEMPLATE_KEPT = frozenset(
    {"id", "path", "sliceName", "base", "label", "min", "max", "maxLength", "mustSupport"}
    | {"binding", "fixed", "pattern", "minValue", "maxValue", "example", "code", "slicing"}
    | {"contentReference", "representation", "sliceIsConstraining"}
)

# The order of ElementDefinition properties in FHIR JSON (choice prefixes match `fixedUri` &c.).
_KEY_ORDER = [
    *("id", "extension", "modifierExtension", "path", "representation", "sliceName"),
    *("sliceIsConstraining", "label", "code", "slicing", "short", "definition", "comment"),
    *("requirements", "alias", "min", "max", "base", "contentReference", "type"),
    *("defaultValue", "meaningWhenMissing", "orderMeaning", "fixed", "pattern", "example"),
    *("minValue", "maxValue", "maxLength", "condition", "constraint", "mustSupport"),
    *("isModifier", "isModifierReason", "isSummary", "binding", "mapping"),
]
_RANK = {key: index for index, key in enumerate(_KEY_ORDER)}


class SnapshotError(ValueError):
    """A snapshot cannot be generated: unknown base or type, or a bad differential."""


# --------------------------------------------------------------------------- working snapshot


@dataclass(slots=True)
class _Origin:
    """Where a working element came from: its pre-differential state and source layer."""

    element: Element  # the element before this profile's differential touched it
    layer: int  # 0 = the base snapshot; each dive into a type adds a layer
    source: str  # url of the StructureDefinition it was copied from


class _Work:
    """The snapshot being built: ordered elements plus their origins, by element id."""

    def __init__(self, base: Resource) -> None:
        self.url = str(base.get("url", ""))
        self.elements: list[Element] = []
        self.by_id: dict[str, Element] = {}
        self.origin: dict[str, _Origin] = {}
        self.layers = 0
        self.type_sliced: set[str] = set()  # choices sliced by the type-renaming shortcut
        self.eager: set[str] = set()  # new slices of elements the base already sliced
        elements = base["snapshot"]["element"]
        for element, (element_id, _) in zip(elements, _diff_ids(elements), strict=True):
            pristine = dict(element, id=element_id)
            self._register(len(self.elements), pristine, _Origin(pristine, 0, self.url))

    def _register(self, pos: int, pristine: Element, origin: _Origin) -> None:
        """Insert a working copy of `pristine` at `pos`."""
        element = dict(pristine)
        self.elements.insert(pos, element)
        self.by_id[element["id"]] = element
        self.origin[element["id"]] = origin

    def insert(self, pos: int, pristines: list[Element], layer: int, source: str) -> None:
        """Insert new elements (in order) at `pos`, all from one layer and source."""
        for offset, pristine in enumerate(pristines):
            self._register(pos + offset, pristine, _Origin(pristine, layer, source))

    def new_layer(self) -> int:
        """A fresh layer number for the elements of one dive into a type."""
        self.layers += 1
        return self.layers

    def position(self, element_id: str) -> int:
        """The index of the element with this id."""
        for index, element in enumerate(self.elements):
            if element["id"] == element_id:
                return index
        raise KeyError(element_id)

    def has_children(self, element: Element) -> bool:
        """True when the element's children are present."""
        pos = self.position(element["id"]) + 1
        prefix = element["id"] + "."
        return pos < len(self.elements) and self.elements[pos]["id"].startswith(prefix)

    def group_end(self, element: Element) -> int:
        """The index just past the element, its descendants, and its slices with theirs."""
        prefixes = tuple(element["id"] + sep for sep in ".:/")
        pos = self.position(element["id"]) + 1
        while pos < len(self.elements) and self.elements[pos]["id"].startswith(prefixes):
            pos += 1
        return pos

    def descendants(self, element: Element) -> Iterator[Element]:
        """The element's children and their descendants (not its slices), in order."""
        prefix = element["id"] + "."
        for candidate in self.elements[self.position(element["id"]) + 1 :]:
            if not candidate["id"].startswith(prefix):
                return
            yield candidate


# --------------------------------------------------------------------------- the generator


class SnapshotGenerator:
    """Generates StructureDefinition snapshots from differentials against a registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._cache: dict[tuple[str, str], Resource] = {}
        self._local = threading.local()

    # ---- public API

    def generate(self, sd: Resource) -> Resource:
        """A new StructureDefinition: `sd` with a snapshot generated from its differential."""
        url = str(sd.get("url", ""))
        stack = self._stack()
        if url and url in stack:
            raise SnapshotError(f"Circular baseDefinition chain: {' -> '.join([*stack, url])}")
        stack.append(url)
        try:
            elements = self._elements(sd)
        finally:
            stack.pop()
        result: Resource = {}
        for key, value in sd.items():
            if key == "differential":
                result["snapshot"] = None  # the snapshot goes before the differential
            if key != "snapshot":
                result[key] = value
        result["snapshot"] = {"element": [_ordered(element) for element in elements]}
        copied: Resource = json.loads(json.dumps(result))  # the fastest deep copy in CPython
        return copied

    def snapshot_for(self, url: str) -> Resource:
        """The registered StructureDefinition with a snapshot (generated, cached, registered)."""
        sd = self.with_snapshot(url)
        if sd is not self.registry.get(url):
            self.registry.add(sd)
        return sd

    def with_snapshot(self, url: str) -> Resource:
        """The StructureDefinition at `url` with a snapshot, generated and cached if needed."""
        sd = self.registry.get(url)
        if sd is None:
            raise SnapshotError(f"Unknown StructureDefinition '{url}'")
        if sd.get("snapshot", {}).get("element"):
            return sd
        key = (str(sd.get("url", url)), str(sd.get("version", "")))
        cached = self._cache.get(key)
        if cached is None:
            cached = self.generate(sd)
            self._cache[key] = cached
        return cached

    # ---- one profile

    def _stack(self) -> list[str]:
        """The urls being generated on this thread (for cycle detection)."""
        stack: list[str] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = []
            self._local.stack = stack
        return stack

    def _elements(self, sd: Resource) -> list[Element]:
        """The generated snapshot elements of a constraint profile."""
        if sd.get("derivation", "constraint") != "constraint":
            raise SnapshotError(f"{sd.get('url')}: only constraint profiles are supported")
        base_url = sd.get("baseDefinition")
        if not base_url:
            raise SnapshotError(f"{sd.get('url')}: no baseDefinition")
        try:
            base = self.with_snapshot(str(base_url))
        except SnapshotError as exc:
            raise SnapshotError(f"{sd.get('url')}: base {base_url}: {exc}") from exc
        work = _Work(base)
        profile_url = str(sd.get("url", ""))
        diffs = sd.get("differential", {}).get("element", [])
        for index, (element_id, path_id) in enumerate(_diff_ids(diffs)):
            element = self._locate(work, element_id, path_id, diffs[index], profile_url)
            self._merge(work, element, diffs[index], profile_url)
            if element["id"] in work.eager and index + 1 < len(diffs):
                self._expand_new_slice(work, element)
        _fix_extension_url(work, sd)
        return work.elements

    # ---- locating a differential element

    def _locate(
        self, work: _Work, element_id: str, path_id: str, diff: Element, url: str
    ) -> Element:
        """The working element a differential element applies to (created if need be)."""
        if not _id_matches_path(element_id, str(diff["path"])):
            msg = f"{url}: differential element id '{element_id}' does not match its path"
            raise SnapshotError(f"{msg} '{diff['path']}'")
        errors: list[SnapshotError] = []
        for candidate in dict.fromkeys((element_id, path_id)):  # the id, else path + slice
            try:
                return self._walk(work, candidate, diff)
            except SnapshotError as exc:
                errors.append(exc)
        raise SnapshotError(f"{url}: differential element '{element_id}': {errors[0]}")

    def _walk(self, work: _Work, element_id: str, diff: Element) -> Element:
        """Follow an element id segment by segment from the root."""
        segments = element_id.split(".")
        if not all(segments):
            raise SnapshotError(f"malformed element id '{element_id}'")
        current = work.elements[0]
        if segments[0].split(":", 1)[0] != current["path"]:
            raise SnapshotError(f"'{element_id}' is not inside {current['path']}")
        for index, segment in enumerate(segments[1:], start=2):
            name, _, slice_name = segment.partition(":")
            last = index == len(segments)
            current = self._child(work, current, name, slice_name, diff if last else None)
        return current

    def _child(
        self, work: _Work, parent: Element, name: str, slice_name: str, diff: Element | None
    ) -> Element:
        """The child `name` (or its slice) of `parent`, diving, renaming or slicing as needed."""
        self._ensure_children(work, parent, name)
        child = work.by_id.get(f"{parent['id']}.{name}")
        if child is None:
            child = self._renamed_choice(work, parent, name)
        if not slice_name:
            return child
        slice_id = f"{child['id']}:{slice_name}"
        existing = work.by_id.get(slice_id)
        if existing is not None:
            return existing
        sliced_id = child["id"]
        if "/" in slice_name:
            sliced_id = f"{child['id']}:{slice_name.rsplit('/', 1)[0]}"
        sliced = work.by_id.get(sliced_id)
        if sliced is None:
            raise SnapshotError(f"re-slice '{slice_name}' of an undefined slice")
        given = diff.get("sliceName") if diff is not None else None
        return self._new_slice(work, sliced, slice_id, str(given or slice_name))

    def _renamed_choice(self, work: _Work, parent: Element, name: str) -> Element:
        """Resolve `valueQuantity` to `value[x]`: narrowed in a slice, else a type slice."""
        for choice_id, code in _choice_candidates(work, parent, name):
            choice = work.by_id[choice_id]
            if ":" in parent["id"]:
                types = work.origin[choice_id].element.get("type", [])
                choice["type"] = [t for t in types if t.get("code") == code]
                return choice
            return self._type_slice(work, choice, name, code)
        raise SnapshotError(f"no element '{name}' in {parent['id']}")

    def _type_slice(self, work: _Work, choice: Element, name: str, code: str) -> Element:
        """The slice `value[x]:valueQuantity`, slicing the choice by type if it is not yet."""
        existing = work.by_id.get(f"{choice['id']}:{name}")
        if existing is not None:
            return existing
        types = work.origin[choice["id"]].element.get("type", [])
        narrowed = [_copy(t) for t in types if t.get("code") == code]
        if "slicing" not in choice:
            choice["slicing"] = _copy(TYPE_SLICING)
            choice["type"] = narrowed
            work.type_sliced.add(choice["id"])
        elif choice["id"] in work.type_sliced:
            choice["type"] = choice["type"] + narrowed
        element = self._new_slice(work, choice, f"{choice['id']}:{name}", name)
        element["type"] = _copy(narrowed)
        work.origin[element["id"]].element["type"] = narrowed
        return element

    def _new_slice(self, work: _Work, sliced: Element, slice_id: str, name: str) -> Element:
        """A new slice: the sliced element as the base had it, with the base's children."""
        if "slicing" not in sliced:
            sliced["slicing"] = _copy(_default_slicing(sliced))
        origin = work.origin[sliced["id"]]
        if "slicing" in origin.element:
            work.eager.add(slice_id)
        head = {k: v for k, v in origin.element.items() if k != "slicing"}
        head.update(id=slice_id, sliceName=name, min=0)
        prefix = sliced["id"]
        children = [
            dict(work.origin[d["id"]].element, id=slice_id + d["id"][len(prefix) :])
            for d in work.descendants(sliced)
            if work.origin[d["id"]].layer == origin.layer
        ]
        pos = work.group_end(sliced)
        work.insert(pos, [head, *children], origin.layer, origin.source)
        if sliced["path"].endswith("[x]"):
            self._narrow_type_slice(work, work.elements[pos], name)
        return work.elements[pos]

    def _narrow_type_slice(self, work: _Work, element: Element, name: str) -> None:
        """Restrict a choice slice named after a type (`valueQuantity`) to that type."""
        stem = element["path"].rsplit(".", 1)[-1][:-3]
        for type_ref in element.get("type", []):
            code = str(type_ref.get("code", ""))
            if name == stem + code[:1].upper() + code[1:]:
                element["type"] = [_copy(type_ref)]
                work.origin[element["id"]].element["type"] = element["type"]
                return

    # ---- diving into types

    def _expand_new_slice(self, work: _Work, element: Element) -> None:
        """Insert a datatype slice's children now, as the Java tool does for a sliced base."""
        types = element.get("type", [])
        if len(types) != 1 or work.has_children(element) or "." not in element["path"]:
            return
        code = str(types[0].get("code", ""))
        sd = self.registry.structure_definition(code)
        kind = sd.get("kind") if sd is not None else None
        if kind in ("complex-type", "primitive-type") and code not in _INLINE_TYPES:
            self._ensure_children(work, element, "id")

    def _ensure_children(self, work: _Work, parent: Element, wanted: str) -> None:
        """Insert the children of `parent` from its type or contentReference if missing."""
        if work.has_children(parent):
            return
        reference = parent.get("contentReference")
        if reference:
            self._insert_referenced(work, parent, str(reference))
            return
        source = self._type_source(parent, wanted)
        root = source["snapshot"]["element"][0]
        root_id, root_path = root.get("id", root["path"]), root["path"]
        children = [
            dict(
                element,
                id=parent["id"] + element.get("id", element["path"])[len(root_id) :],
                path=parent["path"] + element["path"][len(root_path) :],
            )
            for element in source["snapshot"]["element"][1:]
        ]
        pos = work.position(parent["id"]) + 1
        work.insert(pos, children, work.new_layer(), str(source.get("url", "")))

    def _insert_referenced(self, work: _Work, parent: Element, reference: str) -> None:
        """Copy the children of the element a contentReference (`#Questionnaire.item`) names."""
        target_id = reference.split("#", 1)[-1]
        target = work.origin.get(target_id)
        if target is None or target.layer != 0:
            raise SnapshotError(f"contentReference '{reference}' not found")
        base = target.element
        children = []
        for candidate in work.elements[work.position(target_id) + 1 :]:
            if not candidate["id"].startswith(target_id + "."):
                break
            origin = work.origin[candidate["id"]]
            if origin.layer == 0:
                pristine = origin.element
                children.append(
                    dict(
                        pristine,
                        id=parent["id"] + pristine["id"][len(target_id) :],
                        path=parent["path"] + pristine["path"][len(base["path"]) :],
                    )
                )
        pos = work.position(parent["id"]) + 1
        work.insert(pos, children, work.new_layer(), work.url)

    def _type_source(self, parent: Element, wanted: str) -> Resource:
        """The StructureDefinition (with snapshot) describing the children of `parent`."""
        types = parent.get("type", [])
        codes = list(dict.fromkeys(str(t.get("code", "")) for t in types))
        if not codes:
            raise SnapshotError(f"{parent['id']} has no type to take children from")
        if len(codes) == 1:
            profiles = types[0].get("profile", []) if len(types) == 1 else []
            return self._type_definition(codes[0], profiles[0] if profiles else None)
        for code in ["Element", *codes]:
            try:
                sd = self._type_definition(code, None)
            except SnapshotError:
                continue
            if any(e["path"] == f"{sd['type']}.{wanted}" for e in sd["snapshot"]["element"]):
                return sd
        raise SnapshotError(f"no type of {parent['id']} has an element '{wanted}'")

    def _type_definition(self, code: str, profile: str | None) -> Resource:
        """The snapshot-bearing definition of a type code, or of the type profile if given."""
        if profile:
            return self.with_snapshot(profile)
        url = code if "/" in code else f"http://hl7.org/fhir/StructureDefinition/{code}"
        sd = self.with_snapshot(url)
        if len(sd["snapshot"]["element"]) < 2:
            raise SnapshotError(f"type '{code}' has no children")
        return sd

    # ---- merging a differential element

    def _merge(self, work: _Work, element: Element, diff: Element, url: str) -> None:
        """Apply a differential element's constraints to a working element."""
        self._apply_type_profile(element, diff)
        _source_constraints(element, work.origin[element["id"]].source)
        for key, value in diff.items():
            if key in _NOT_MERGED or key.startswith("_"):
                continue
            _merge_key(element, key, value, url)
        if "." not in element["path"]:
            element.pop("requirements", None)  # sdf-9: no requirements on the root

    def _apply_type_profile(self, element: Element, diff: Element) -> None:
        """Start from a type profile's root (an extension's or SimpleQuantity's), as Java does.

        The root's documentation, constraints, conditions and flags replace the element's;
        the element keeps its identity, cardinality, value constraints and binding.
        """
        types = diff.get("type", [])
        profiles = types[0].get("profile", []) if len(types) == 1 else []
        if not profiles:
            return
        try:
            profile = self.with_snapshot(str(profiles[0]))
        except SnapshotError:
            return
        root = profile["snapshot"]["element"][0]
        template = {k: v for k, v in root.items() if k not in _TEMPLATE_SKIPPED}
        for key, value in element.items():
            if key in _TEMPLATE_KEPT or _choice_prefix(key) in _TEMPLATE_KEPT:
                template[key] = value
        constraints = _sourced(root.get("constraint", []), str(profile.get("url", "")))
        keys = {c.get("key") for c in constraints}
        constraints += [c for c in element.get("constraint", []) if c.get("key") not in keys]
        if constraints:
            template["constraint"] = constraints
        element.clear()
        element.update(template)


# --------------------------------------------------------------------------- merge rules


def _merge_key(element: Element, key: str, value: Any, url: str) -> None:
    """Merge one property of a differential element into a snapshot element."""
    if key in _TEXT_KEYS:
        old = element.get(key)
        text = str(value)
        element[key] = f"{old}\r\n{text[3:]}" if text.startswith("...") and old else text
    elif key in ("alias", "condition", "code", "example"):
        element[key] = _union(element.get(key, []), value)
    elif key == "mapping":
        element[key] = _union_mappings(element.get(key, []), value)
    elif key == "constraint":
        element[key] = _merge_constraints(element.get(key, []), value, url)
    elif key == "slicing":
        element[key] = {**element.get("slicing", {}), **_copy(value)}
    elif key == "binding":
        element[key] = _merge_binding(element.get("binding"), value)
    elif key in ("extension", "modifierExtension"):
        element[key] = _merge_extensions(element.get(key, []), value)
    else:
        prefix = _choice_prefix(key)
        if prefix:
            for old in [k for k in element if _choice_prefix(k.lstrip("_")) == prefix]:
                del element[old]
        element[key] = _copy(value)


def _choice_prefix(key: str) -> str | None:
    """`fixed` for `fixedUri` (the choice properties of ElementDefinition), else None."""
    for prefix in _CHOICE_PREFIXES:
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return prefix
    return None


def _union(old: list[Any], new: list[Any]) -> list[Any]:
    """`old` followed by the items of `new` it does not already hold."""
    result = list(old)
    for item in new:
        if item not in result:
            result.append(_copy(item))
    return result


def _union_mappings(old: list[Any], new: list[Any]) -> list[Any]:
    """Mappings of the base plus those of the differential with a new (identity, map)."""
    seen = {(m.get("identity"), m.get("map")) for m in old}
    extra = [m for m in new if (m.get("identity"), m.get("map")) not in seen]
    return [*old, *(_copy(m) for m in extra)]


def _merge_constraints(old: list[Any], new: list[Any], url: str) -> list[Any]:
    """Base constraints kept; differential ones with a new key appended, sourced to `url`."""
    keys = {c.get("key") for c in old}
    result = list(old)
    for constraint in new:
        if constraint.get("key") not in keys:
            added = _copy(constraint)
            if url:
                added.setdefault("source", url)
            result.append(added)
    return result


def _merge_binding(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    """The base binding with the differential's strength, valueSet and description."""
    merged = {k: v for k, v in (old or {}).items() if k not in ("description", "extension")}
    merged.update(_copy(new))
    return merged


def _merge_extensions(old: list[Any], new: list[Any]) -> list[Any]:
    """Element extensions: the differential's replace the base's with the same url."""
    urls = {ext.get("url") for ext in new}
    return [ext for ext in old if ext.get("url") not in urls] + [_copy(ext) for ext in new]


def _source_constraints(element: Element, source: str) -> None:
    """Give inherited constraints without a `source` the url of the definition they came from."""
    constraints = element.get("constraint")
    if constraints and source and any("source" not in c for c in constraints):
        element["constraint"] = _sourced(constraints, source)


def _sourced(constraints: list[Any], source: str) -> list[Any]:
    """The constraints, those without a `source` given `source`."""
    return [c if "source" in c or not source else {**c, "source": source} for c in constraints]


# --------------------------------------------------------------------------- helpers


def _diff_ids(diffs: list[Element]) -> list[tuple[str, str]]:
    """For each differential element: its id, and the id its path and slice name imply."""
    last: dict[str, str] = {}

    def id_of(path: str) -> str:
        """The id of the latest element at `path` (or of its latest ancestor, extended)."""
        if path in last or "." not in path:
            return last.get(path, path)
        parent, _, name = path.rpartition(".")
        return f"{id_of(parent)}.{name}"

    result: list[tuple[str, str]] = []
    for diff in diffs:
        path = str(diff["path"])
        parent, dot, name = path.rpartition(".")
        path_id = f"{id_of(parent)}.{name}" if dot else path
        if diff.get("sliceName") and dot:
            path_id += f":{diff['sliceName']}"
        for stale in [p for p in last if p.startswith(path + ".")]:
            del last[stale]
        last[path] = path_id
        result.append((str(diff.get("id") or path_id), path_id))
    return result


def _id_matches_path(element_id: str, path: str) -> bool:
    """True when an id (slice names aside) names the path, allowing `value[x]`/`valueQuantity`."""
    names = [segment.split(":", 1)[0] for segment in element_id.split(".")]
    steps = path.split(".")
    return len(names) == len(steps) and all(
        name == step
        or (name.endswith("[x]") and step.startswith(name[:-3]))
        or (step.endswith("[x]") and name.startswith(step[:-3]))
        for name, step in zip(names, steps, strict=True)
    )


def _choice_candidates(work: _Work, parent: Element, name: str) -> Iterator[tuple[str, str]]:
    """(choice element id, type code) pairs a type-renamed name like `valueQuantity` may mean."""
    for cut in range(len(name) - 1, 0, -1):
        if not name[cut].isupper():
            continue
        choice_id = f"{parent['id']}.{name[:cut]}[x]"
        if choice_id in work.by_id:
            suffix = name[cut:]
            for type_ref in work.origin[choice_id].element.get("type", []):
                code = str(type_ref.get("code", ""))
                if code[:1].upper() + code[1:] == suffix:
                    yield choice_id, code
                    break


def _default_slicing(element: Element) -> dict[str, Any]:
    """Implicit slicing for a slice whose sliced element has none."""
    if any(t.get("code") == "Extension" for t in element.get("type", [])):
        return EXTENSION_SLICING
    if element["path"].endswith("[x]"):
        return TYPE_SLICING
    return OPEN_SLICING


def _fix_extension_url(work: _Work, sd: Resource) -> None:
    """An extension definition's `Extension.url` is fixed to the definition's url."""
    if sd.get("type") != "Extension" or not sd.get("url"):
        return
    url_element = work.by_id.get("Extension.url")
    if url_element is not None and not any(k.startswith("fixed") for k in url_element):
        url_element["fixedUri"] = sd["url"]


@functools.cache
def _rank(key: str) -> tuple[int, int]:
    """Sort key placing ElementDefinition properties in FHIR JSON order."""
    companion = key.startswith("_")
    name = key[1:] if companion else key
    rank = _RANK.get(name)
    if rank is None:
        prefix = _choice_prefix(name)
        rank = _RANK[prefix] if prefix else len(_RANK)
    return rank, int(companion)


def _ordered(element: Element) -> Element:
    """The element with its properties in FHIR JSON order (a shallow copy)."""
    return {key: element[key] for key in sorted(element, key=_rank)}


def _copy(value: Any) -> Any:
    """A deep copy of a (small) JSON value."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value

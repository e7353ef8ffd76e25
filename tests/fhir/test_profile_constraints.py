"""One invalid variant of an IG example per constraint that the IG's differentials state.

Every StructureDefinition in `fhir_profiles/` (profiles and extensions, differential only) is
read element by element, and each constraint an element states becomes one variant of a valid
IG example (for an extension: of an example that uses it) that breaks that constraint:

* `min >= 1` (not on the root): the element, or every member of the slice, is removed;
* `max = 0`: a plausible value is added;
* `max` below the base definition's: the value is repeated until there is one too many;
* `fixed[x]` / `pattern[x]`: the value becomes another of the same type (the next code of the
  same system, another UCUM unit, another URI);
* a required binding to an IG ValueSet: each code becomes `not-a-code`, systems kept (a bare
  `code` whose core binding is required as well gets a code of the core ValueSet outside the
  IG one instead, so that only the IG binding fails);
* a choice narrowed to some types: a value of a type the base allows and the profile does not;
* a Reference narrowed by `targetProfile`: a reference to a type the base allows, the profile
  does not;
* invariants of error severity: the hand-written `VIOLATIONS` of test_ig_content.py, plus
  `EXTRA_VIOLATIONS` below for the keys it does not cover.

A resource profile's variants claim that profile alone (`meta.profile`), so that a profile's
ancestors are tested on their own rules. The real Validator must report an error at the
constrained element or under it, at its parent, or (when the change moves a value out of its
slice) at the element holding the sliced list, where slice cardinality is reported. A binding
error must be at the bound element or its parent (under it, the code system reports the unknown
code). Invariant errors must be at the element the invariant sits on and name its key.

Constraints that no example can be turned into an invalid variant for are listed in
KNOWN_UNTESTABLE with the reason; the list must be exact. Not generated: extensible or weaker
bindings and warning invariants (no error to expect), the cardinality of an extension's root
(stated again by the slices that use it, tested there) and `type.profile` of extension slices
(tested by the extension's own variants). Two validator misses found on the way (a
profile-only reference target inside a Bundle; a disallowed variant given only by its `_`
companion) are tested at the end.
"""

from __future__ import annotations

import copy
import importlib.util
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from screening.fhir.outcome import Issue
from screening.fhir.packages import default_registry
from screening.fhir.validation import build_validator
from screening.fhir.validator import Validator, location_key, reference_type

Json = Any


def _sibling(name: str) -> ModuleType:
    """A test module of this folder, loaded by path (`fhir.*` is the fhir.resources package)."""
    spec = importlib.util.spec_from_file_location(
        f"_constraints_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ig = _sibling("test_ig_content")

UCUM = "http://unitsofmeasure.org"
NOT_A_CODE = "not-a-code"
UCUM_UNITS = ("s", "min", "h", "d", "wk", "mo", "a", "m", "km", "cm", "m/s")
# A value of each type a narrowed choice may be given instead (first one the base allows).
SAMPLES: dict[str, Json] = {
    "string": "changed",
    "boolean": True,
    "integer": 1,
    "Period": {"start": "2026-10-12"},
}
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
# A plausible value for an element with max = 0, by element name.
PLAUSIBLE: dict[str, Json] = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}

NOTHING = "no example has a value to break"
SAME_TYPE = (
    "the core element allows only this resource type: the profile narrows the target's profile,"
    " which a reference alone does not show (see test_target_profile_of_a_resolved_reference)"
)
OPTIONAL_SLICE = (
    "a discriminator of a 0.. slice of an open slicing: breaking it moves the value out of the"
    " slice, which leaves a valid resource"
)
# Constraints without a variant ("profile:element id:kind"), and why.
KNOWN_UNTESTABLE: dict[str, str] = {
    "consent-to-share:Consent.patient:target": SAME_TYPE,
    "limb-absence:Condition.code.coding:snomed.system:fixed": OPTIONAL_SLICE,
    "limb-absence:Condition.code.coding:snomed.system:min": OPTIONAL_SLICE,
    "limb-absence:Condition.encounter:target": SAME_TYPE,
    "rehab-centre-location:Location.managingOrganization:target": SAME_TYPE,
    "rehab-referral:ServiceRequest.encounter:target": SAME_TYPE,
    "rehab-service:HealthcareService.location:target": SAME_TYPE,
    "rehab-service:HealthcareService.providedBy:target": SAME_TYPE,
    "screened-person:Patient.identifier:nationalId.system:fixed": OPTIONAL_SLICE,
    "screened-person:Patient.identifier:nationalId.system:min": OPTIONAL_SLICE,
    "screening-encounter:Encounter.location.location:target": SAME_TYPE,
    "screening-observation:Observation.category:icfDomain.coding:min": OPTIONAL_SLICE,
    "screening-observation:Observation.category:icfDomain.coding.system:fixed": OPTIONAL_SLICE,
    "screening-observation:Observation.category:icfDomain.coding.system:min": OPTIONAL_SLICE,
    "screening-observation:Observation.encounter:target": SAME_TYPE,
}


# --------------------------------------------------------------------------- where values are


@dataclass
class Member:
    """A value taken to belong to a slice, and the path of the object holding the sliced list."""

    value: Json
    slice_id: str
    owner_path: str


@dataclass
class Place:
    """One value of an element: the object and key holding it, its list index, its FHIRPath
    and the slice members it was reached through."""

    owner: dict[str, Any]
    key: str
    index: int | None
    path: str
    slices: tuple[Member, ...] = ()

    @property
    def value(self) -> Json:
        """The value itself."""
        raw = self.owner[self.key]
        return raw if self.index is None else raw[self.index]

    def put(self, value: Json) -> None:
        """Replace the value."""
        if self.index is None:
            self.owner[self.key] = value
        else:
            self.owner[self.key][self.index] = value


@dataclass
class Subject:
    """What a constraint is broken on: a fresh copy of an example, the object the definition
    applies to (the resource, or one extension in it) and that object's FHIRPath."""

    name: str
    resource: Json
    root: Json
    path: str


@dataclass
class Anchors:
    """Where the error may be: at or under `at`, or exactly at one of `near`."""

    at: set[str] = field(default_factory=set)
    near: set[str] = field(default_factory=set)

    def hold(self, expression: str | None) -> bool:
        """Whether an issue expression is one of these places."""
        where = location_key(expression) or ""
        if where in {location_key(n) for n in self.near}:
            return True
        for place in self.at:
            base = location_key(place) or ""
            if where == base or where.startswith((base + ".", base + "[")):
                return True
        return False


@dataclass
class Variant:
    """An example broken in one constraint, and where the error must be reported."""

    label: str
    profile: str
    resource: Json
    anchors: Anchors
    key: str | None = None


def parent(path: str) -> str:
    """The FHIRPath of the object holding a value (`A.b[1].c` -> `A.b[1]`)."""
    return path.rsplit(".", 1)[0]


def upper_first(text: str) -> str:
    """`quantity` -> `Quantity`."""
    return text[:1].upper() + text[1:]


def merged(chain: list[Json], ident: str) -> Json:
    """An element's rules in a profile and its IG ancestors (the most derived one wins)."""
    found: Json = {}
    for sd in reversed(chain):
        for element in ig.differential(sd):
            if element["id"] == ident:
                found.update(element)
    return found


def steps_of(value: Json, path: str) -> list[Json]:
    """The values at a dotted path (`coding.system`) in a JSON value, lists flattened."""
    values = [value]
    for step in [] if path == "$this" else path.split("."):
        found: list[Json] = []
        for item in values:
            raw = item.get(step) if isinstance(item, dict) else None
            found.extend(raw if isinstance(raw, list) else [] if raw is None else [raw])
        values = found
    return values


def includes(value: Json, pattern: Json) -> bool:
    """Pattern inclusion: objects by their keys, lists by each pattern item."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and includes(value[k], p) for k, p in pattern.items()
        )
    if isinstance(pattern, list):
        values = value if isinstance(value, list) else [value]
        return all(any(includes(v, p) for v in values) for p in pattern)
    return bool(value == pattern)


def rule_of(element: Json, prefix: str) -> tuple[str, Json] | None:
    """The (key, value) of an element's fixed[x] or pattern[x]."""
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix) :][:1].isupper():
            return key, value
    return None


def profile_type(url: str) -> str:
    """The resource type a target profile stands for."""
    sd = ig.ig_by_url().get(url)
    return str(sd["type"]) if sd else url.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- slices


def discriminators(chain: list[Json], slice_id: str) -> list[Json]:
    """The discriminators of the slicing a slice belongs to (url for extensions by default)."""
    sliced = slice_id.rsplit(":", 1)[0]
    found = merged(chain, sliced).get("slicing", {}).get("discriminator", [])
    if not found and sliced.endswith("extension"):
        return [{"type": "value", "path": "url"}]
    return list(found)


def expected_values(chain: list[Json], slice_id: str, path: str) -> list[Json]:
    """What a slice's members hold at a discriminator path."""
    child = merged(chain, slice_id if path == "$this" else f"{slice_id}.{path}")
    rule = rule_of(child, "fixed") or rule_of(child, "pattern")
    if rule is not None:
        return [rule[1]]
    own = merged(chain, slice_id)
    if path == "url":
        return [p for t in own.get("type", []) for p in t.get("profile", [])][:1]
    pattern = rule_of(own, "pattern") or rule_of(own, "fixed")
    return steps_of(pattern[1], path) if pattern else []


def in_slice(value: Json, chain: list[Json], slice_id: str) -> bool:
    """Whether a value matches a slice by every discriminator of its slicing."""
    for discriminator in discriminators(chain, slice_id):
        path = discriminator["path"]
        if discriminator["type"] == "type" and path == "resolve()":
            types = merged(chain, slice_id).get("type", [])
            allowed = {profile_type(u) for t in types for u in t.get("targetProfile", [])}
            if reference_type(str(value.get("reference", ""))) not in allowed:
                return False
            continue
        wanted = expected_values(chain, slice_id, path)
        found = steps_of(value, path)
        if not wanted or not all(any(includes(f, w) for f in found) for w in wanted):
            return False
    return True


# --------------------------------------------------------------------------- locating values


def child_places(obj: Json, path: str, members: tuple[Member, ...], name: str) -> list[Place]:
    """The values of one child element of an object (a choice by any of its variants)."""
    key = name
    if name.endswith("[x]"):
        stem = name[:-3]
        key = next((k for k in obj if k.startswith(stem) and k[len(stem) :][:1].isupper()), "")
    raw = obj.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        return [Place(obj, key, None, f"{path}.{key}", members)]
    return [Place(obj, key, i, f"{path}.{key}[{i}]", members) for i in range(len(raw))]


def locate(subject: Subject, chain: list[Json], ident: str) -> list[Place]:
    """Every value of the element `ident` in the subject, slice members picked out."""
    contexts: list[tuple[Json, str, tuple[Member, ...]]] = [(subject.root, subject.path, ())]
    steps = ident.split(".")
    places: list[Place] = []
    for depth, step in enumerate(steps[1:], start=1):
        name, _, slice_name = step.partition(":")
        places = [p for obj, path, kept in contexts for p in child_places(obj, path, kept, name)]
        if slice_name:
            slice_id = ".".join(steps[: depth + 1])
            places = [
                Place(p.owner, p.key, p.index, p.path, (*p.slices, _member(p, slice_id)))
                for p in places
                if in_slice(p.value, chain, slice_id)
            ]
        contexts = [(p.value, p.path, p.slices) for p in places if isinstance(p.value, dict)]
    return places


def _member(place: Place, slice_id: str) -> Member:
    """The slice membership of a value."""
    return Member(place.value, slice_id, parent(place.path))


def containers(subject: Subject, chain: list[Json], ident: str) -> list[tuple[Json, str]]:
    """The objects (and their paths) that hold the element `ident`."""
    owner = ident.rsplit(".", 1)[0]
    if "." not in owner:
        return [(subject.root, subject.path)]
    return [(p.value, p.path) for p in locate(subject, chain, owner) if isinstance(p.value, dict)]


def anchors_for(places: list[Place], chain: list[Json]) -> Anchors | str:
    """The element's places and their parents, and the sliced list's owner for values that
    the change moved out of a slice (or why that left the resource valid)."""
    if not places:
        return NOTHING
    found = Anchors({p.path for p in places}, {parent(p.path) for p in places})
    for place in places:
        for member in place.slices:
            if in_slice(member.value, chain, member.slice_id):
                continue
            if optional_in_open(chain, member.slice_id):
                return OPTIONAL_SLICE
            found.near.add(member.owner_path)
    return found


def optional_in_open(chain: list[Json], slice_id: str) -> bool:
    """Whether a slice may be empty and its slicing admits values outside the slices."""
    slicing = merged(chain, slice_id.rsplit(":", 1)[0]).get("slicing", {})
    return merged(chain, slice_id).get("min", 0) == 0 and slicing.get("rules") != "closed"


# --------------------------------------------------------------------------- the core definitions


def base_element(path: str) -> Json:
    """The core definition of an element path, descending into datatypes when needed."""
    head, *rest = path.split(".")
    owner, current = head, next(e for e in ig._snapshot(head) if e["path"] == head)
    for step in rest:
        wanted = f"{current['path']}.{step}"
        found = next((e for e in ig._snapshot(owner) if e["path"] == wanted), None)
        if found is None:
            owner = current["type"][0]["code"]
            found = next(e for e in ig._snapshot(owner) if e["path"] == f"{owner}.{step}")
        current = found
    return current


def base_types(path: str) -> list[str]:
    """The type codes the core definition allows at a path."""
    return [t["code"] for t in base_element(path).get("type", [])]


def base_targets(path: str) -> set[str]:
    """The resource types the core definition allows a Reference at a path to point at."""
    types = base_element(path).get("type", [])
    found = {profile_type(u) for t in types for u in t.get("targetProfile", [])}
    if "Resource" in found:
        found = (found - {"Resource"}) | {r["resourceType"] for r in ig.examples()}
    return found


def narrower_max(element: Json) -> bool:
    """Whether an element's max is a number below the base definition's."""
    limit = element.get("max")
    if limit is None or limit == "*" or limit == "0":
        return False
    base = base_element(element["path"])["max"]
    return base == "*" or int(base) > int(limit)


# --------------------------------------------------------------------------- other values


def ordered_codes(system: str | None, valueset: str | None) -> Iterator[list[str]]:
    """Candidate code lists of a system: the ValueSet's, the CodeSystem's, the verified ones,
    some UCUM units."""
    if valueset:
        try:
            pairs = ig.expansion(ig.strip_version(valueset))
        except AssertionError:  # a ValueSet that test_ig_content cannot expand locally
            pairs = frozenset()
        yield sorted(c for s, c in pairs if system is None or s == system)
    if system:
        cs = ig.code_system(system)
        yield _concepts_in_order(cs["concept"]) if cs else []
        yield sorted(ig.VERIFIED_CODES.get(system, ()))
        yield list(UCUM_UNITS) if system == UCUM else []


def _concepts_in_order(concepts: list[Json]) -> list[str]:
    """The codes of nested concepts, depth first, in file order."""
    found: list[str] = []
    for concept in concepts:
        found.append(concept["code"])
        found.extend(_concepts_in_order(concept.get("concept", [])))
    return found


def other_code(system: str | None, code: str, valueset: str | None) -> str:
    """Another code of the same system: the one after `code` in the first list holding others."""
    for codes in ordered_codes(system, valueset):
        others = [c for c in codes if c != code]
        if others:
            return codes[(codes.index(code) + 1) % len(codes)] if code in codes else others[0]
    return code + "-changed"


def binding_of(chain: list[Json], element: Json) -> str | None:
    """The ValueSet an element is bound to (profile first, then the core definition)."""
    own = merged(chain, element["id"]).get("binding")
    binding = own or base_element(element["path"]).get("binding", {})
    valueset = binding.get("valueSet")
    return str(valueset) if valueset else None


def changed(value: Json, rule: tuple[str, Json], chain: list[Json], element: Json) -> Json:
    """A value of the same type that no longer holds the fixed or pattern value `rule`."""
    key, wanted = rule
    if not isinstance(wanted, dict | list):
        if key.endswith("Code"):
            system = merged(chain, parent(element["id"]) + ".system").get("fixedUri")
            return other_code(system, str(value), binding_of(chain, element))
        return f"{value}-changed"
    result = copy.deepcopy(value)
    for _, part in ig.walk(wanted):
        _change_coded(result, part, binding_of(chain, element))
    return result


def _change_coded(value: Json, part: Json, valueset: str | None) -> None:
    """Change, in a value, the code (or else the system) of what a pattern part holds."""
    system, code = part.get("system"), part.get("code")
    if system is None and code is None:
        return
    for _, obj in ig.walk(value):
        if obj.get("system") != system or (code is not None and obj.get("code") != code):
            continue
        if code is None:
            obj["system"] = f"{system}-changed"
        else:
            obj["code"] = other_code(system, code, valueset)


# --------------------------------------------------------------------------- mutations
# Each breaks one constraint of `element` in the subject (in place) and says where the error
# must be, or why the subject gives no invalid variant (the subject is then dropped).

Mutation = Callable[[Subject, list[Json], Json], Anchors | str]


def remove(subject: Subject, chain: list[Json], element: Json) -> Anchors | str:
    """min >= 1: every value of the element (or member of the slice) removed."""
    places = locate(subject, chain, element["id"])
    for place in sorted(places, key=lambda p: -(p.index or 0)):
        if place.index is None:
            del place.owner[place.key]
            place.owner.pop("_" + place.key, None)
        else:
            del place.owner[place.key][place.index]
            if not place.owner[place.key]:
                del place.owner[place.key]
                place.owner.pop("_" + place.key, None)
    return anchors_for(places, chain)


def add(subject: Subject, chain: list[Json], element: Json) -> Anchors | str:
    """max = 0: a plausible value added to the first object that may hold the element."""
    name = element["path"].rsplit(".", 1)[-1]
    holders = containers(subject, chain, element["id"])
    if name not in PLAUSIBLE:
        return f"no plausible value for {name} is known"
    if not holders or name in holders[0][0]:
        return NOTHING
    obj, path = holders[0]
    obj[name] = copy.deepcopy(PLAUSIBLE[name])
    return Anchors({f"{path}.{name}"}, {path})


def repeat(subject: Subject, chain: list[Json], element: Json) -> Anchors | str:
    """max below the base: the first value repeated until there is one too many."""
    places = [p for p in locate(subject, chain, element["id"]) if p.index is not None]
    if not places:
        return NOTHING
    first = places[0]
    group = [p for p in places if p.owner is first.owner and p.key == first.key]
    for _ in range(int(element["max"]) + 1 - len(group)):
        first.owner[first.key].append(copy.deepcopy(first.value))
    return Anchors({p.path for p in group}, {parent(first.path)})


def change(subject: Subject, chain: list[Json], element: Json) -> Anchors | str:
    """fixed[x] / pattern[x]: each value replaced by another of its type."""
    rule = rule_of(element, "fixed") or rule_of(element, "pattern")
    assert rule is not None
    places = locate(subject, chain, element["id"])
    for place in places:
        place.put(changed(place.value, rule, chain, element))
    return anchors_for(places, chain)


def unbind(subject: Subject, chain: list[Json], element: Json) -> Anchors | str:
    """Required binding: each code replaced by one outside the ValueSet; the error must be at
    the bound element or its parent (not under it, where the code system reports the code)."""
    places = locate(subject, chain, element["id"])
    for place in places:
        value = place.value
        if isinstance(value, str):
            place.put(unbound_code(element))
            continue
        for coding in value.get("coding", [value]):
            coding["code"] = NOT_A_CODE
    found = anchors_for(places, chain)
    return Anchors(set(), found.at | found.near) if isinstance(found, Anchors) else found


def unbound_code(element: Json) -> str:
    """A bare code outside the IG ValueSet: one of the core binding's codes when that binding
    is required too (so that only the IG binding fails), else `not-a-code`."""
    core = base_element(element["path"]).get("binding", {})
    if core.get("strength") != "required":
        return NOT_A_CODE
    inside = {c for _, c in ig.expansion(ig.strip_version(element["binding"]["valueSet"]))}
    outside = sorted({c for _, c in ig.expansion(ig.strip_version(core["valueSet"]))} - inside)
    return outside[0] if outside else NOT_A_CODE


def retype(subject: Subject, chain: list[Json], element: Json) -> Anchors | str:
    """Choice narrowed: the first value replaced by one of a type the profile does not allow."""
    allowed = {t["code"] for t in element["type"]}
    others = [t for t in SAMPLES if t in base_types(element["path"]) and t not in allowed]
    places = locate(subject, chain, element["id"])
    if not others:
        return "no sample value of a type the base allows and the profile does not"
    if not places:
        return NOTHING
    place = places[0]
    del place.owner[place.key]
    place.owner.pop("_" + place.key, None)
    key = element["path"].rsplit(".", 1)[-1][:-3] + upper_first(others[0])
    place.owner[key] = copy.deepcopy(SAMPLES[others[0]])
    return Anchors({f"{parent(place.path)}.{key}"}, {parent(place.path)})


def retarget(subject: Subject, chain: list[Json], element: Json) -> Anchors | str:
    """Reference targets narrowed: each reference pointed at a type only the base allows
    (added to the first holder if the example has none)."""
    allowed = {profile_type(u) for t in element["type"] for u in t.get("targetProfile", [])}
    others = sorted(base_targets(element["path"]) - allowed, key=lambda t: (not examples_of(t), t))
    if not others:
        return SAME_TYPE
    reference = {"reference": f"{others[0]}/{(examples_of(others[0]) or ['example'])[0]}"}
    places = locate(subject, chain, element["id"])
    if not places:
        return _add_reference(subject, chain, element, reference)
    for place in places:
        place.put(copy.deepcopy(reference))
    return anchors_for(places, chain)


def _add_reference(
    subject: Subject, chain: list[Json], element: Json, reference: Json
) -> Anchors | str:
    """A reference given to the first object that may hold the element."""
    holders = containers(subject, chain, element["id"])
    if not holders or ":" in element["id"]:
        return NOTHING
    obj, path = holders[0]
    name = element["path"].rsplit(".", 1)[-1]
    many = base_element(element["path"])["max"] != "1"
    obj[name] = [reference] if many else reference
    where = f"{path}.{name}" + ("[0]" if many else "")
    return Anchors({where}, {path})


def examples_of(resource_type: str) -> list[str]:
    """The ids of the examples of a resource type."""
    return [str(r["id"]) for r in ig.examples() if r["resourceType"] == resource_type]


# --------------------------------------------------------------------------- constraints


def kinds(sd: Json, element: Json) -> dict[str, Mutation]:
    """The constraints an element states, by kind, with the mutation that breaks each."""
    found: dict[str, Mutation] = {}
    root = element["path"] == sd["type"]
    if element.get("min", 0) >= 1 and not root:
        found["min"] = remove
    if element.get("max") == "0":
        found["max0"] = add
    if not root and narrower_max(element):
        found["max"] = repeat
    if rule_of(element, "fixed"):
        found["fixed"] = change
    if rule_of(element, "pattern"):
        found["pattern"] = change
    if required_ig_binding(element):
        found["binding"] = unbind
    types = [t["code"] for t in element.get("type", [])]
    if types and element["path"].endswith("[x]") and set(base_types(element["path"])) - set(types):
        found["type"] = retype
    if any(t.get("targetProfile") for t in element.get("type", [])):
        found["target"] = retarget
    return found


def required_ig_binding(element: Json) -> bool:
    """Whether an element is bound, with required strength, to a ValueSet of the IG."""
    binding = element.get("binding", {})
    valueset = ig.strip_version(binding.get("valueSet", ""))
    return binding.get("strength") == "required" and valueset in ig.ig_by_url()


def definitions() -> list[Json]:
    """The IG's StructureDefinitions (profiles and extensions)."""
    return list(ig.ig_of_type("StructureDefinition"))


def uses(resource: Json, url: str) -> list[tuple[str, Json]]:
    """(FHIRPath, extension) of every use of an extension in a resource."""
    return [
        (resource["resourceType"] + path, obj)
        for path, obj in ig.walk(resource)
        if ig._is_extension(path) and obj.get("url") == url
    ]


def examples_for(sd: Json) -> list[Json]:
    """The examples a definition applies to: those claiming it first, then its descendants'."""
    if sd["type"] == "Extension":
        return [r for r in ig.examples() if uses(r, sd["url"])]
    found = [r for r in ig.examples() if sd in ig.ancestry(ig.example_profile(r))]
    return sorted(found, key=lambda r: r["meta"]["profile"][0] != sd["url"])


def subjects(sd: Json) -> Iterator[Subject]:
    """Fresh copies of the examples a definition applies to (one per use of an extension)."""
    for resource in examples_for(sd):
        if sd["type"] != "Extension":
            fresh = copy.deepcopy(resource)
            fresh["meta"]["profile"] = [sd["url"]]
            yield Subject(ig.name_of(resource), fresh, fresh, fresh["resourceType"])
            continue
        for index in range(len(uses(resource, sd["url"]))):
            fresh = copy.deepcopy(resource)
            path, obj = uses(fresh, sd["url"])[index]
            yield Subject(ig.name_of(resource), fresh, obj, path)


def structural_variants() -> tuple[list[Variant], dict[str, str]]:
    """A variant for each constraint of every differential, and the constraints without one."""
    found: list[Variant] = []
    skipped: dict[str, str] = {}
    for sd in definitions():
        chain = ig.ancestry(sd)
        for element in ig.differential(sd):
            for kind, mutate in kinds(sd, element).items():
                label = f"{sd['id']}:{element['id']}:{kind}"
                variant = first_variant(sd, chain, element, mutate, label)
                if isinstance(variant, Variant):
                    found.append(variant)
                else:
                    skipped[label] = variant
    return found, skipped


def first_variant(
    sd: Json, chain: list[Json], element: Json, mutate: Mutation, label: str
) -> Variant | str:
    """The variant from the first example the mutation applies to, or why there is none."""
    reasons: list[str] = []
    for subject in subjects(sd):
        anchors = mutate(subject, chain, element)
        if isinstance(anchors, Anchors):
            return Variant(label, sd["id"], subject.resource, anchors)
        reasons.append(anchors)
    informative = [r for r in reasons if r != NOTHING]
    return "; ".join(dict.fromkeys(informative)) or NOTHING


# --------------------------------------------------------------------------- invariants


def _estimated_age_code(code: str) -> Callable[[Json], None]:
    """A mutation that changes the unit of the estimated-age extension."""

    def mutate(resource: Json) -> None:
        resource["extension"][0]["valueAge"]["code"] = code

    return mutate


# (example, mutation, invariant key that must then fail): keys VIOLATIONS does not cover.
EXTRA_VIOLATIONS: list[tuple[str, Callable[[Json], None], str]] = [
    ("Patient/example-minor-hrt-0519", _estimated_age_code("mo"), "age-1"),
]


def invariant_owners() -> dict[str, Json]:
    """The StructureDefinition stating each error invariant, by key."""
    return {
        c["key"]: sd
        for sd in definitions()
        for element in ig.differential(sd)
        for c in element.get("constraint", [])
        if c["severity"] == "error"
    }


def invariant_variants() -> list[Variant]:
    """A variant for each hand-written invariant violation."""
    found: list[Variant] = []
    seen: Counter[str] = Counter()
    for reference, mutate, key in [*ig.VIOLATIONS, *EXTRA_VIOLATIONS]:
        sd = invariant_owners()[key]
        resource = ig.example(reference)
        mutate(resource)
        seen[key] += 1
        label = f"{sd['id']}:{sd['type']}:{key}" + (f"#{seen[key]}" if seen[key] > 1 else "")
        if sd["type"] == "Extension":
            near = {path for path, _ in uses(resource, sd["url"])}
        else:
            near = {resource["resourceType"]}
        found.append(Variant(label, sd["id"], resource, Anchors(set(), near), key))
    return found


STRUCTURAL, SKIPPED = structural_variants()
VARIANTS = [*STRUCTURAL, *invariant_variants()]


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def validator() -> Validator:
    """The validator over the core package and the IG."""
    return build_validator(default_registry())


def errors(validator: Validator, resource: Json) -> list[Issue]:
    """The error issues of a resource."""
    return [i for i in validator.validate(resource) if i.is_error]


@pytest.mark.parametrize("sd", definitions(), ids=lambda sd: sd["id"])
def test_examples_are_valid(validator: Validator, sd: Json) -> None:
    """The unbroken examples each definition's variants start from have no errors."""
    for subject in subjects(sd):
        assert errors(validator, subject.resource) == [], subject.name


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.label)
def test_variant_is_an_error_at_the_constrained_element(
    validator: Validator, variant: Variant
) -> None:
    """The broken example has an error where the constraint is (naming an invariant's key)."""
    found = errors(validator, variant.resource)
    hits = [i for i in found if variant.anchors.hold(i.expression)]
    if variant.key is not None:
        hits = [i for i in hits if variant.key in i.diagnostics]
    assert hits, (variant.anchors, [(i.expression, i.diagnostics) for i in found])


def test_every_constrained_definition_has_variants() -> None:
    """Each profile or extension stating a constraint got at least one variant."""
    counts = Counter(v.profile for v in VARIANTS)
    constrained = {
        sd["id"]
        for sd in definitions()
        for element in ig.differential(sd)
        if kinds(sd, element) or element.get("constraint")
    }
    print({sd: counts[sd] for sd in sorted(constrained)})
    assert {sd for sd in constrained if counts[sd] == 0} == set()


def test_skipped_constraints_are_the_known_ones() -> None:
    """The constraints without a variant are exactly those in KNOWN_UNTESTABLE."""
    print(SKIPPED)
    assert set(SKIPPED) == set(KNOWN_UNTESTABLE)


def test_every_error_invariant_has_a_violation() -> None:
    """Each error-severity invariant key of the IG is broken by at least one variant."""
    covered = {key for _, _, key in [*ig.VIOLATIONS, *EXTRA_VIOLATIONS]}
    assert set(invariant_owners()) <= covered


# --------------------------------------------------------------------------- known misses


def bundle(*resources: Json) -> Json:
    """A collection Bundle of resources (references between them resolve)."""
    entries = [
        {"fullUrl": f"https://fhir.example/{r['resourceType']}/{r['id']}", "resource": r}
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def errors_at(validator: Validator, resource: Json, anchors: Anchors) -> list[Issue]:
    """The errors of a resource located at the anchors."""
    return [i for i in errors(validator, resource) if anchors.hold(i.expression)]


def test_target_profile_of_a_resolved_reference(validator: Validator) -> None:
    """Consent.patient resolves, in a Bundle, to a Patient that is not a screened-person."""
    patient = {
        "resourceType": "Patient",
        "id": "plain",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    }
    consent = ig.example("Consent/example-consent-karimi")
    consent["patient"] = {"reference": "Patient/plain"}
    where = Anchors({"Bundle.entry[0].resource.patient"})
    assert errors_at(validator, bundle(consent, patient), where)


def test_disallowed_choice_type_given_only_by_its_companion(validator: Validator) -> None:
    """tug allows value[x] Quantity only: a string value with extensions and no value breaks it."""
    tug = ig.example("Observation/example-tug-karimi")
    del tug["valueQuantity"]
    tug["_valueString"] = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
    where = Anchors({"Observation.valueString"}, {"Observation"})
    assert errors_at(validator, tug, where)

"""SDC observation-based extraction: a QuestionnaireResponse into the IG's Observations and
Conditions, and the transaction Bundle that stores them with the response. No Flask.

Which profile an item becomes is read from the IG, never from a table here: the Observation
(or, for a coded group such as `limb-absence.limb`, the Condition) profile whose `code`
pattern or fixed coding slices hold the item's code, else the one whose required `code`
binding holds it. The profile also gives the categories, the value[x] types it allows, the
profiles `hasMember` may point at (the Barthel total gets its sibling items) and, for a
Condition, where each coded answer goes: the extension or element whose required ValueSet
holds the code. A date answer of a group becomes the Condition's onset.

Disabled and unanswered items give nothing; a repeating answer gives one Observation per
answer. Every resource gets a `urn:uuid` made from the response's reference, the linkId, the
group instances on its way and the answer's index, so one response always gives one Bundle.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from screening.fhir.packages import Registry
from screening.fhir.searchset import CANONICAL
from screening.fhir.snapshot import SnapshotError, SnapshotGenerator
from screening.fhir.terminology import Terminology
from screening.screenings.questionnaire import EnableWhen, Form, Item, Option

Json = dict[str, Any]
SCREENING_ENCOUNTER = f"{CANONICAL}/StructureDefinition/screening-encounter"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{CANONICAL}/extraction")
HL7 = "http://hl7.org/fhir/"  # core and HL7 IG definitions: not the IG's own profiles
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
FIELD_VISIT = {"system": f"{TERMINOLOGY}v3-ActCode", "code": "FLD", "display": "field"}
ACTIVE = {"system": f"{TERMINOLOGY}condition-clinical", "code": "active", "display": "Active"}
CONFIRMED = {
    "system": f"{TERMINOLOGY}condition-ver-status",
    "code": "confirmed",
    "display": "Confirmed",
}
EXTRACTED_STATUSES = frozenset({"completed", "amended"})
SIMPLE_VALUES = {  # answer[x] -> (Observation value[x] type, element name)
    "valueBoolean": ("boolean", "valueBoolean"),
    "valueString": ("string", "valueString"),
    "valueDate": ("dateTime", "valueDateTime"),
    "valueDateTime": ("dateTime", "valueDateTime"),
    "valueTime": ("time", "valueTime"),
    "valueQuantity": ("Quantity", "valueQuantity"),
}


class ExtractionError(ValueError):
    """A response that cannot be extracted, or an item no IG profile fits (says which)."""

    def __init__(self, message: str, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression


@dataclass(frozen=True)
class Entry:
    """One resource of a transaction Bundle and the `urn:uuid` it is known by there."""

    full_url: str
    resource: Json


# profiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Where a coded answer goes in a Condition: an extension (by url) or an element."""

    valueset: str
    extension: str | None = None
    element: str | None = None
    repeats: bool = False


@dataclass(frozen=True)
class Target:
    """What an IG profile asks of an extracted resource."""

    url: str
    base: str
    type: str
    codings: tuple[Json, ...]  # codings the profile requires in `code`
    valueset: str | None  # the required binding of `code`
    categories: tuple[Json, ...]  # CodeableConcepts the profile requires in `category`
    value_types: tuple[str, ...]  # the value[x] types it allows
    members: tuple[str, ...]  # the IG profiles `hasMember` may point at
    slots: tuple[Slot, ...] = ()


class Profiles:
    """The IG's Observation and Condition profiles of a registry, read for extraction."""

    def __init__(self, registry: Registry) -> None:
        self.terminology = Terminology(registry)
        self.snapshots = SnapshotGenerator(registry)
        self.targets = tuple(self._targets(registry))

    def _targets(self, registry: Registry) -> Iterator[Target]:
        for sd in registry.all_of("StructureDefinition"):
            url = str(sd.get("url", ""))
            if sd.get("derivation") != "constraint" or url.startswith(HL7):
                continue
            if sd.get("type") in ("Observation", "Condition"):
                yield self._target(url, str(sd["type"]), str(sd.get("baseDefinition", "")))

    def _target(self, url: str, kind: str, base: str) -> Target:
        elements = self._elements(url)
        code = elements.get(f"{kind}.code", {})
        binding = code.get("binding", {})
        value = elements.get(f"{kind}.value[x]", {})
        members = elements.get(f"{kind}.hasMember", {}).get("type", [{}])[0]
        return Target(
            url=url,
            base=base,
            type=kind,
            codings=tuple(self._coded(elements, f"{kind}.code")),
            valueset=binding.get("valueSet") if binding.get("strength") == "required" else None,
            categories=tuple(self._categories(elements, f"{kind}.category")),
            value_types=tuple(t["code"] for t in value.get("type", [])),
            members=tuple(p for p in members.get("targetProfile", []) if not p.startswith(HL7)),
            slots=tuple(self._slots(elements, kind)) if kind == "Condition" else (),
        )

    def _elements(self, url: str) -> dict[str, Json]:
        try:
            snapshot = self.snapshots.with_snapshot(url)["snapshot"]["element"]
        except (SnapshotError, KeyError) as exc:
            raise ExtractionError(f"No snapshot of profile {url}") from exc
        return {str(e["id"]): e for e in snapshot}

    def _coded(self, elements: dict[str, Json], path: str) -> Iterator[Json]:
        """The codings a CodeableConcept element must hold: its pattern, its fixed slices."""
        pattern = _fixed(elements.get(path, {}), "CodeableConcept") or {}
        yield from (self.displayed(c) for c in pattern.get("coding", []))
        for element_id, element in elements.items():
            if element.get("path") != f"{path}.coding" or not element.get("sliceName"):
                continue
            if element.get("min", 0) < 1:
                continue
            coding = _fixed(element, "Coding") or {
                "system": _fixed(elements.get(f"{element_id}.system", {}), "Uri"),
                "code": _fixed(elements.get(f"{element_id}.code", {}), "Code"),
            }
            if coding.get("system") and coding.get("code"):
                yield self.displayed(coding)

    def _categories(self, elements: dict[str, Json], path: str) -> Iterator[Json]:
        """The category CodeableConcepts the required slices fix (with their displays)."""
        for element in elements.values():
            if element.get("path") != path or element.get("min", 0) < 1:
                continue
            concept = _fixed(element, "CodeableConcept")
            if concept:
                valueset = element.get("binding", {}).get("valueSet")
                yield {"coding": [self.displayed(c, valueset) for c in concept["coding"]]}

    def _slots(self, elements: dict[str, Json], kind: str) -> Iterator[Slot]:
        """Where coded answers can go: the extension slices, then coded top-level elements."""
        for element in elements.values():
            profiles = element.get("type", [{}])[0].get("profile", [])
            if element.get("path") == f"{kind}.extension" and element.get("sliceName"):
                valueset = self._extension_valueset(profiles[0]) if profiles else None
                if valueset:
                    yield Slot(valueset, extension=profiles[0])
        for element in elements.values():
            path = str(element.get("path", ""))
            binding = element.get("binding", {})
            if path.count(".") != 1 or binding.get("strength") != "required":
                continue
            if path in (f"{kind}.code", f"{kind}.category") or "sliceName" in element:
                continue
            types = [t.get("code") for t in element.get("type", [])]
            valueset = str(binding.get("valueSet", ""))
            if types == ["CodeableConcept"] and valueset and not valueset.startswith(HL7):
                name = path.split(".", 1)[1]
                yield Slot(valueset, element=name, repeats=_repeats(element))

    def _extension_valueset(self, url: str) -> str | None:
        value = self._elements(url).get("Extension.value[x]", {})
        binding = value.get("binding", {})
        return binding.get("valueSet") if binding.get("strength") == "required" else None

    def displayed(self, coding: Json, valueset: str | None = None) -> Json:
        """A copy of `coding` with its display, when a local CodeSystem or ValueSet has one."""
        if coding.get("display"):
            return dict(coding)
        display = self.display(str(coding.get("system")), str(coding.get("code")), valueset)
        return {**coding, "display": display} if display else dict(coding)

    def display(self, system: str, code: str, valueset: str | None = None) -> str | None:
        """The display of a code from its CodeSystem, else from a ValueSet that lists it."""
        found = self.terminology.check_coding(system, code).display
        if found is None and valueset:
            expansion = self.terminology.expand(valueset)
            concept = expansion.lookup(system, code) if expansion else None
            found = concept.display if concept else None
        return found

    def contains(self, valueset: str, system: str | None, code: str | None) -> bool:
        """Whether a ValueSet (expandable offline) holds the code."""
        expansion = self.terminology.expand(valueset)
        return bool(expansion and system and code and expansion.lookup(system, code))

    def target(self, item: Item, kind: str) -> Target | None:
        """The profile an item becomes: its code in a pattern, else in a required binding."""
        codes = {(c.get("system"), c.get("code")) for c in item.codes}
        candidates = [t for t in self.targets if t.type == kind]
        patterned = [
            t for t in candidates if t.codings and all(_key(c) in codes for c in t.codings)
        ]
        bound = [
            t
            for t in candidates
            if not t.codings and t.valueset and any(self.contains(t.valueset, *k) for k in codes)
        ]
        for found in (patterned, bound):
            found = [t for t in found if not any(o.base == t.url for o in found)]
            if len(found) > 1:
                names = ", ".join(sorted(t.url for t in found))
                raise ExtractionError(
                    f"Item {item.link_id}: its code fits several profiles: {names}"
                )
            if found:
                return found[0]
        return None


_PROFILES: dict[int, Profiles] = {}
_LOCK = threading.Lock()


def profiles_of(registry: Registry) -> Profiles:
    """The extraction view of a registry's profiles (read once per process)."""
    with _LOCK:
        found = _PROFILES.get(id(registry))
        if found is None:
            found = _PROFILES[id(registry)] = Profiles(registry)
    return found


def _repeats(element: Json) -> bool:
    """Whether the element is a JSON array (its base definition's max, not the profile's)."""
    return str(element.get("base", {}).get("max", element.get("max"))) != "1"


def _fixed(element: Json, type_name: str) -> Any:
    return element.get(f"fixed{type_name}") or element.get(f"pattern{type_name}")


def _key(coding: Json) -> tuple[Any, Any]:
    return coding.get("system"), coding.get("code")


# extraction ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What every extracted resource takes from the response."""

    source: str  # the reference derivedFrom names
    subject: Json
    author: Json
    authored: str
    encounter: Json | None = None


@dataclass
class _Made:
    """Entries made from one container of items: those of its own questions, and all."""

    direct: list[tuple[Target, Entry]] = field(default_factory=list)
    everything: list[Entry] = field(default_factory=list)


def extract(form: Form, response: Json, registry: Registry, source: str) -> list[Entry]:
    """The Observations and Conditions of a completed response, in the order of its items;
    `source` is how they name the response (`urn:uuid:...`, `QuestionnaireResponse/1`)."""
    walk = _Walk(form, profiles_of(registry), context_of(response, source))
    items = _dicts(response.get("item"))
    return walk.container(items, [items], ())


def context_of(response: Json, source: str) -> Context:
    """Subject, author, authored and encounter of a response that can be extracted."""
    if response.get("status") not in EXTRACTED_STATUSES:
        raise ExtractionError(
            "Only a completed (or amended) QuestionnaireResponse is extracted",
            "QuestionnaireResponse.status",
        )
    parts = {}
    for name in ("subject", "author", "authored"):
        value = response.get(name)
        if not value or (name != "authored" and not isinstance(value, dict)):
            raise ExtractionError(
                f"The QuestionnaireResponse needs {name} to be extracted",
                f"QuestionnaireResponse.{name}",
            )
        parts[name] = value
    encounter = response.get("encounter")
    return Context(
        source,
        parts["subject"],
        parts["author"],
        str(parts["authored"]),
        encounter if isinstance(encounter, dict) else None,
    )


class _Walk:
    """One walk over a response's items, making resources as it goes."""

    def __init__(self, form: Form, profiles: Profiles, context: Context) -> None:
        self.form = form
        self.profiles = profiles
        self.context = context

    def container(
        self, items: list[Json], scopes: list[list[Json]], path: tuple[int, ...]
    ) -> list[Entry]:
        """The resources of a list of response items (the top level, a group, an answer)."""
        made = _Made()
        seen: dict[str, int] = {}
        for element in items:
            link = str(element.get("linkId"))
            item = self.form.by_link_id.get(link)
            seen[link] = seen.get(link, -1) + 1
            if item is None or not _enabled(item, scopes):
                continue
            where = (*path, seen[link])
            if item.type == "group":
                made.everything += self.group(item, element, scopes, where)
            else:
                self.question(item, element, scopes, where, made)
        _link_members(made.direct)
        return made.everything

    def group(
        self, item: Item, element: Json, scopes: list[list[Json]], path: tuple[int, ...]
    ) -> list[Entry]:
        """A group instance: its Condition (when its code fits one), then its items."""
        children = _dicts(element.get("item"))
        made = []
        target = self.profiles.target(item, "Condition") if item.codes else None
        if target is not None:
            condition = self.condition(item, target, [*scopes, children], path)
            made += [condition] if condition else []
        return made + self.container(children, [*scopes, children], path)

    def question(
        self,
        item: Item,
        element: Json,
        scopes: list[list[Json]],
        path: tuple[int, ...],
        made: _Made,
    ) -> None:
        """A question: one Observation per answer when it is extracted; nested items."""
        answers = _dicts(element.get("answer"))
        target = self.profiles.target(item, "Observation") if item.extract else None
        if item.extract and target is None:
            raise ExtractionError(f"Item {item.link_id}: no IG Observation profile fits its code")
        for index, answer in enumerate(answers):
            if target is not None and _answer_value(answer) is not None:
                entry = self.observation(item, target, answer, self._url(item, path, index))
                made.direct.append((target, entry))
                made.everything.append(entry)
            nested = _dicts(answer.get("item"))
            made.everything += self.container(nested, [*scopes, nested], (*path, index))

    def _url(self, item: Item, path: tuple[int, ...], answer: int | None) -> str:
        instance = ".".join(str(n) for n in path)
        name = f"{self.context.source}|{item.link_id}|{instance}|{'' if answer is None else answer}"
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, name)}"

    def observation(self, item: Item, target: Target, answer: Json, full_url: str) -> Entry:
        """The Observation of one answer."""
        context = self.context
        name, value = self.value(item, target, answer)
        resource: Json = {
            "resourceType": "Observation",
            "meta": {"profile": [target.url]},
            "status": "final",
        }
        if target.categories:
            resource["category"] = [json_copy(c) for c in target.categories]
        resource["code"] = {"coding": self.codings(target, item)}
        resource["subject"] = dict(context.subject)
        if context.encounter:
            resource["encounter"] = dict(context.encounter)
        resource["effectiveDateTime"] = context.authored
        resource["performer"] = [dict(context.author)]
        resource[name] = value
        resource["derivedFrom"] = [{"reference": context.source}]
        return Entry(full_url, resource)

    def codings(self, target: Target, item: Item) -> list[Json]:
        """The item's codes and any the profile requires, with known displays."""
        found: dict[tuple[Any, Any], Json] = {}
        for coding in [*item.codes, *target.codings]:
            plain = {k: v for k, v in coding.items() if not k.startswith("_")}
            found.setdefault(_key(plain), self.profiles.displayed(plain))
        return list(found.values())

    def value(self, item: Item, target: Target, answer: Json) -> tuple[str, Any]:
        """The Observation value[x] of an answer, as the item type and the profile allow."""
        kind, raw = _answer_value(answer) or ("", None)
        allowed = target.value_types or ("Quantity", "CodeableConcept", "integer")
        if kind == "valueCoding" and isinstance(raw, dict):
            option = _option(item, raw)
            if "CodeableConcept" in allowed:
                return "valueCodeableConcept", {"coding": [self.coding(item, raw)]}
            if "integer" in allowed and option and option.ordinal is not None:
                return "valueInteger", _whole(option.ordinal, item)
        elif kind in ("valueInteger", "valueDecimal"):
            if kind == "valueInteger" and "integer" in allowed:
                return "valueInteger", raw
            if "Quantity" in allowed and item.unit:
                return "valueQuantity", _quantity(raw, item.unit)
        elif kind in SIMPLE_VALUES and SIMPLE_VALUES[kind][0] in allowed:
            return SIMPLE_VALUES[kind][1], raw
        raise ExtractionError(
            f"Item {item.link_id}: a {kind or 'missing'} answer fits no value type of profile"
            f" {target.url} ({', '.join(allowed)})"
        )

    def coding(self, item: Item, raw: Json) -> Json:
        """An answer's Coding as the Questionnaire states it (system, code, display)."""
        option = _option(item, raw)
        if option is not None:
            return dict(option.value["valueCoding"])
        plain: Json = {k: raw[k] for k in ("system", "version", "code", "display") if k in raw}
        return self.profiles.displayed(plain)

    def condition(
        self, item: Item, target: Target, scopes: list[list[Json]], path: tuple[int, ...]
    ) -> Entry | None:
        """The Condition of one answered group instance (coded answers into the slots the
        profile's ValueSets decide, a date answer as the onset)."""
        placed: dict[Slot, Json] = {}
        onset = None
        for child_item, answer in self.answers(scopes[-1], scopes):
            coding = answer.get("valueCoding")
            if isinstance(coding, dict):
                slot = self._slot(target, coding)
                if slot is not None:
                    placed.setdefault(slot, self.coding(child_item, coding))
            onset = onset or answer.get("valueDate") or answer.get("valueDateTime")
        if not placed and onset is None:
            return None
        return Entry(self._url(item, path, None), self._condition(item, target, placed, onset))

    def answers(self, items: list[Json], scopes: list[list[Json]]) -> Iterator[tuple[Item, Json]]:
        """(item, answer) of every answer of the enabled items at or below `items`."""
        for element in items:
            item = self.form.by_link_id.get(str(element.get("linkId")))
            if item is None or not _enabled(item, scopes):
                continue
            for answer in _dicts(element.get("answer")):
                yield item, answer
                nested = _dicts(answer.get("item"))
                yield from self.answers(nested, [*scopes, nested])
            children = _dicts(element.get("item"))
            yield from self.answers(children, [*scopes, children])

    def _slot(self, target: Target, coding: Json) -> Slot | None:
        return next(
            (s for s in target.slots if self.profiles.contains(s.valueset, *_key(coding))), None
        )

    def _condition(
        self, item: Item, target: Target, placed: dict[Slot, Json], onset: str | None
    ) -> Json:
        context = self.context
        resource: Json = {"resourceType": "Condition", "meta": {"profile": [target.url]}}
        extensions = [
            {"url": s.extension, "valueCodeableConcept": {"coding": [placed[s]]}}
            for s in target.slots
            if s.extension and s in placed
        ]
        if extensions:
            resource["extension"] = extensions
        resource["clinicalStatus"] = {"coding": [dict(ACTIVE)]}
        resource["verificationStatus"] = {"coding": [dict(CONFIRMED)]}
        resource["code"] = {"coding": self.codings(target, item)}
        for slot in target.slots:
            if slot.element and slot in placed:
                concept = {"coding": [placed[slot]]}
                resource[slot.element] = [concept] if slot.repeats else concept
        resource["subject"] = dict(context.subject)
        if context.encounter:
            resource["encounter"] = dict(context.encounter)
        if onset:
            resource["onsetDateTime"] = onset
        resource["recordedDate"] = context.authored
        resource["recorder"] = dict(context.author)
        resource["evidence"] = [{"detail": [{"reference": context.source}]}]
        return resource


def _link_members(made: list[tuple[Target, Entry]]) -> None:
    """Point an Observation whose profile has members (a total) at its sibling members."""
    for target, entry in made:
        if not target.members:
            continue
        members = [
            {"reference": e.full_url} for t, e in made if e is not entry and t.url in target.members
        ]
        if members:
            entry.resource["hasMember"] = members
            entry.resource["derivedFrom"] = entry.resource.pop("derivedFrom")  # R4 order


def _enabled(item: Item, scopes: list[list[Json]]) -> bool:
    """Whether the item's enableWhen holds for the answers nearest to it."""
    if not item.enable_when:
        return True
    results = [_holds(c, _answers_of(c.question, scopes)) for c in item.enable_when]
    return any(results) if item.enable_any else all(results)


def _holds(condition: EnableWhen, answers: list[Json]) -> bool:
    keys = [k for k in map(_answer_key, answers) if k is not None]
    if condition.operator == "exists":
        return (condition.answer == "true") == bool(keys)
    if condition.operator == "=":
        return condition.answer in keys
    if condition.operator == "!=":
        return any(k != condition.answer for k in keys)
    return any(_compare(k, condition.answer, condition.operator) for k in keys)


def _compare(value: str, limit: str, operator: str) -> bool:
    order = _order(value, limit)
    tests = {">": order > 0, "<": order < 0, ">=": order >= 0, "<=": order <= 0}
    return tests.get(operator, False)


def _order(value: str, limit: str) -> int:
    """-1, 0 or 1: numbers by value, anything else (dates) as text."""
    try:
        left, right = Decimal(value), Decimal(limit)
    except InvalidOperation:
        return int(value > limit) - int(value < limit)
    return int(left > right) - int(left < right)


def _answer_key(answer: Json) -> str | None:
    """An answer as the form keys of `EnableWhen.answer` ("true", a code, a number)."""
    typed = _answer_value(answer)
    if typed is None:
        return None
    kind, value = typed
    if kind == "valueCoding":
        return str(value.get("code")) if isinstance(value, dict) else None
    if kind == "valueBoolean":
        return "true" if value else "false"
    return str(value)


def _answers_of(link_id: str, scopes: list[list[Json]]) -> list[Json]:
    """The answers to `link_id` in the innermost group instance that holds the question."""
    for items in reversed(scopes):
        found = list(_find(items, link_id))
        if found:
            return [a for element in found for a in _dicts(element.get("answer"))]
    return []


def _find(items: list[Json], link_id: str) -> Iterator[Json]:
    for element in items:
        if element.get("linkId") == link_id:
            yield element
        yield from _find(_dicts(element.get("item")), link_id)
        for answer in _dicts(element.get("answer")):
            yield from _find(_dicts(answer.get("item")), link_id)


def _answer_value(answer: Json) -> tuple[str, Any] | None:
    return next(((k, v) for k, v in answer.items() if k.startswith("value")), None)


def _option(item: Item, raw: Any) -> Option | None:
    if not isinstance(raw, dict):
        return None
    option = item.option(str(raw.get("code")))
    if option is None or option.value.get("valueCoding", {}).get("system") != raw.get("system"):
        return None
    return option


def _whole(number: Decimal, item: Item) -> int:
    if number != number.to_integral_value():
        raise ExtractionError(f"Item {item.link_id}: ordinal value {number} is not a whole number")
    return int(number)


def _quantity(value: Any, unit: Json) -> Json:
    """A valueQuantity in the item's UCUM unit (the code is the unit text, as the IG does)."""
    quantity: Json = {"value": value, "unit": unit.get("code")}
    return {**quantity, "system": unit.get("system"), "code": unit.get("code")}


def _dicts(value: Any) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def json_copy(value: Json) -> Json:
    """A deep copy of a JSON object."""
    copied: Json = json.loads(json.dumps(value))
    return copied


# Bundles and the visit ----------------------------------------------------------------------


def response_bundle(form: Form, response: Json, registry: Registry) -> Json:
    """The transaction Bundle that stores a response (POSTed as new) and what it extracts,
    their derivedFrom pointing at the response's `urn:uuid` (made from its content)."""
    fresh = _as_new(response)
    text = json.dumps(fresh, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    source = f"urn:uuid:{uuid.uuid5(NAMESPACE, text)}"
    return transaction([Entry(source, fresh), *extract(form, fresh, registry, source)])


def _as_new(response: Json) -> Json:
    """The response without what a server assigns (id, versionId, lastUpdated)."""
    fresh = {k: v for k, v in json_copy(response).items() if k != "id"}
    meta = {k: v for k, v in fresh.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        fresh["meta"] = meta
    else:
        fresh.pop("meta", None)
    return fresh


def transaction(entries: Sequence[Entry]) -> Json:
    """A transaction Bundle that creates each entry (POST, fullUrl `urn:uuid`)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": e.full_url,
                "resource": e.resource,
                "request": {"method": "POST", "url": str(e.resource["resourceType"])},
            }
            for e in entries
        ],
    }


def screening_encounter(
    patient_ref: str,
    practitioner_ref: str,
    location_ref: str,
    start: str,
    end: str | None = None,
) -> Json:
    """A screening visit (profile screening-encounter): finished when it has an end."""
    return {
        "resourceType": "Encounter",
        "meta": {"profile": [SCREENING_ENCOUNTER]},
        "status": "finished" if end else "in-progress",
        "class": dict(FIELD_VISIT),
        "subject": {"reference": patient_ref},
        "participant": [{"individual": {"reference": practitioner_ref}}],
        "period": {"start": start, **({"end": end} if end else {})},
        "location": [{"location": {"reference": location_ref}}],
    }

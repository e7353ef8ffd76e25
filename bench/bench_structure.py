"""Checks per second of the structural validator layer (`screening.fhir.structure`).

Run: `PYTHONPATH=src python bench/bench_structure.py [seconds per case]`. Prints figures only.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from screening.fhir.packages import default_registry
from screening.fhir.structure import StructureChecker


def observation(index: int = 0) -> dict[str, Any]:
    """A small blood-pressure Observation with two components."""

    def quantity(value: float) -> dict[str, Any]:
        """A UCUM mmHg quantity."""
        return {
            "value": value,
            "unit": "mmHg",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        }

    def loinc(code: str) -> dict[str, Any]:
        """A LOINC CodeableConcept."""
        return {"coding": [{"system": "http://loinc.org", "code": code}]}

    return {
        "resourceType": "Observation",
        "id": f"bp-{index}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": loinc("85354-9"),
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-01-20T09:30:00+01:00",
        "component": [
            {"code": loinc("8480-6"), "valueQuantity": quantity(120)},
            {"code": loinc("8462-4"), "valueQuantity": quantity(80.5)},
        ],
    }


def patient(index: int) -> dict[str, Any]:
    """A Patient with a name, telecom, address and a `_birthDate` extension."""
    return {
        "resourceType": "Patient",
        "id": f"p-{index}",
        "identifier": [{"system": "http://example.org/mrn", "value": str(index)}],
        "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
        "telecom": [{"system": "phone", "value": "+31 20 555 0101", "use": "home"}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "valueDateTime": "1974-12-25T14:35:45-05:00",
                }
            ]
        },
        "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}],
    }


def bundle(size: int = 50) -> dict[str, Any]:
    """A transaction Bundle of `size` entries, alternating Patients and Observations."""
    entries = []
    for index in range(size):
        resource = patient(index) if index % 2 == 0 else observation(index)
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def rate(check: Callable[[Any], object], resource: dict[str, Any], seconds: float) -> float:
    """Checks per second of `check(resource)`, run for about `seconds`."""
    count, batch = 0, 100
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            check(resource)
        count += batch
    return count / elapsed


def main() -> None:
    """Print the machine and the checks per second of each case."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}")
    print(f"cpus: {os.cpu_count()}, python {platform.python_version()}")
    start = time.perf_counter()
    checker = StructureChecker(default_registry())
    print(f"registry + checker setup: {time.perf_counter() - start:.2f} s")
    for name, resource in (("Observation", observation()), ("Bundle (50 entries)", bundle())):
        issues = checker.check(resource)  # warms the per-type caches
        if issues:
            raise SystemExit(f"{name} should be valid: {issues}")
        print(f"{name}: {rate(checker.check, resource, seconds):,.0f} checks/s (one core)")


if __name__ == "__main__":
    main()

"""Search-index extractions per second (`screening.fhir.search_extract`), warm.

Run: `PYTHONPATH=src python bench/bench_extract.py [seconds per case]`. Prints figures only.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

from screening.fhir.packages import default_registry
from screening.fhir.search_extract import SearchIndexer

UCUM = "http://unitsofmeasure.org"
SCT = "http://snomed.info/sct"


def loinc(code: str) -> dict[str, Any]:
    """A LOINC CodeableConcept."""
    return {"coding": [{"system": "http://loinc.org", "code": code}]}


def observation() -> dict[str, Any]:
    """A blood-pressure Observation with two components and a profile."""
    mmhg = {"unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
    return {
        "resourceType": "Observation",
        "id": "bp-1",
        "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/bp"]},
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
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "effectiveDateTime": "2024-01-20T09:30:00+01:00",
        "performer": [{"reference": "Practitioner/pr1"}],
        "component": [
            {"code": loinc("8480-6"), "valueQuantity": {"value": 120, **mmhg}},
            {"code": loinc("8462-4"), "valueQuantity": {"value": 80.5, **mmhg}},
        ],
    }


def patient() -> dict[str, Any]:
    """A Patient with identifier, name, telecom and address."""
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "http://example.org/national-id", "value": "0012345678"}],
        "active": True,
        "name": [{"family": "Karimi", "given": ["Ali", "Reza"]}],
        "telecom": [{"system": "phone", "value": "+98 21 1234 5678", "use": "home"}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "address": [{"line": ["12 Main St"], "city": "Tehran", "postalCode": "1234567890"}],
        "managingOrganization": {"reference": "Organization/o1"},
    }


def service_request() -> dict[str, Any]:
    """A physiotherapy referral."""
    return {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "identifier": [{"system": "http://example.org/orders", "value": "ORD-1"}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": SCT, "code": "409063005"}]}],
        "priority": "urgent",
        "code": {"coding": [{"system": SCT, "code": "91251008"}]},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "occurrencePeriod": {"start": "2024-05-01", "end": "2024-06-01"},
        "authoredOn": "2024-04-01T08:00:00Z",
        "requester": {"reference": "Practitioner/pr1"},
        "performer": [{"reference": "Organization/rehab"}],
    }


def rate(indexer: SearchIndexer, resource: dict[str, Any], seconds: float) -> tuple[float, int]:
    """Warm extractions per second of `resource`, and how many values one extraction gives."""
    count = len(indexer.extract(resource))
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            indexer.extract(resource)
        done += 200
    return done / elapsed, count


def main() -> None:
    """Print the machine and the rate of each case."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    indexer = SearchIndexer(default_registry())
    for make in (observation, patient, service_request):
        per_second, count = rate(indexer, make(), seconds)
        print(
            f"{make.__name__:16} {per_second:10,.0f} extractions/s "
            f"{1e6 / per_second:7.1f} us each, {count} values"
        )


if __name__ == "__main__":
    main()

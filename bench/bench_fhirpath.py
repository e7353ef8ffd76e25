"""Evaluations per second of FHIR invariants through `screening.fhir.fhirpath` (fhirpathpy).

Run: `PYTHONPATH=src python bench/bench_fhirpath.py [seconds per case]`. Prints figures only.
Every case is warm: the expression is compiled and the registry loaded before timing.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from screening.fhir.fhirpath import InvariantRunner, compile_expression, core_constraints
from screening.fhir.packages import Registry, default_registry

Json = Any
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def observation(components: int = 2, contained: int = 0) -> Json:
    """A blood-pressure Observation with components and, optionally, contained Patients."""
    body: Json = {
        "resourceType": "Observation",
        "id": "bp",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">BP</div>',
        },
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": "Patient/example"},
        "effectivePeriod": {"start": "2024-01-20T09:30:00+01:00", "end": "2024-01-20T09:35:00Z"},
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": f"8480-{i}"}]},
                "valueQuantity": {
                    "value": 120 + i,
                    "unit": "mmHg",
                    "system": UCUM,
                    "code": "mm[Hg]",
                },
            }
            for i in range(components)
        ],
    }
    if contained:
        body["contained"] = [{"resourceType": "Patient", "id": f"p{i}"} for i in range(contained)]
        body["performer"] = [{"reference": f"#p{i}"} for i in range(contained)]
    return body


def questionnaire(items: int) -> Json:
    """A Questionnaire of groups of three string items each."""
    groups = [
        {
            "linkId": f"g{g}",
            "type": "group",
            "item": [{"linkId": f"g{g}.{i}", "type": "string", "text": "q"} for i in range(3)],
        }
        for g in range(items // 3)
    ]
    return {"resourceType": "Questionnaire", "status": "draft", "item": groups}


def constraint(registry: Registry, type_name: str, key: str) -> dict[str, Any]:
    """A core constraint by type and key."""
    sd = registry.structure_definition(type_name)
    assert sd is not None
    for element in sd["snapshot"]["element"]:
        for item in element.get("constraint", []):
            if item["key"] == key:
                return dict(item)
    raise KeyError(key)


def rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of `call()`, run for about `seconds`."""
    count, batch = 0, 50
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            call()
        count += batch
    return count / elapsed


def case(
    runner: InvariantRunner, key: str, type_name: str, node: Json, location: str, resource: Json
) -> Callable[[], object]:
    """A warm check of one constraint at one node (asserting it holds)."""
    item = constraint(runner.registry, type_name, key)

    def call() -> object:
        issue = runner.check(item, node, location, resource=resource, root_resource=resource)
        assert issue is None, issue
        return issue

    call()
    return call


def main() -> None:
    """Print the machine, then evaluations per second of each case."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}")
    print(f"cpus: {os.cpu_count()}, python {platform.python_version()}")
    registry = default_registry()
    runner = InvariantRunner(registry)
    start = time.perf_counter()
    expressions = {item["expression"] for _u, _p, item in core_constraints(registry)}
    for expression in expressions:
        compile_expression(expression)
    elapsed = time.perf_counter() - start
    print(f"compile all {len(expressions)} distinct core expressions: {elapsed:.2f} s (cold)")
    obs, big = observation(), observation(components=40, contained=5)
    period = obs["effectivePeriod"]
    cases = [
        ("obs-6", case(runner, "obs-6", "Observation", obs, "Observation", obs)),
        ("dom-2", case(runner, "dom-2", "Observation", obs, "Observation", obs)),
        ("per-1 (dateTimes, zones)", case(runner, "per-1", "Period", period, "Period", obs)),
        ("obs-7 (2 components)", case(runner, "obs-7", "Observation", obs, "Observation", obs)),
        ("dom-3 (no contained)", case(runner, "dom-3", "Observation", obs, "Observation", obs)),
        (
            "dom-3 (5 contained, 40 comps)",
            case(runner, "dom-3", "Observation", big, "Observation", big),
        ),
        ("txt-1 (native)", case(runner, "txt-1", "Narrative", obs["text"]["div"], "div", obs)),
    ]
    q = questionnaire(120)
    cases.append(
        ("que-2 (120 items)", case(runner, "que-2", "Questionnaire", q, "Questionnaire", q))
    )
    for name, call in cases:
        print(f"{name:32} {rate(call, seconds):>10,.0f} evaluations/s (one core)")


if __name__ == "__main__":
    main()

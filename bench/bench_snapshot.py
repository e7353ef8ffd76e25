"""Snapshot generation times (`screening.fhir.snapshot`) on core derived profiles.

Run: `PYTHONPATH=src python bench/bench_snapshot.py [repeats]`. Prints figures only: the best
time of `repeats` runs per profile (less noisy than a mean on a shared machine), with the
shipped snapshot stripped so the whole chain is generated.
"""

from __future__ import annotations

import platform
import sys
import time
from typing import Any

from screening.fhir.packages import default_registry
from screening.fhir.snapshot import SnapshotGenerator

CORE = "http://hl7.org/fhir/StructureDefinition/"
PROFILES = (
    "bp",
    "vitalsigns",
    "bodyweight",
    "observation-genetics",
    "elementdefinition-de",
    "shareableplandefinition",
    "patient-nationality",
)


def best_ms(generator: SnapshotGenerator, sd: dict[str, Any], repeats: int) -> float:
    """The fastest of `repeats` generations, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        generator.generate(sd)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    """Print per-profile times, then the time to regenerate every core derived profile."""
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    registry = default_registry()
    generator = SnapshotGenerator(registry)
    print(f"python {platform.python_version()} on {platform.machine()}, best of {repeats}")
    for name in PROFILES:
        shipped = registry.get(CORE + name)
        assert shipped is not None
        sd = {k: v for k, v in shipped.items() if k != "snapshot"}
        count = len(shipped["snapshot"]["element"])
        print(f"{name:28} {count:4} elements {best_ms(generator, sd, repeats):7.2f} ms")
    derived = [
        {k: v for k, v in sd.items() if k != "snapshot"}
        for sd in registry.all_of("StructureDefinition")
        if sd.get("derivation") == "constraint" and "snapshot" in sd
    ]
    start = time.perf_counter()
    for sd in derived:
        generator.generate(sd)
    total = time.perf_counter() - start
    print(f"all {len(derived)} core derived profiles: {total * 1000:.0f} ms")


if __name__ == "__main__":
    main()

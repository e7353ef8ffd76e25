"""Validations per second of the profile validator (`screening.fhir.validator`), one core.

Run: `python bench/bench_validator.py [seconds per case]`. Prints the machine, then for each
case the median and the best of seven timed rounds in one warm process: (a) the profiled TUG
Observation, (b) the referral ServiceRequest, (c) a 50-entry transaction Bundle of the IG
examples, and (d) the cold start of `screening validate` on one file (a new process, wall
clock). The validator is warmed up as a server worker is (`warm_up`: the IG examples validated once,
then the long-lived definitions frozen out of the garbage collector's scans). The TUG case
cycles through 1,000 variants (ids, values and times differ) so that no memo of a value
makes it look faster than a stream of real screenings.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from screening.fhir.packages import default_registry
from screening.fhir.validation import build_validator, warm_up
from screening.paths import data_dir

EXAMPLES = data_dir("fhir_profiles") / "examples"


def example(name: str) -> dict[str, Any]:
    """An IG example by file name (without `.json`)."""
    found: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return found


def transaction(size: int = 50) -> dict[str, Any]:
    """A transaction Bundle of `size` entries cycling through the IG examples."""
    files = sorted(EXAMPLES.glob("*.json"))
    entries = []
    for index in range(size):
        resource = json.loads(files[index % len(files)].read_text())
        resource["id"] = f"{resource.get('id', 'r')}-{index}"
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def tug_variants(count: int = 1000) -> list[dict[str, Any]]:
    """`count` profiled TUG Observations that differ in id, value and time."""
    base = example("Observation-example-tug-karimi")
    found = []
    for index in range(count):
        variant = copy.deepcopy(base)
        variant["id"] = f"tug-{index}"
        variant["valueQuantity"]["value"] = 8 + (index % 300) / 10
        month, day, minute = 1 + index % 12, 1 + index % 28, index % 60
        variant["effectiveDateTime"] = f"2026-{month:02d}-{day:02d}T09:{minute:02d}:00+04:30"
        found.append(variant)
    return found


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Calls per CPU second of this process over seven rounds of `seconds / 7` CPU seconds
    each: (median, best). CPU time, not wall time, because "per second on one core" is what
    is asked, and this shared VM lends its cores to others: wall-clock rates drift by a
    third between minutes. The median says what to expect, the best what the code does."""
    rates = []
    for _ in range(7):
        count, start = 0, time.process_time()
        while time.process_time() - start < seconds / 7:
            fn()
            count += 1
        rates.append(count / (time.process_time() - start))
    return statistics.median(rates), max(rates)


def cold_start() -> float:
    """Seconds from starting `screening validate FILE` to its exit (best of three)."""
    target = EXAMPLES / "Patient-example-ahmad-karimi.json"
    command = [sys.executable, "-m", "screening.cli", "validate", str(target)]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def cpu_model() -> str:
    """The CPU model name (Linux), else the platform's processor string."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    """Print the machine and the figures."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    print(f"machine: {platform.platform()}; CPU: {cpu_model()}; cpus: {os.cpu_count()}")
    print(f"python {platform.python_version()}")
    validator = build_validator(default_registry())
    warm_up(validator)  # as each server worker does after start-up
    cases = {
        "(a) TUG Observation (profiled)": tug_variants(),
        "(b) referral ServiceRequest": example("ServiceRequest-example-referral-karimi"),
        "(c) transaction Bundle, 50 entries": transaction(),
    }
    for name, case in cases.items():
        resources = case if isinstance(case, list) else [case]
        errors = [i for r in resources for i in validator.validate(r) if i.is_error]
        stream = itertools.cycle(resources)
        median, best = rate(lambda s=stream: validator.validate(next(s)), seconds)
        line = f"{median:9.1f} validations/s median, {best:9.1f} best"
        print(f"{name:38} {line}  ({len(errors)} errors)")
    print(f"{'(d) cold start, screening validate':38} {cold_start():9.2f} s")


if __name__ == "__main__":
    main()

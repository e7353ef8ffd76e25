"""Validations per second of the profile validator (`screening.fhir.validator`), one core.

Run: `python bench/bench_validator.py [seconds per case]`. Prints the machine, then for each
case the best of five timed rounds in one warm process: (a) the profiled TUG Observation,
(b) the referral ServiceRequest, (c) a 50-entry transaction Bundle of the IG examples, and
(d) the cold start of `screening validate` on one file (a new process, wall clock).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from screening.fhir.packages import default_registry
from screening.fhir.validation import build_validator
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


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second: the best of five rounds of `seconds / 5` each."""
    best = 0.0
    for _ in range(5):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            fn()
            count += 1
        best = max(best, count / (time.perf_counter() - start))
    return best


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
    cases = {
        "(a) TUG Observation (profiled)": example("Observation-example-tug-karimi"),
        "(b) referral ServiceRequest": example("ServiceRequest-example-referral-karimi"),
        "(c) transaction Bundle, 50 entries": transaction(),
    }
    for name, resource in cases.items():
        errors = [i for i in validator.validate(resource) if i.is_error]
        per_second = rate(lambda r=resource: validator.validate(r), seconds)
        print(f"{name:38} {per_second:9.1f} validations/s  ({len(errors)} errors)")
    print(f"{'(d) cold start, screening validate':38} {cold_start():9.2f} s")


if __name__ == "__main__":
    main()

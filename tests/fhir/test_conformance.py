"""Agreement with the HL7 reference validator on the vendored fhir-test-cases R4 suite.

Every case under `tests/conformance/cases` is validated in-process the way `screening validate
--load S... [--profile P] INPUT` does it (support files loaded into a fresh Registry), and the
error counts are compared with the reference's like `tests/conformance/run_suite.py` does
(including its `suppress` strings). The agreement may only go up: the floors below are the
figures reached when they were last raised.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from screening.fhir.packages import Registry
from screening.fhir.validate_cli import _load, _outcome, _profile_url
from screening.fhir.validation import build_validator
from screening.paths import core_package, data_dir

CASES = Path(__file__).resolve().parents[1] / "conformance" / "cases"

# Floors (cases of 146): raise them when the agreement improves, never lower them.
MIN_VERDICT = 138
MIN_EXACT = 136


@dataclass(frozen=True)
class Result:
    """One case: the reference's error count and ours."""

    name: str
    category: str
    expected: int
    got: int

    @property
    def verdict_ok(self) -> bool:
        """Both say valid, or both say invalid."""
        return (self.got > 0) == (self.expected > 0)

    @property
    def exact_ok(self) -> bool:
        """Both report the same number of errors."""
        return self.got == self.expected


_base: Registry | None = None
_base_lock = threading.Lock()


def _fresh_registry() -> Registry:
    """A Registry holding the core package and the IG, as `screening validate` builds it.

    The packages are read once per test session; each case gets its own copy of the indexes,
    so what one case loads is never seen by another.
    """
    global _base
    with _base_lock:
        if _base is None:
            _base = Registry()
            _base.load_package(core_package())
            _base.load_package(data_dir("fhir_profiles"))
    fresh = copy.copy(_base)
    fresh.__dict__.update(
        _by_url=dict(_base._by_url),
        _by_type={k: list(v) for k, v in _base._by_type.items()},
        _sp_index=None,
        _lock=threading.Lock(),
        packages=list(_base.packages),
    )
    return fresh


def case_names() -> list[str]:
    """Every case folder (one holding an expected.json)."""
    return sorted(p.parent.name for p in CASES.glob("*/expected.json"))


def expectation(name: str) -> dict[str, Any]:
    """The case's expected.json."""
    found: dict[str, Any] = json.loads((CASES / name / "expected.json").read_text())
    return found


def run_case(name: str) -> tuple[Result, list[dict[str, Any]]]:
    """Validate one case in-process; the errors counted as run_suite.py counts them."""
    exp = expectation(name)
    folder = CASES / name
    registry = _fresh_registry()
    for support in exp.get("supporting", []):
        _load(registry, folder / support)
    profiles = [_profile_url(registry, str(folder / exp["profile"]))] if exp.get("profile") else []
    validator = build_validator(registry)
    outcome = _outcome(validator.validate, folder / exp["input"], tuple(profiles))
    suppress = exp.get("suppress") or []
    errors = [
        i
        for i in outcome["issue"]
        if i["severity"] in ("error", "fatal")
        and not any(s in i.get("diagnostics", "") for s in suppress)
    ]
    return Result(name, str(exp.get("category")), int(exp["errors"]), len(errors)), errors


@pytest.fixture(scope="module")
def results() -> list[Result]:
    """Every case's result."""
    return [run_case(name)[0] for name in case_names()]


def test_every_case_is_vendored() -> None:
    """The suite is complete: 146 cases, each with its input and support files."""
    names = case_names()
    assert len(names) == 146
    for name in names:
        exp = expectation(name)
        assert (CASES / name / exp["input"]).exists()
        for support in exp.get("supporting", []):
            assert (CASES / name / support).exists()


def test_agreement_does_not_drop(results: list[Result]) -> None:
    """Verdict and exact error-count agreement are at least the recorded floors."""
    verdict = sum(r.verdict_ok for r in results)
    exact = sum(r.exact_ok for r in results)
    wrong = [f"{r.name}: expected {r.expected}, got {r.got}" for r in results if not r.exact_ok]
    assert verdict >= MIN_VERDICT, wrong
    assert exact >= MIN_EXACT, wrong


def test_agreement_by_category(results: list[Result]) -> None:
    """Each category keeps its figures (base and profile are the validator's own rules)."""
    for category, floor in CATEGORY_FLOORS.items():
        chosen = [r for r in results if r.category == category]
        assert sum(r.verdict_ok for r in chosen) >= floor[0], category
        assert sum(r.exact_ok for r in chosen) >= floor[1], category


CATEGORY_FLOORS: dict[str, tuple[int, int]] = {
    "base": (79, 77),
    "profile": (25, 25),
    "support": (34, 34),
}

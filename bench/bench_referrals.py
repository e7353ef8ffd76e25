"""Referral work in process, on SQLite (and PostgreSQL with --postgresql): how long it
takes to send a referral (one transaction: Consent, ServiceRequest, Task, each validated
and audited), to open a centre's inbox holding N open referrals, to open one referral
with its timeline, and to record a step. Through the same service functions the pages
call, as the demo's users. Prints figures only; asserts nothing.

Run: `python bench/bench_referrals.py [--referrals 300] [--postgresql]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.principal import operator
from screening.boundary import AppState
from screening.config import Config
from screening.migrate import upgrade
from screening.patients.resource import CASE_CODE_SYSTEM
from screening.referrals import demo
from screening.referrals.basis import load_basis
from screening.referrals.building import Consent, Leg, Referral
from screening.referrals.service import (
    Actor,
    Change,
    Filters,
    create_referral,
    read_case,
    record_step,
    worklist,
)
from screening.screenings.directory import account_worker, practitioner_reference
from screening.store.clock import to_instant, utcnow
from screening.store.seed import seed_database

BASE = "http://localhost/fhir"
PASSWORD = "a long bench secret 42"


def timed(action: Callable[[], Any], runs: int) -> list[float]:
    """Milliseconds of each of `runs` calls."""
    spent = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def line(name: str, spent: list[float]) -> str:
    spent = sorted(spent)
    p95 = spent[max(0, int(len(spent) * 0.95) - 1)]
    return (
        f"  {name:<44} n={len(spent):<4} p50 {statistics.median(spent):7.1f} ms  p95 {p95:7.1f} ms"
    )


def _patient_id(send: Callable[[FhirRequest], Any], case_code: str) -> str:
    query = [("case-code", f"{CASE_CODE_SYSTEM}|{case_code}")]
    return str(send(FhirRequest("GET", "Patient", query=query)).body["entry"][0]["resource"]["id"])


def run(url: str, count: int) -> None:
    """Load the demo, then measure on the database at `url`."""
    upgrade(url)
    seed_database(url)
    state = AppState.build(Config(database_url=url))
    try:
        demo.load_demo(state, operator("bench"), BASE, PASSWORD, say=lambda _: None)
        clinician = demo.demo_user(state, "demo-clinician")
        staff = demo.demo_user(state, "demo-centre-staff")
        as_clinician = partial(perform, state, clinician, base_url=BASE)
        as_staff = partial(perform, state, staff, base_url=BASE)
        patient_id = _patient_id(as_clinician, "HER-1001-DM")
        response_id = str(demo.first_of(as_clinician, "QuestionnaireResponse", patient_id))
        basis = load_basis(as_clinician, response_id, Decimal(state.config.tug_cutoff))
        requester = practitioner_reference(state, BASE, account_worker(state, "demo-clinician"))

        def send() -> None:
            referral = Referral(
                patient=f"Patient/{patient_id}", requester=requester, encounter=basis.encounter,
                screening=f"QuestionnaireResponse/{response_id}", evidence=basis.evidence,
                legs=(Leg("physiotherapy", "her-01", ""),), priority="routine",
                reasons=(("fall-risk", "Risk of falls"),), reason_text="Falls; slow walking.",
                consent=Consent("patient"), sensitive=False, authored=to_instant(utcnow()),
            )  # fmt: skip
            create_referral(as_clinician, referral, basis.province)

        sent = timed(send, count)
        inbox = Filters(owner="Organization/her-01")
        later = utcnow() + timedelta(days=20)
        listed = timed(lambda: worklist(as_staff, inbox, 1, later), 20)
        open_total = worklist(as_staff, inbox, 1, later).total
        first = worklist(as_staff, inbox, 1, later).rows[0].request_id
        opened = timed(lambda: read_case(as_staff, first), 20)
        staff_worker = account_worker(state, "demo-centre-staff")
        actor = Actor(practitioner_reference(state, BASE, staff_worker), "N")
        ids = [r.request_id for r in worklist(as_staff, inbox, 2, later).rows[:10]]

        def accept(request_id: str) -> None:
            record_step(
                as_staff, read_case(as_staff, request_id), Change("accepted"), actor, utcnow()
            )

        stepped = []
        for request_id in ids:
            start = time.perf_counter()
            accept(request_id)
            stepped.append((time.perf_counter() - start) * 1000)
        print(line("send a referral (one transaction)", sent))
        print(line(f"centre inbox, {open_total} open referrals, page 1", listed))
        print(line("open a referral with its timeline", opened))
        print(line("read it and record a step (accept)", stepped))
    finally:
        state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--referrals", type=int, default=300, help="referrals to send")
    parser.add_argument("--postgresql", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite (file, in process):")
        run(f"sqlite:///{tmp}/bench.db", args.referrals)
    if args.postgresql:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pgcluster import PgCluster

        with PgCluster() as cluster:
            print("PostgreSQL 15 (throwaway cluster, in process):")
            run(cluster.url, args.referrals)


if __name__ == "__main__":
    main()

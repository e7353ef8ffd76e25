"""The referral workflow through /fhir: a referring client and a client of the receiving
centre move a Task along; the ServiceRequest follows in the same transaction; every
refused step leaves the records as they were."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from auth.support import (
    CENTRE_A,
    DIRECTORY_FILES,
    AuditWatch,
    Door,
    bearer,
    bundle,
    entry,
    example,
    put_entry,
    referral_resources,
)

REASON = {"text": "Patient cannot travel until the road reopens"}
SR_URN = "urn:uuid:6f1f8a0e-3c9d-4b35-9d1e-2b0c1d6a8f01"


@dataclass
class Referral:
    app: Flask
    referrer: Door
    centre: Door
    sr: str
    task: str

    def get(self, res_type: str, fhir_id: str) -> dict[str, Any]:
        status, body, _ = self.referrer.get(f"{res_type}/{fhir_id}")
        assert status == 200, body
        found: dict[str, Any] = body
        return found

    def task_now(self) -> dict[str, Any]:
        return self.get("Task", self.task)

    def sr_now(self) -> dict[str, Any]:
        return self.get("ServiceRequest", self.sr)

    def with_status(self, status: str, reason: bool = False) -> dict[str, Any]:
        task = {k: v for k, v in self.task_now().items() if k != "meta"}
        task["status"] = status
        if reason:
            task["statusReason"] = REASON
        return task

    def put(self, door: Door, status: str, reason: bool = False) -> tuple[int, Any]:
        code, body, _ = door.put(f"Task/{self.task}", self.with_status(status, reason))
        return code, body

    def patch(self, door: Door, status: str) -> tuple[int, Any]:
        ops = [{"op": "replace", "path": "/status", "value": status}]
        code, body, _ = door.patch(f"Task/{self.task}", ops)
        return code, body


@pytest.fixture
def referral(app: Flask) -> Referral:
    """Karimi's records stored; the referral and its Task (requested, the request still a
    draft) sent by one transaction of the referring client."""
    referrer = bearer(app)
    centre = bearer(app, organization=CENTRE_A)
    records = [example(name) for name in DIRECTORY_FILES]
    records += [
        r
        for r in referral_resources("karimi", CENTRE_A)
        if r["resourceType"] not in ("ServiceRequest", "Task")
    ]
    status, body, _ = referrer.post("", bundle("transaction", *map(put_entry, records)))
    assert status == 200, body
    request = {**example("ServiceRequest-example-referral-karimi"), "status": "draft"}
    del request["id"]
    task = {**example("Task-example-referral-task-karimi"), "status": "requested"}
    for key in ("id", "businessStatus", "output"):
        del task[key]
    task["focus"] = {"reference": SR_URN}
    sent = bundle(
        "transaction",
        entry("POST", "ServiceRequest", request, full_url=SR_URN),
        entry("POST", "Task", task),
    )
    status, body, _ = referrer.post("", sent)
    assert status == 200, body
    sr_id, task_id = (e["resource"]["id"] for e in body["entry"])
    return Referral(app, referrer, centre, sr_id, task_id)


def outcome(diagnostics: str, code: str = "business-rule", where: str = "Task.status") -> Any:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": code, "diagnostics": diagnostics, "expression": [where]}
        ],
    }


def test_sent_referral_is_active(referral: Referral) -> None:
    """The draft ServiceRequest became active with its requested Task, in the same Bundle."""
    assert referral.task_now()["status"] == "requested"
    request = referral.sr_now()
    assert request["status"] == "active"
    assert request["meta"]["versionId"] == "2"


def test_centre_moves_it_along_by_put_and_patch(referral: Referral) -> None:
    watch = AuditWatch(referral.app)
    assert referral.put(referral.centre, "accepted")[0] == 200
    assert referral.sr_now()["status"] == "active"
    assert referral.patch(referral.centre, "in-progress")[0] == 200
    assert referral.sr_now()["meta"]["versionId"] == "2"  # nothing to change while active
    status, body = referral.put(referral.centre, "completed")
    assert status == 200 and body["status"] == "completed"
    request = referral.sr_now()
    assert (request["status"], request["meta"]["versionId"]) == ("completed", "3")
    written = [
        e["what"]["reference"]
        for event in watch.take()
        for e in event.get("entity", [])
        if "what" in e
    ]
    assert any(w.startswith(f"ServiceRequest/{referral.sr}/_history/3") for w in written), written


def test_steps_in_a_transaction_and_by_binary_patch(referral: Referral) -> None:
    """Transaction entries pass the same rules: accept by PUT, then start by PATCH."""
    ops = [{"op": "replace", "path": "/status", "value": "in-progress"}]
    data = base64.b64encode(json.dumps(ops).encode()).decode()
    accept = entry("PUT", f"Task/{referral.task}", referral.with_status("accepted"))
    status, body, _ = referral.centre.post("", bundle("transaction", accept))
    assert status == 200, body
    start = entry("PATCH", f"Task/{referral.task}", {"resourceType": "Binary", "data": data})
    status, body, _ = referral.centre.post("", bundle("transaction", start))
    assert status == 200, body
    assert referral.task_now()["status"] == "in-progress"
    cancel = entry("PUT", f"Task/{referral.task}", referral.with_status("cancelled"))
    status, body, _ = referral.referrer.post("", bundle("transaction", cancel))
    assert status == 422, body  # cancelled without a reason
    status, body, _ = referral.referrer.post("", bundle("batch", cancel))
    assert body["entry"][0]["response"]["status"].startswith("422")


def test_illegal_step_is_409_and_changes_nothing(referral: Referral) -> None:
    before_task, before_sr = referral.task_now(), referral.sr_now()
    status, body = referral.put(referral.centre, "completed")
    assert status == 409
    assert body == outcome("A referral Task cannot go from 'requested' to 'completed'")
    assert referral.patch(referral.centre, "in-progress")[0] == 409
    assert (referral.task_now(), referral.sr_now()) == (before_task, before_sr)


def test_each_side_takes_only_its_steps(referral: Referral) -> None:
    status, body = referral.put(referral.referrer, "accepted")
    assert status == 409
    assert body == outcome(
        "Only the receiving centre may move a referral Task from 'requested' to 'accepted'"
    )
    assert referral.put(referral.centre, "accepted")[0] == 200
    status, body = referral.put(referral.centre, "cancelled", reason=True)
    assert status == 409
    assert body == outcome(
        "Only the referring side may move a referral Task from 'accepted' to 'cancelled'"
    )
    assert referral.task_now()["status"] == "accepted"
    assert referral.put(referral.referrer, "cancelled", reason=True)[0] == 200
    assert referral.sr_now()["status"] == "revoked"
    assert referral.put(referral.centre, "accepted")[0] == 409  # cancelled is final


def test_reason_required(referral: Referral) -> None:
    """Rejected without statusReason: 422 (the profile's rt-1, or the service rule)."""
    status, body = referral.put(referral.centre, "rejected")
    assert status == 422, body
    assert body["resourceType"] == "OperationOutcome"
    assert referral.task_now()["status"] == "requested"
    assert referral.put(referral.centre, "rejected", reason=True)[0] == 200
    assert referral.sr_now()["status"] == "revoked"


def test_hold_and_resume(referral: Referral) -> None:
    assert referral.put(referral.centre, "accepted")[0] == 200
    assert referral.put(referral.centre, "in-progress")[0] == 200
    status, body = referral.put(referral.centre, "on-hold")
    assert status == 422
    assert body == outcome(
        "A referral Task that is 'on-hold' needs a statusReason", "required", "Task.statusReason"
    )
    assert referral.put(referral.centre, "on-hold", reason=True)[0] == 200
    assert referral.sr_now()["status"] == "on-hold"
    status, body = referral.put(referral.centre, "accepted")
    assert status == 409
    assert "put on hold from 'in-progress'" in body["issue"][0]["diagnostics"]
    assert referral.put(referral.centre, "in-progress")[0] == 200
    assert referral.sr_now()["status"] == "active"


def test_request_status_cannot_contradict_its_task(referral: Referral) -> None:
    request = {k: v for k, v in referral.sr_now().items() if k != "meta"}
    before = referral.sr_now()
    status, body, _ = referral.referrer.put(
        f"ServiceRequest/{referral.sr}", {**request, "status": "completed"}
    )
    assert status == 409
    assert body["issue"][0]["expression"] == ["ServiceRequest.status"]
    ops = [{"op": "replace", "path": "/status", "value": "revoked"}]
    assert referral.referrer.patch(f"ServiceRequest/{referral.sr}", ops)[0] == 409
    assert referral.sr_now() == before
    changed = {**request, "priority": "urgent"}  # other edits are the referrer's to make
    assert referral.referrer.put(f"ServiceRequest/{referral.sr}", changed)[0] == 200


def test_failed_transaction_writes_nothing(referral: Referral) -> None:
    """A good Patient change and an illegal step in one transaction: 409, neither stored."""
    patient = referral.get("Patient", "example-ahmad-karimi")
    renamed = copy.deepcopy({k: v for k, v in patient.items() if k != "meta"})
    renamed["name"][0]["family"] = "Changed"
    sent = bundle(
        "transaction",
        put_entry(renamed),
        entry("PUT", f"Task/{referral.task}", referral.with_status("completed")),
    )
    status, body, _ = referral.referrer.post("", sent)
    assert status == 409, body
    assert referral.get("Patient", "example-ahmad-karimi") == patient
    assert referral.task_now()["status"] == "requested"


def test_new_task_cannot_start_ended(referral: Referral) -> None:
    task = {k: v for k, v in referral.task_now().items() if k not in ("meta", "id")}
    status, body, _ = referral.referrer.post("Task", {**task, "status": "completed"})
    assert status == 409
    assert body == outcome(
        "A new referral Task cannot start as 'completed': it starts as 'requested'"
        " and the receiving centre moves it on"
    )

"""Batch and transaction Bundles: each entry runs as the same request sent on its own.

A transaction is all-or-nothing: entries run in the order DELETE, POST, PUT/PATCH, GET
inside the caller's database transaction, `urn:uuid` and conditional references are
rewritten first, and any failing entry fails the whole Bundle (the boundary rolls back).
A batch runs each entry in its own savepoint and reports each outcome separately.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from screening.api.interactions import Interactions
from screening.api.messages import FhirRequest, FhirResponse
from screening.fhir.outcome import (
    BadRequest,
    FhirError,
    PayloadTooLarge,
    PreconditionFailed,
)
from screening.store.clock import to_instant, utcnow
from screening.store.resources import new_id

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
}


class BundleProcessor:
    """Runs a batch or transaction Bundle through the same Interactions as single requests."""

    def __init__(self, interactions: Interactions, max_entries: int) -> None:
        self.api = interactions
        self.max_entries = max_entries

    def process(self, bundle: Any, prefer_return: str) -> FhirResponse:
        kind, entries = self._entries(bundle)
        requests = [self._request(i, e, prefer_return) for i, e in enumerate(entries)]
        if kind == "transaction":
            responses = self._transaction(requests, entries)
        else:
            responses = [self._batch_entry(r) for r in requests]
        return FhirResponse(
            200,
            {
                "resourceType": "Bundle",
                "id": str(uuid.uuid4()),
                "meta": {"lastUpdated": to_instant(utcnow())},
                "type": f"{kind}-response",
                "entry": [_response_entry(r) for r in responses],
            },
        )

    def _entries(self, bundle: Any) -> tuple[str, list[dict[str, Any]]]:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise BadRequest("POST to the base URL takes a Bundle of type batch or transaction")
        kind = bundle.get("type")
        if kind not in ("batch", "transaction"):
            raise BadRequest(
                f"Bundle.type must be batch or transaction, not '{kind}'", expression="Bundle.type"
            )
        entries = bundle.get("entry", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise BadRequest("Bundle.entry must be a list of objects", expression="Bundle.entry")
        if len(entries) > self.max_entries:
            raise PayloadTooLarge(f"A Bundle may hold at most {self.max_entries} entries")
        return kind, entries

    def _request(self, index: int, entry: dict[str, Any], prefer: str) -> FhirRequest:
        where = f"Bundle.entry[{index}].request"
        request = entry.get("request")
        if not isinstance(request, dict):
            raise BadRequest("Each entry needs a request", expression=where)
        method, url = request.get("method"), request.get("url")
        if method not in ORDER or not isinstance(url, str) or not url:
            raise BadRequest("request.method and request.url are required", expression=where)
        parts = urlsplit(self._relative(url))
        body: Any = entry.get("resource")
        if method == "PATCH":
            body = _patch_body(body, index)
        return FhirRequest(
            method,
            parts.path,
            parse_qsl(parts.query, keep_blank_values=True),
            body,
            if_match=request.get("ifMatch"),
            if_none_exist=request.get("ifNoneExist"),
            prefer_return=prefer,
            query_string=parts.query,
        )

    def _relative(self, url: str) -> str:
        base = self.api.base_url + "/"
        return url[len(base) :] if url.startswith(base) else url

    # batch ---------------------------------------------------------------------------

    def _batch_entry(self, req: FhirRequest) -> FhirResponse:
        mark = len(self.api.guard.accesses)
        try:
            with self.api.session.begin_nested():
                return self._run(req)
        except FhirError as error:
            del self.api.guard.accesses[mark:]  # rolled back: audited as failed instead
            self.api.guard.failed(req.method, req.segments, error.status, error.diagnostics)
            return FhirResponse(error.status, outcome=error.outcome())

    def _run(self, req: FhirRequest) -> FhirResponse:
        if not req.segments:
            raise BadRequest("Bundle entries cannot address the base URL")
        return self.api.handle(req)

    # transaction ---------------------------------------------------------------------

    def _transaction(
        self, requests: list[FhirRequest], entries: list[dict[str, Any]]
    ) -> list[FhirResponse]:
        ids = self._assign_ids(requests, entries)
        for index, req in enumerate(requests):
            if isinstance(req.body, dict):
                req.body = self._rewrite(req.body, ids, index)
        responses: list[FhirResponse | None] = [None] * len(requests)
        for index in sorted(range(len(requests)), key=lambda i: ORDER[requests[i].method]):
            try:
                responses[index] = self._transaction_entry(requests[index], ids, entries[index])
            except FhirError as error:
                raise _at_entry(error, index) from error
        return [r for r in responses if r is not None]

    def _transaction_entry(
        self, req: FhirRequest, ids: dict[str, str], entry: dict[str, Any]
    ) -> FhirResponse:
        full_url = entry.get("fullUrl")
        if req.method == "POST" and isinstance(full_url, str) and full_url in ids:
            res_type = req.segments[0] if req.segments else ""
            target = ids[full_url]
            if req.if_none_exist and self.api.store.current(*target.split("/", 1)) is not None:
                return self.api.read(*target.split("/", 1))
            return self.api.create(req, self.api.known_type(res_type), target.split("/", 1)[1])
        return self._run(req)

    def _assign_ids(
        self, requests: list[FhirRequest], entries: list[dict[str, Any]]
    ) -> dict[str, str]:
        """fullUrl -> `Type/id` for every entry that creates or names a resource."""
        ids: dict[str, str] = {}
        for index, (req, entry) in enumerate(zip(requests, entries, strict=True)):
            full_url = entry.get("fullUrl")
            if not isinstance(full_url, str) or not req.segments:
                continue
            if full_url in ids:
                raise BadRequest(
                    f"fullUrl '{full_url[:100]}' appears twice",
                    expression=f"Bundle.entry[{index}].fullUrl",
                )
            target = self._target(req)
            if target is not None:
                ids[full_url] = target
        return ids

    def _target(self, req: FhirRequest) -> str | None:
        res_type = req.segments[0]
        if req.method == "POST" and len(req.segments) == 1:
            if req.if_none_exist:
                found = self.api.conditional_matches(res_type, req.if_none_exist, "If-None-Exist")
                if found:
                    return f"{res_type}/{found[0].fhir_id}"
            return f"{res_type}/{new_id()}"
        if req.method == "PUT" and len(req.segments) == 2:
            return f"{res_type}/{req.segments[1]}"
        if req.method == "PUT" and req.query:
            found = self.api.conditional_matches(res_type, req.query_string, "conditional update")
            return f"{res_type}/{found[0].fhir_id}" if found else None
        return None

    def _rewrite(self, node: Any, ids: dict[str, str], index: int) -> Any:
        """Replace urn:uuid / fullUrl and conditional references by `Type/id`."""
        if isinstance(node, list):
            return [self._rewrite(item, ids, index) for item in node]
        if not isinstance(node, dict):
            return node
        out = {k: self._rewrite(v, ids, index) for k, v in node.items()}
        ref = out.get("reference")
        if isinstance(ref, str):
            if ref in ids:
                out["reference"] = ids[ref]
            elif "?" in ref and not ref.startswith("#"):
                out["reference"] = self._conditional_reference(ref, index)
            elif ref.startswith("urn:uuid:"):
                raise BadRequest(
                    f"Reference '{ref[:80]}' names no entry of this Bundle",
                    expression=f"Bundle.entry[{index}].resource",
                )
        return out

    def _conditional_reference(self, ref: str, index: int) -> str:
        res_type, _, criteria = ref.partition("?")
        self.api.known_type(res_type)
        found = self.api.conditional_matches(res_type, criteria, "conditional reference")
        if not found:
            raise PreconditionFailed(
                f"Conditional reference '{ref[:120]}' matches nothing",
                expression=f"Bundle.entry[{index}].resource",
            )
        return f"{res_type}/{found[0].fhir_id}"


def _patch_body(resource: Any, index: int) -> Any:
    """A transaction PATCH carries its JSON Patch as a Binary resource (base64 data)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        try:
            return json.loads(base64.b64decode(resource.get("data", ""), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(
                "The Binary of a PATCH entry must hold a base64 JSON Patch",
                expression=f"Bundle.entry[{index}].resource",
            ) from exc
    raise BadRequest(
        "A PATCH entry needs a Binary resource holding a JSON Patch",
        expression=f"Bundle.entry[{index}].resource",
    )


def _at_entry(error: FhirError, index: int) -> FhirError:
    """The same error, its diagnostics naming the entry that failed."""
    failed = type(error)(f"Bundle.entry[{index}]: {error.diagnostics}")
    failed.issues = [
        type(issue)(
            issue.severity,
            issue.code,
            f"Bundle.entry[{index}]: {issue.diagnostics}",
            issue.expression,
        )
        for issue in error.issues
    ]
    return failed


def _response_entry(response: FhirResponse) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": f"{response.status} {REASONS.get(response.status, '')}".strip()
    }
    if response.location:
        result["location"] = response.location
    if response.etag:
        result["etag"] = response.etag
    if response.last_modified:
        result["lastModified"] = to_instant(response.last_modified)
    if response.outcome:
        result["outcome"] = response.outcome
    entry: dict[str, Any] = {"response": result}
    if response.body is not None and response.body.get("resourceType") != "OperationOutcome":
        entry["resource"] = response.body
    elif response.body is not None:
        result["outcome"] = response.body
    return entry

"""Carrying out FHIR interactions for a principal: the one path of the API and the pages.

The pages build the same FhirRequests an API client would send, so a form and a POST end
up in the same validation, access rules and audit trail.
"""

from __future__ import annotations

from screening.api.bundles import BundleProcessor
from screening.api.guard import Guard, failure
from screening.api.interactions import Interactions
from screening.api.messages import FhirRequest, FhirResponse
from screening.audit.events import Access
from screening.audit.recorder import record, record_apart
from screening.auth.principal import Principal
from screening.boundary import AppState, unit_of_work
from screening.fhir.outcome import FhirError, MethodNotAllowed


def carry_out(
    state: AppState, principal: Principal, req: FhirRequest, base_url: str
) -> tuple[FhirResponse, list[Access]]:
    """Run the request in one transaction; writes are audited in it, the accesses of a read
    are returned to be audited before the response leaves."""
    write = req.method != "GET"
    with unit_of_work(state, write=write) as session:
        guard = Guard(principal, session)
        response = run(Interactions(state.fhir, session, base_url, guard), req, state)
        if write:
            record(session, state.fhir.indexer, principal, guard.accesses)
            return response, []
    return response, guard.accesses


def perform(state: AppState, principal: Principal, req: FhirRequest, base_url: str) -> FhirResponse:
    """Run the request and audit it whatever happens: reads before returning, refusals and
    failures apart from their rolled-back transaction."""
    try:
        response, accesses = carry_out(state, principal, req, base_url)
    except FhirError as error:
        audit_failure(state, principal, req.method, req.segments, error.status, error.diagnostics)
        raise
    except Exception:
        audit_failure(state, principal, req.method, req.segments, 500, "internal error")
        raise
    if accesses:
        record_apart(state.sessions, state.fhir.indexer, principal, accesses)
    return response


def audit_failure(
    state: AppState,
    principal: Principal,
    method: str,
    segments: list[str],
    status: int,
    reason: str,
) -> None:
    """Record a refused or failed request apart from its rolled-back transaction."""
    failed = failure(method, segments, status, reason)
    record_apart(state.sessions, state.fhir.indexer, principal, [failed])


def run(api: Interactions, req: FhirRequest, state: AppState) -> FhirResponse:
    """Run one request: Bundles at the base URL, everything else through Interactions."""
    if not req.segments:
        if req.method != "POST":
            raise MethodNotAllowed(f"{req.method} is not supported on the base URL")
        processor = BundleProcessor(api, state.config.max_bundle_entries)
        return processor.process(req.payload(), req.prefer_return)
    return api.handle(req)

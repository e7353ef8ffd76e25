"""Flask glue for `/fhir`: parse the HTTP request, run the interaction, write HTTP back."""

from __future__ import annotations

import base64
import json
import logging
import uuid

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date

from screening.api.capability import capability_statement
from screening.api.door import audit_failure, carry_out
from screening.api.http import parse_request
from screening.api.messages import FhirResponse
from screening.audit.events import Access
from screening.audit.recorder import record_apart
from screening.auth.principal import Kind, Principal
from screening.auth.service import (
    CSRF_HEADER,
    SESSION_COOKIE,
    bearer_principal,
    csrf_ok,
    signed_in,
)
from screening.boundary import AppState, app_state, unit_of_work
from screening.fhir.outcome import (
    FhirError,
    Forbidden,
    Issue,
    Unauthorized,
    operation_outcome,
)
from screening.store.clock import to_instant, utcnow

log = logging.getLogger(__name__)
bp = Blueprint("fhir", __name__, url_prefix="/fhir")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
FHIR_JSON = "application/fhir+json; charset=utf-8"


def base_url() -> str:
    """The public base of the FHIR door (configured, or taken from the request)."""
    return app_state().config.base_url or request.host_url.rstrip("/") + "/fhir"


@bp.route("/metadata", methods=["GET"])
def metadata() -> Response:
    """The CapabilityStatement."""
    statement = capability_statement(app_state().fhir, base_url(), to_instant(utcnow()))
    return _http(FhirResponse(200, statement))


@bp.get("/ServiceRequest/<request_id>/$letter")
def letter(request_id: str) -> Response:
    """`$letter`: the referral's printed letter, as a Binary or (Accept application/pdf)
    the PDF itself."""
    from screening.letters.service import print_letter
    from screening.web.render import catalogue

    state = app_state()
    principal = authenticate(state)
    lang = request.args.get("lang", principal.language)
    try:
        printed = print_letter(state, principal, request_id, lang, base_url(), catalogue())
    except FhirError as error:
        _audit_failure(state, principal, error.status, error.diagnostics)
        raise
    wanted = request.accept_mimetypes.best_match([FHIR_JSON.split(";")[0], "application/pdf"])
    if wanted == "application/pdf":
        http = Response(printed.pdf, mimetype="application/pdf")
        http.headers["Content-Disposition"] = printed.disposition()
        return http
    binary = {
        "resourceType": "Binary",
        "contentType": "application/pdf",
        "data": base64.b64encode(printed.pdf).decode("ascii"),
    }
    return _http(FhirResponse(200, binary))


@bp.route("", defaults={"path": ""}, methods=METHODS, strict_slashes=False)
@bp.route("/<path:path>", methods=METHODS)
def endpoint(path: str) -> Response:
    """Every other FHIR interaction."""
    state = app_state()
    principal = authenticate(state)
    try:
        response, accesses = _carry_out(state, principal, path)
    except FhirError as error:
        _audit_failure(state, principal, error.status, error.diagnostics)
        raise
    except Exception:
        _audit_failure(state, principal, 500, "internal error")
        raise
    if accesses:  # reads: audited before the response leaves
        record_apart(state.sessions, state.fhir.indexer, principal, accesses)
    return _http(response)


def _carry_out(
    state: AppState, principal: Principal, path: str
) -> tuple[FhirResponse, list[Access]]:
    """Parse the HTTP request and carry it out (see `door.carry_out`)."""
    cfg = state.config
    req = parse_request(request, path, cfg.max_body_bytes, cfg.max_json_depth)
    return carry_out(state, principal, req, base_url())


def _audit_failure(state: AppState, principal: Principal, status: int, reason: str) -> None:
    """Record a refused or failed request apart from its rolled-back transaction."""
    segments = [s for s in request.path.split("/")[2:] if s]
    audit_failure(state, principal, request.method, segments, status, reason)


def authenticate(state: AppState) -> Principal:
    """The API client of the request's bearer token; 401 (audited) without a valid one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    address = request.remote_addr
    principal = None
    if scheme.lower() == "bearer" and token.strip():
        with unit_of_work(state, write=False) as session:
            principal = bearer_principal(session, token.strip(), address)
    elif not header and request.cookies.get(SESSION_COOKIE):
        try:
            principal = _session_principal(state, address)
        except FhirError as error:  # a session without the CSRF header
            anonymous = Principal(Kind.ANONYMOUS, "-", "session", address=address)
            _audit_failure(state, anonymous, error.status, error.diagnostics)
            raise
    if principal is None:
        reason = "a valid bearer token is required" if header else "no bearer token"
        anonymous = Principal(Kind.ANONYMOUS, "-", "unauthenticated", address=address)
        _audit_failure(state, anonymous, 401, reason)
        raise Unauthorized(
            "Authentication required: send 'Authorization: Bearer <token>' with the token of"
            " an API client (screening client create)"
        )
    return principal


def _http(response: FhirResponse) -> Response:
    body = json.dumps(response.body, ensure_ascii=False) if response.body is not None else ""
    http = Response(body, status=response.status, content_type=FHIR_JSON if body else None)
    if response.location:
        http.headers["Location"] = response.location
        http.headers["Content-Location"] = response.location
    if response.etag:
        http.headers["ETag"] = response.etag
    if response.last_modified:
        http.headers["Last-Modified"] = http_date(response.last_modified)
    http.headers.update(response.headers)
    return http


def _session_principal(state: AppState, address: str | None) -> Principal | None:
    """The signed-in user of the pages (the same session cookie); a request that changes
    anything must also carry the session's CSRF token in the X-CSRF-Token header."""
    found = signed_in(state.sessions, request.cookies[SESSION_COOKIE], address)
    if found is None:
        return None
    if request.method not in ("GET", "HEAD") and not csrf_ok(
        found.csrf_token, request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden(f"A request made with a session cookie needs the {CSRF_HEADER} header")
    return found.principal


@bp.errorhandler(FhirError)
def fhir_error(error: FhirError) -> Response:
    response = FhirResponse(error.status, error.outcome())
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
        if "Authorization" in request.headers:
            response.headers["WWW-Authenticate"] += ', error="invalid_token"'
    return _http(response)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    code = error.code or 400
    issue_code = {404: "not-found", 405: "not-supported", 413: "too-costly"}.get(code, "invalid")
    text = error.description or error.name
    return _http(FhirResponse(code, operation_outcome([Issue("error", issue_code, text)])))


@bp.errorhandler(Exception)
def internal_error(error: Exception) -> Response:
    incident = str(uuid.uuid4())
    log.exception("Internal error %s", incident)
    outcome = operation_outcome(
        [Issue("fatal", "exception", f"Internal error; incident id {incident}")]
    )
    return _http(FhirResponse(500, outcome))

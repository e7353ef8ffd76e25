"""The FHIR RESTful interactions on the store: routing, conditional logic, Bundles out."""

from __future__ import annotations

import copy
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jsonpatch
from sqlalchemy.orm import Session

from screening.api.environment import FhirEnvironment
from screening.api.extract import extract_operation
from screening.api.guard import Guard
from screening.api.history import history_bundle
from screening.api.messages import FhirRequest, FhirResponse
from screening.auth.roles import NOT_PATIENT_DATA
from screening.fhir.outcome import (
    BadRequest,
    FhirError,
    Forbidden,
    Issue,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    Unprocessable,
    operation_outcome,
)
from screening.referrals.enforce import ReferralRules
from screening.store.clock import to_instant, utcnow
from screening.store.query_parse import QueryParser, SearchQuery
from screening.store.resources import ResourceStore, Stored
from screening.store.search import SearchPage, SearchRunner

ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


class Interactions:
    """Carries out one FhirRequest against the store. It flushes; the caller commits."""

    def __init__(self, env: FhirEnvironment, session: Session, base_url: str, guard: Guard) -> None:
        self.env = env
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.guard = guard
        self.store = ResourceStore(session, env.indexer)
        self.search_runner = SearchRunner(
            session,
            self.store,
            self.base_url,
            env.config.search_cache_minutes,
            guard.visibility,
        )
        self.referrals = ReferralRules(self.store, guard, self.validate)

    # routing -------------------------------------------------------------------------

    def handle(self, req: FhirRequest) -> FhirResponse:
        """Route a request to its interaction."""
        seg = req.segments
        if not seg:
            raise MethodNotAllowed(f"{req.method} is not supported on the base URL")
        if seg[0] == "_history" and len(seg) == 1:
            return self._only(req, "GET", lambda: self.history(req, None, None))
        res_type = self.known_type(seg[0])
        if len(seg) == 1:
            return self._type_level(req, res_type)
        if len(seg) == 2 and seg[1] == "_search":
            return self._only(req, "POST", lambda: self.search(req, res_type))
        if len(seg) == 2 and seg[1] == "_history":
            return self._only(req, "GET", lambda: self.history(req, res_type, None))
        if len(seg) == 2 and seg[1] == "$validate":
            return self.validate_operation(req, res_type, None)
        if len(seg) == 2 and seg[1] == "$extract" and res_type == "QuestionnaireResponse":
            return extract_operation(self, req)
        fhir_id = self._valid_id(seg[1])
        if len(seg) == 3 and seg[2] == "$validate":
            return self.validate_operation(req, res_type, fhir_id)
        if len(seg) == 2:
            return self._instance_level(req, res_type, fhir_id)
        if len(seg) == 3 and seg[2] == "_history":
            return self._only(req, "GET", lambda: self.history(req, res_type, fhir_id))
        if len(seg) == 4 and seg[2] == "_history":
            return self._only(req, "GET", lambda: self.vread(res_type, fhir_id, seg[3]))
        raise NotFound(f"No FHIR interaction at '{req.path}'")

    def _type_level(self, req: FhirRequest, res_type: str) -> FhirResponse:
        if req.method == "GET":
            return self.search(req, res_type)
        if req.method == "POST":
            return self.create(req, res_type)
        if req.method == "PUT" and req.query:
            return self.conditional_update(req, res_type)
        if req.method == "DELETE" and req.query:
            return self.conditional_delete(req, res_type)
        raise MethodNotAllowed(f"{req.method} is not supported on /{res_type}")

    def _instance_level(self, req: FhirRequest, res_type: str, fhir_id: str) -> FhirResponse:
        if req.method == "GET":
            return self.read(res_type, fhir_id)
        if req.method == "PUT":
            return self.update(req, res_type, fhir_id)
        if req.method == "PATCH":
            return self.patch(req, res_type, fhir_id)
        if req.method == "DELETE":
            return self.delete(req, res_type, fhir_id)
        raise MethodNotAllowed(f"{req.method} is not supported on /{res_type}/{fhir_id}")

    @staticmethod
    def _only(req: FhirRequest, method: str, action: Any) -> FhirResponse:
        if req.method != method:
            raise MethodNotAllowed(f"{req.method} is not supported on '{req.path}'")
        result: FhirResponse = action()
        return result

    def known_type(self, name: str) -> str:
        if name not in self.env.resource_types:
            raise NotFound(f"'{name}' is not a FHIR R4 resource type this server supports")
        return name

    @staticmethod
    def _valid_id(value: str) -> str:
        if not 1 <= len(value) <= 64 or not set(value) <= ID_CHARS:
            raise BadRequest(f"'{value[:80]}' is not a valid FHIR id")
        return value

    # reads ---------------------------------------------------------------------------

    def read(self, res_type: str, fhir_id: str) -> FhirResponse:
        self.guard.require("r", res_type)
        self.guard.hide(res_type, fhir_id)
        stored = self.store.read(res_type, fhir_id)
        self.guard.saw("read", [stored])
        return self._resource_response(200, stored)

    def vread(self, res_type: str, fhir_id: str, version: str) -> FhirResponse:
        self.guard.require("r", res_type)
        self.guard.hide(res_type, fhir_id)
        if not version.isdigit():
            raise NotFound(f"'{version[:40]}' is not a version id of {res_type}/{fhir_id}")
        stored = self.store.vread(res_type, fhir_id, int(version))
        self.guard.saw("vread", [stored], versioned=True)
        return self._resource_response(200, stored)

    def history(self, req: FhirRequest, res_type: str | None, fhir_id: str | None) -> FhirResponse:
        if res_type:
            self.guard.require("r", res_type)
        if res_type and fhir_id:
            self.guard.hide(res_type, fhir_id)
            if self.store.current(res_type, fhir_id) is None:
                raise NotFound(f"{res_type}/{fhir_id} is not known")
        body = history_bundle(
            self.session,
            self.base_url,
            req,
            res_type,
            fhir_id,
            self.env.config.max_page_size,
            self.guard.visibility,
            sorted(self.env.resource_types),
        )
        level = "instance" if fhir_id else "type" if res_type else "system"
        entries = [e for e in body.get("entry", []) if "resource" in e]
        self.guard.saw(
            f"history-{level}",
            [_stored_of(e["resource"]) for e in entries],
            query=req.query_string or None,
            versioned=True,
            patient_query=res_type is None or res_type not in NOT_PATIENT_DATA,
        )
        return FhirResponse(200, body)

    # search --------------------------------------------------------------------------

    def parse_query(self, res_type: str, pairs: list[tuple[str, str]]) -> SearchQuery:
        cfg = self.env.config
        parser = QueryParser(
            self.env.indexer, set(self.env.resource_types), cfg.default_page_size, cfg.max_page_size
        )
        return parser.parse(res_type, pairs)

    def search(self, req: FhirRequest, res_type: str) -> FhirResponse:
        self.guard.require("s", res_type)
        pairs = list(req.query)
        if req.method == "POST":
            pairs += req.payload()  # form-encoded parameters of POST _search
        snapshot = dict(pairs).get("_getpages")
        if snapshot:
            return self._later_page(res_type, snapshot, pairs)
        query = self.parse_query(res_type, pairs)
        self._strict(req, query)
        query_string = urlencode(pairs)
        if query.summary_count:
            return FhirResponse(
                200, self._searchset(query, query_string, None, self.search_runner.count(query))
            )
        page = self.search_runner.first_page(query, query_string)
        return FhirResponse(200, self._audited_searchset(query, query_string, page))

    def _later_page(
        self, res_type: str, snapshot: str, pairs: list[tuple[str, str]]
    ) -> FhirResponse:
        given = dict(pairs)
        stored = self.search_runner.stored_query(snapshot)
        query = self.parse_query(res_type, parse_qsl(stored))
        if "_count" in given:
            query.count = self.parse_query(res_type, [("_count", given["_count"])]).count
        offset_text = given.get("_getpagesoffset", "0")
        if not offset_text.isdigit():
            raise BadRequest("_getpagesoffset must be a whole number")
        page = self.search_runner.later_page(query, snapshot, int(offset_text))
        page.matches = self.guard.filter(page.matches)
        return FhirResponse(200, self._audited_searchset(query, stored, page))

    def _audited_searchset(
        self, query: SearchQuery, query_string: str, page: SearchPage
    ) -> dict[str, Any]:
        """The searchset of a page; the page's resources recorded as seen."""
        self.guard.saw(
            "search-type",
            [*page.matches, *page.included],
            query=query_string,
            patient_query=query.res_type not in NOT_PATIENT_DATA,
        )
        return self._searchset(query, query_string, page, page.total)

    @staticmethod
    def _strict(req: FhirRequest, query: SearchQuery) -> None:
        if req.prefer_strict and query.issues:
            issues = [Issue("error", i.code, i.diagnostics) for i in query.issues]
            raise BadRequest(issues[0].diagnostics, issues=issues)

    def _searchset(
        self, query: SearchQuery, query_string: str, page: SearchPage | None, total: int
    ) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": to_instant(utcnow())},
            "type": "searchset",
            "total": total,
        }
        if page is None:
            bundle["link"] = [self._link("self", query.res_type, query_string)]
            return bundle
        bundle["link"] = self._page_links(query.res_type, query_string, page)
        entries = [self._entry(s, "match", query.elements) for s in page.matches]
        entries += [self._entry(s, "include", None) for s in page.included]
        if page.issues:
            entries.append(
                {"resource": operation_outcome(page.issues), "search": {"mode": "outcome"}}
            )
        if entries:
            bundle["entry"] = entries
        return bundle

    def _page_links(
        self, res_type: str, query_string: str, page: SearchPage
    ) -> list[dict[str, str]]:
        if page.snapshot is None:
            return [self._link("self", res_type, query_string)]

        def at(offset: int) -> str:
            return urlencode(
                {"_getpages": page.snapshot, "_getpagesoffset": offset, "_count": page.count}
            )

        links = [self._link("self", res_type, at(page.offset) if page.offset else query_string)]
        if page.offset + page.count < page.total:
            links.append(self._link("next", res_type, at(page.offset + page.count)))
        if page.offset > 0:
            links.append(self._link("previous", res_type, at(max(page.offset - page.count, 0))))
        return links

    def _link(self, relation: str, res_type: str, query_string: str) -> dict[str, str]:
        url = f"{self.base_url}/{res_type}"
        return {"relation": relation, "url": f"{url}?{query_string}" if query_string else url}

    def _entry(self, stored: Stored, mode: str, elements: list[str] | None) -> dict[str, Any]:
        resource = stored.content or {}
        if elements:
            resource = _subset(resource, elements)
        return {"fullUrl": self.full_url(stored), "resource": resource, "search": {"mode": mode}}

    def full_url(self, stored: Stored) -> str:
        return f"{self.base_url}/{stored.res_type}/{stored.fhir_id}"

    # writes --------------------------------------------------------------------------

    def create(self, req: FhirRequest, res_type: str, fhir_id: str | None = None) -> FhirResponse:
        self.guard.require("c", res_type)
        resource = self.checked_body(req.payload(), res_type)
        if req.if_none_exist:
            existing = self.conditional_matches(res_type, req.if_none_exist, "If-None-Exist")
            if existing:
                self.guard.saw("read", existing[:1])
                return self._resource_response(200, existing[0], req.prefer_return)
        self.guard.check_shares(res_type, fhir_id or "", resource)
        stored = self.store.create(resource, fhir_id)
        self._written("create", stored)
        self.referrals.after_write(None, stored)
        return self._resource_response(201, stored, req.prefer_return, location=True)

    def _written(self, interaction: str, stored: Stored) -> None:
        """Record a write; refuse one that leaves the resource out of the writer's reach
        (centre staff cannot hand a Task to another centre or create unshared records)."""
        if not self.guard.reaches(stored.res_type, stored.fhir_id):
            raise Forbidden(
                f"{self.guard.principal.label} may not write a {stored.res_type} that is not"
                " shared with its centre"
            )
        self.guard.saw(interaction, [stored], versioned=True)

    def update(self, req: FhirRequest, res_type: str, fhir_id: str) -> FhirResponse:
        self.guard.require("u", res_type)
        old = self.store.current(res_type, fhir_id)
        if old is None:
            if self.guard.centre_bound:  # no update-as-create: ids would tell what exists
                raise NotFound(f"{res_type}/{fhir_id} is not known")
            self.guard.require("c", res_type)
        else:
            self.guard.hide(res_type, fhir_id, writing=True)
        resource = self.checked_body(req.payload(), res_type)
        if resource.get("id") != fhir_id:
            raise BadRequest(
                f"The resource id '{str(resource.get('id'))[:64]}' does not match the URL id"
                f" '{fhir_id}'",
                expression=f"{res_type}.id",
            )
        self.guard.check_shares(res_type, fhir_id, resource)
        stored, created = self.store.update(resource, fhir_id, _etag_version(req.if_match))
        self._written("create" if created else "update", stored)
        self.referrals.after_write(old, stored)
        return self._resource_response(
            201 if created else 200, stored, req.prefer_return, location=created
        )

    def conditional_update(self, req: FhirRequest, res_type: str) -> FhirResponse:
        self.guard.require("u", res_type)
        matches = self.conditional_matches(res_type, urlencode(req.query), "conditional update")
        given = req.payload()
        body = given if isinstance(given, dict) else {}
        if not matches:
            keep_id = "id" in body and not self.guard.centre_bound  # ids would tell what exists
            return self.create(
                FhirRequest("POST", res_type, body=req.body, prefer_return=req.prefer_return),
                res_type,
                self._valid_id(body["id"]) if keep_id else None,
            )
        if "id" in body and body["id"] != matches[0].fhir_id:
            raise BadRequest("The resource id does not match the resource the criteria found")
        req = copy.copy(req)
        req.body = {**body, "id": matches[0].fhir_id} if body else req.body
        return self.update(req, res_type, matches[0].fhir_id)

    def patch(self, req: FhirRequest, res_type: str, fhir_id: str) -> FhirResponse:
        operations = req.payload()
        if not isinstance(operations, list):
            raise BadRequest("A JSON Patch body must be a JSON array of operations")
        self.guard.require("u", res_type)
        self.guard.hide(res_type, fhir_id, writing=True)
        current = self.store.read(res_type, fhir_id)
        try:
            patched = jsonpatch.apply_patch(current.content, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise Unprocessable(f"The JSON Patch cannot be applied: {exc}") from exc
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise BadRequest("The JSON Patch is malformed") from exc
        if (
            not isinstance(patched, dict)
            or patched.get("resourceType") != res_type
            or patched.get("id") != fhir_id
        ):
            raise Unprocessable("A patch must not change resourceType or id")
        resource = self.checked_body(patched, res_type)
        self.guard.check_shares(res_type, fhir_id, resource)
        stored, _ = self.store.update(resource, fhir_id, _etag_version(req.if_match), "PATCH")
        self._written("patch", stored)
        self.referrals.after_write(current, stored)
        return self._resource_response(200, stored, req.prefer_return)

    def delete(self, req: FhirRequest, res_type: str, fhir_id: str) -> FhirResponse:
        self.guard.require("d", res_type)
        self.guard.hide(res_type, fhir_id, writing=True)
        current = self.store.current(res_type, fhir_id)
        self.referrals.before_delete(current)
        self.store.delete(res_type, fhir_id, _etag_version(req.if_match))
        if current is not None and not current.deleted:
            self.guard.saw("delete", [current])
        return FhirResponse(204)

    def conditional_delete(self, req: FhirRequest, res_type: str) -> FhirResponse:
        self.guard.require("d", res_type)
        matches = self.conditional_matches(res_type, urlencode(req.query), "conditional delete")
        for stored in matches:
            self.referrals.before_delete(stored)
            self.store.delete(res_type, stored.fhir_id)
        self.guard.saw("delete", matches)
        return FhirResponse(204)

    def conditional_matches(self, res_type: str, criteria: str, what: str) -> list[Stored]:
        """Resources matching conditional criteria; 412 when more than one matches."""
        criteria = criteria.split("?", 1)[-1]
        query = self.parse_query(res_type, parse_qsl(criteria, keep_blank_values=True))
        if query.issues or not query.criteria:
            raise BadRequest(
                f"The {what} criteria '{criteria[:200]}' are not usable: "
                + "; ".join(i.diagnostics for i in query.issues)
                if query.issues
                else f"The {what} criteria are empty"
            )
        found = self.search_runner.matches(query, limit=2)
        if len(found) > 1:
            total = self.search_runner.count(query)
            raise PreconditionFailed(f"The {what} criteria match {total} resources")
        return found

    def checked_body(self, body: Any, res_type: str) -> dict[str, Any]:
        """The request body as a resource of `res_type`, structurally valid, or an error."""
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object (a FHIR resource)")
        given = body.get("resourceType")
        if not isinstance(given, str):
            raise BadRequest("The resource has no resourceType")
        if given != res_type:
            raise BadRequest(
                f"resourceType '{given[:64]}' does not match the URL type '{res_type}'"
            )
        issues = self.validate(body)
        if any(i.is_error for i in issues):
            raise Unprocessable("The resource is not valid", issues=issues)
        return body

    def validate_operation(
        self, req: FhirRequest, res_type: str, fhir_id: str | None
    ) -> FhirResponse:
        """`$validate`: 200 with the OperationOutcome, whatever the resource's verdict."""
        if req.method not in ("GET", "POST"):
            raise MethodNotAllowed(f"{req.method} is not supported for $validate")
        self.guard.require_any("cur" if fhir_id is None else "r", res_type)
        if fhir_id is not None:
            self.guard.hide(res_type, fhir_id)
        body = req.payload() if req.method == "POST" else None
        resource, profile, mode = validate_parameters(body, dict(req.query))
        if mode == "delete":
            if fhir_id is None:
                raise BadRequest("mode=delete needs a resource id: /{type}/{id}/$validate")
            self.store.read(res_type, fhir_id)
            return FhirResponse(200, operation_outcome([]))
        if resource is None and fhir_id is not None:
            stored = self.store.read(res_type, fhir_id)
            self.guard.saw("operation", [stored], operation="$validate")
            resource = stored.content
        if not isinstance(resource, dict):
            raise BadRequest("$validate needs a resource: the body, or a Parameters 'resource'")
        issues = []
        if resource.get("resourceType") != res_type:
            issues.append(Issue("error", "invalid", f"The resource is not a {res_type}"))
        if mode == "update" and fhir_id is not None and resource.get("id") != fhir_id:
            issues.append(
                Issue(
                    "error", "invalid", "The resource id does not match the URL", f"{res_type}.id"
                )
            )
        issues += self.validate(resource, (profile,) if profile else ())
        return FhirResponse(200, operation_outcome(issues))

    def validate(self, resource: dict[str, Any], profiles: tuple[str, ...] = ()) -> list[Issue]:
        """The resource against R4, its meta.profile and `profiles` (the project validator)."""
        return self.env.validator.validate(resource, profiles)

    def _resource_response(
        self, status: int, stored: Stored, prefer: str = "representation", location: bool = False
    ) -> FhirResponse:
        response = FhirResponse(status, etag=stored.etag, last_modified=stored.last_updated)
        if location:
            response.location = f"{self.full_url(stored)}/_history/{stored.version}"
        if prefer == "representation":
            response.body = stored.content
        elif prefer == "OperationOutcome":
            response.body = operation_outcome(
                [
                    Issue(
                        "information",
                        "informational",
                        f"{stored.res_type}/{stored.fhir_id} version {stored.version} stored",
                    )
                ]
            )
        return response


def validate_parameters(
    body: Any, query: dict[str, str]
) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(resource, profile, mode) of a $validate call: a Parameters body, a plain resource,
    or only query parameters."""
    profile, mode = query.get("profile"), query.get("mode")
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        resource = None
        for param in body.get("parameter", []) or []:
            if not isinstance(param, dict):
                continue
            name = param.get("name")
            if name == "resource" and isinstance(param.get("resource"), dict):
                resource = param["resource"]
            elif name == "profile":
                profile = param.get("valueUri") or param.get("valueCanonical") or profile
            elif name == "mode":
                mode = param.get("valueCode") or mode
        return resource, profile, mode
    if body is not None and not isinstance(body, dict):
        raise BadRequest("The $validate body must be a resource or a Parameters resource")
    if mode not in (None, "create", "update", "delete", "profile"):
        raise BadRequest(f"Unknown $validate mode '{str(mode)[:40]}'")
    return body, profile, mode


def _etag_version(value: str | None) -> int | None:
    """The version number in an If-Match header (`W/"3"` or `"3"`); 400 if malformed."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise BadRequest(f"If-Match '{value[:40]}' is not a version ETag such as W/\"3\"")
    return int(text)


def _subset(resource: dict[str, Any], elements: list[str]) -> dict[str, Any]:
    """Only the named top-level elements, plus the mandatory ones, marked SUBSETTED."""
    keep = {"resourceType", "id", "meta", *elements}
    subset = {k: v for k, v in resource.items() if k in keep}
    meta = dict(subset.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    subset["meta"] = meta
    return subset


def error_response(error: FhirError) -> FhirResponse:
    """A FhirResponse carrying an error's OperationOutcome."""
    return FhirResponse(error.status, error.outcome())


def _stored_of(resource: dict[str, Any]) -> Stored:
    """A Stored view of a resource taken from a history entry (for the audit)."""
    meta = resource.get("meta") or {}
    version = int(meta.get("versionId", "0") or 0)
    return Stored(0, resource["resourceType"], resource["id"], version, utcnow(), "", resource)

"""HTTP parsing for the FHIR door: content types, body limits, JSON rules, Prefer."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from flask import Request

from screening.api.messages import FhirRequest
from screening.fhir.outcome import (
    BadRequest,
    FhirError,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
PATCH_TYPES = {"application/json-patch+json"}
FORM_TYPE = "application/x-www-form-urlencoded"
NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # \u0000 not itself escaped
XML_TYPES = {"application/fhir+xml", "application/xml", "text/xml", "xml"}


def parse_request(request: Request, path: str, max_bytes: int, max_depth: int) -> FhirRequest:
    """Build a FhirRequest from a Flask request; 4xx errors for anything malformed."""
    _check_accept(request)
    query_string = request.query_string.decode("utf-8", "replace")
    query = parse_qsl(query_string, keep_blank_values=True)
    if "\x00" in path or any("\x00" in k or "\x00" in v for k, v in query):
        raise BadRequest("The URL must not contain the NUL character (%00)")
    prefer = _prefer(request.headers.get("Prefer", ""))
    body: Any = None
    error: FhirError | None = None
    if request.method in ("POST", "PUT", "PATCH"):
        try:
            body = _body(request, path, max_bytes, max_depth)
        except FhirError as exc:
            error = exc
    return FhirRequest(
        method=request.method,
        path=path,
        query=query,
        body=body,
        if_match=request.headers.get("If-Match"),
        if_none_exist=request.headers.get("If-None-Exist"),
        prefer_return=prefer.get("return", "representation"),
        prefer_strict=prefer.get("handling") == "strict",
        query_string=query_string,
        body_error=error,
    )


def _check_accept(request: Request) -> None:
    fmt = request.args.get("_format")
    if fmt and fmt in XML_TYPES:
        raise NotAcceptable("This server speaks FHIR JSON only (_format)")
    accept = request.headers.get("Accept", "")
    if accept and all(t.split(";")[0].strip() in XML_TYPES for t in accept.split(",")):
        raise NotAcceptable("This server speaks FHIR JSON only (Accept)")


def _prefer(header: str) -> dict[str, str]:
    prefs = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key and value:
            prefs[key.strip().lower()] = value.strip().strip('"')
    return prefs


def _body(request: Request, path: str, max_bytes: int, max_depth: int) -> Any:
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes")
    mimetype = request.mimetype
    if request.method == "POST" and path.rstrip("/").endswith("_search"):
        if mimetype != FORM_TYPE:
            raise UnsupportedMediaType(f"POST _search takes {FORM_TYPE}")
        return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    allowed = PATCH_TYPES if request.method == "PATCH" else JSON_TYPES
    if mimetype not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type '{mimetype[:80]}' is not supported here; use "
            + " or ".join(sorted(allowed))
        )
    return parse_json(raw, max_depth)


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN, bounded nesting."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The body is not UTF-8") from exc
    if not text.strip():
        raise BadRequest("The body is empty")
    _check_depth(text, max_depth)
    if "\\u0000" in text and NUL_ESCAPE.search(text):
        raise BadRequest("Strings must not contain the NUL character (\\u0000)")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise BadRequest("The JSON is nested too deeply") from exc


def _check_depth(text: str, max_depth: int) -> None:
    """Reject deep nesting before parsing (brackets counted outside strings)."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > max_depth:
            raise BadRequest(f"The JSON is nested more than {max_depth} levels deep")


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadRequest(f"The JSON object has the property '{key[:64]}' twice")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise BadRequest(f"'{name}' is not allowed in JSON")

"""Random and malformed requests, with and without valid credentials: never a 500, and
every 4xx carries an OperationOutcome."""

from __future__ import annotations

import contextlib
import importlib
import json
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from auth.support import CENTRE_A, PATCH_JSON, bearer, make_user
from conftest import FHIR_JSON, api_token
from screening.auth.service import SESSION_COOKIE

# When a property fails, Hypothesis imports libcst to print the failing example as a patch;
# libcst's import warns (mypy_extensions.TypedDict) and, with warnings as errors, the
# report would end in an INTERNALERROR hiding the failure. Import it once, quietly.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    importlib.import_module("libcst")

TEXT = st.characters(exclude_categories=("Cs",))
# A newline in the path matches no route: 404 before any credential is looked at (its
# OperationOutcome is tested in test_routing_errors_answer_an_operation_outcome).
PATH_TEXT = st.characters(exclude_characters="\n", exclude_categories=("Cs",))
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)

TYPES = ["Patient", "Observation", "Task", "ServiceRequest", "AuditEvent", "Organization"]
SPECIAL_SEGMENTS = [
    *TYPES,
    "Bundle",
    "metadata",
    "_history",
    "_search",
    "$validate",
    "$everything",
    "..",
    ".",
    "%2e%2e",
    "%2F",
    "%25",
    "%zz",
    "~",
    "example-ahmad-karimi",
    "patient",
    "Patient;x=1",
    "1",
    "-1",
    "a" * 65,
    "a" * 5000,
    "%C3%A9",
]
PARAMS = [
    "_id",
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_getpages",
    "_getpagesoffset",
    "_since",
    "_before",
    "_format",
    "_lastUpdated",
    "name",
    "subject",
    "subject:Patient",
    "patient",
    "identifier",
    "date",
    "value-quantity",
    "code:not",
    "name:exact",
    "status:missing",
    "profile",
    "mode",
    "unknown.chain",
]
CREDENTIALS = ["none", "full", "read", "audit", "centre", "cookie", "garbage"]
CONTENT_TYPES = [
    FHIR_JSON,
    "application/json",
    "application/json+fhir",
    PATCH_JSON,
    "application/x-www-form-urlencoded",
    "application/fhir+xml",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/fhir+json; charset=latin-1",
    "",
    "*/*",
]

segment = st.one_of(
    st.sampled_from(SPECIAL_SEGMENTS),
    st.text(PATH_TEXT, min_size=1, max_size=12).map(lambda s: quote(s, safe="$._-~")),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
path = st.one_of(
    st.lists(segment, max_size=5),
    st.tuples(st.sampled_from(TYPES), st.lists(segment, max_size=3)).map(lambda t: [t[0], *t[1]]),
).map("/".join)
query = st.lists(
    st.tuples(
        st.sampled_from(PARAMS) | st.text(ASCII, max_size=8),
        st.sampled_from(["Patient", "Task:focus", "x:y:z", "-1", "ge2026", "count", "*"])
        | st.text(TEXT, max_size=16),
    ),
    max_size=4,
).map(urlencode)
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(TEXT, max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(TEXT, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
resource_like = st.fixed_dictionaries(
    {"resourceType": st.sampled_from([*TYPES, "Bundle", "Parameters", "Binary", "Nope"])},
    optional={
        "id": st.text(ASCII, max_size=70),
        "type": st.sampled_from(["batch", "transaction", "searchset", "x"]),
        "entry": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "request": st.fixed_dictionaries(
                        {
                            "method": st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
                            "url": path,
                        }
                    ),
                    "resource": json_value,
                    "fullUrl": st.text(ASCII, max_size=20),
                },
            ),
            max_size=3,
        ),
        "name": json_value,
        "subject": st.fixed_dictionaries({"reference": st.text(ASCII, max_size=30)}),
        "status": st.text(ASCII, max_size=10),
        "meta": json_value,
    },
)
deep = st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n)
body = st.one_of(
    st.none(),
    json_value.map(json.dumps),
    resource_like.map(json.dumps),
    deep,
    st.text(TEXT, max_size=50),
    st.binary(max_size=60),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Accept": st.sampled_from(["application/fhir+json", "application/xml", "*/*", "x"]),
        "Prefer": st.sampled_from(["return=minimal", "return=OperationOutcome", "handling=strict"])
        | st.text(ASCII, max_size=20),
        "If-Match": st.sampled_from(['W/"1"', '"1"', "*", 'W/"x"']) | st.text(ASCII, max_size=8),
        "If-None-Exist": st.sampled_from(["name=Karimi", "_id=1", "", "x"]) | query,
        "X-CSRF-Token": st.text(ASCII, max_size=10),
        "Content-Length": st.sampled_from(["0", "1", "99999999999"]),
    },
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    credential: str
    authorization: str | None
    content_type: str
    headers: dict[str, str]
    body: str | bytes | None


requests = st.builds(
    Request,
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    path=path,
    query=query,
    credential=st.sampled_from(CREDENTIALS),
    authorization=st.none()
    | st.sampled_from(["Bearer", "Bearer ", "Basic YTpi", "bearer scr_", "Bearer scr_x y"])
    | st.text(ASCII, max_size=30).map(lambda s: f"Bearer {s}"),
    content_type=st.sampled_from(CONTENT_TYPES),
    headers=headers,
    body=body,
)


class Credentials:
    """The valid credentials a request may pick (made once per test)."""

    def __init__(self, app: Flask) -> None:
        self.tokens = {
            "full": api_token(app, "system/*.*"),
            "read": api_token(app, "system/*.read"),
            "audit": api_token(app, "system/AuditEvent.read"),
            "centre": api_token(app, "system/*.*", organization=CENTRE_A),
        }
        _, self.session, self.csrf = make_user(app, "clinician")

    def headers(self, req: Request) -> dict[str, str]:
        found = dict(req.headers)
        if req.credential in self.tokens:
            found["Authorization"] = f"Bearer {self.tokens[req.credential]}"
        elif req.credential == "cookie":
            found["Cookie"] = f"{SESSION_COOKIE}={self.session}"
            found.setdefault("X-CSRF-Token", self.csrf)
        elif req.credential == "garbage" and req.authorization is not None:
            found["Authorization"] = req.authorization
        if req.content_type:
            found["Content-Type"] = req.content_type
        return found


def send(app: Flask, credentials: Credentials, req: Request) -> Any:
    url = f"/fhir/{req.path}" + (f"?{req.query}" if req.query else "")
    return app.test_client().open(
        url, method=req.method, data=req.body, headers=credentials.headers(req)
    )


def check(response: Any, req: Request) -> None:
    """The properties: no 5xx; a 4xx body is an OperationOutcome (HEAD has no body); without
    valid credentials everything but the CapabilityStatement is 401."""
    assert response.status_code < 500, (req, response.data[:300])
    if 400 <= response.status_code < 500 and req.method != "HEAD":
        outcome = response.get_json(silent=True)
        assert isinstance(outcome, dict), (req, response.status_code, response.data[:300])
        assert outcome.get("resourceType") == "OperationOutcome", (req, outcome)
        assert outcome.get("issue"), (req, outcome)
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), req
    public = req.method == "OPTIONS" or (req.path == "metadata" and req.method in ("GET", "HEAD"))
    if req.credential in ("none", "garbage") and not public:
        # 308: Werkzeug's redirect of a path with an empty segment ('//'), before any view
        assert response.status_code in (401, 308), (req, response.status_code)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no "explain": it warns (error)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=requests)
def test_random_requests_never_fail_the_server(app: Flask, req: Request) -> None:
    """Any method, path, query, headers, credentials, body: no 5xx, 4xx are OperationOutcomes."""
    if "fuzz-credentials" not in app.extensions:  # once per app, not per example
        app.extensions["fuzz-credentials"] = Credentials(app)
    credentials = app.extensions["fuzz-credentials"]
    check(send(app, credentials, req), req)


# ------------------------------------------------------------------------- found by fuzzing


def on_postgresql(app: Flask) -> bool:
    url: str = app.extensions["screening"].config.database_url
    return url.startswith("postgresql")


@pytest.mark.parametrize(
    "path",
    ["Patient/%00", "Patient/a%00b/_history", "Patient?name=%00", "Patient?_id=x%00"],
)
def test_nul_characters_are_client_errors(
    app: Flask, request: pytest.FixtureRequest, path: str
) -> None:
    """A NUL in an id or a search value is a 4xx (or no match), never a 500."""
    status, body, _ = bearer(app).get(path)
    assert status < 500, body
    assert status == 200 or body["resourceType"] == "OperationOutcome"


def test_nul_characters_in_a_body_are_client_errors(
    app: Flask, request: pytest.FixtureRequest
) -> None:
    """A resource with U+0000 in a string is refused with a 4xx or stored, never a 500."""
    raw = '{"resourceType": "Patient", "name": [{"family": "a\\u0000b"}]}'
    status, body, _ = bearer(app).post("Patient", raw)
    assert status < 500, body


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("TRACE", "Patient", 405),
        ("PROPFIND", "Patient", 405),
        ("LOCK", "", 405),
        ("GET", "Patient/%0A", 404),
        ("POST", "Patient%0A", 404),
    ],
)
def test_routing_errors_answer_an_operation_outcome(
    app: Flask, method: str, path: str, status: int
) -> None:
    """A method or path the FHIR door cannot route still answers with an OperationOutcome."""
    response = app.test_client().open(f"/fhir/{path}", method=method)
    assert response.status_code == status
    assert (response.get_json(silent=True) or {}).get("resourceType") == "OperationOutcome"

"""The CapabilityStatement: built from what the server really does, never written by hand."""

from __future__ import annotations

from typing import Any

from screening.api.environment import FhirEnvironment
from screening.api.extract import DEFINITION as EXTRACT_DEFINITION
from screening.fhir.searchset import CANONICAL
from screening.store.query_parse import MODIFIERS, SORTABLE

INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
SOFTWARE_VERSION = "0.1.0"
LETTER_DEFINITION = f"{CANONICAL}/OperationDefinition/ServiceRequest-letter"
OPERATIONS = {  # type-level operations beyond $validate
    "QuestionnaireResponse": [
        {
            "name": "extract",
            "definition": EXTRACT_DEFINITION,
            "documentation": (
                "POST a completed QuestionnaireResponse (or Parameters with"
                " 'questionnaire-response'): 200 with a transaction Bundle that creates the"
                " response and the Observations and Conditions extracted from it (SDC"
                " observation-based extraction, derivedFrom the response). Nothing is stored."
            ),
        }
    ],
    "ServiceRequest": [
        {
            "name": "letter",
            "definition": LETTER_DEFINITION,
            "documentation": (
                "GET /ServiceRequest/{id}/$letter?lang=fa|en: the printed referral letter, a"
                " PDF/A-3b that embeds the referral as a FHIR Bundle. A Binary resource"
                " (contentType application/pdf) with Accept application/fhir+json, the PDF"
                " itself with Accept application/pdf. Every print is audited."
            ),
        }
    ],
}


def capability_statement(env: FhirEnvironment, base_url: str, date: str) -> dict[str, Any]:
    """What this server supports: every resource type, its interactions and parameters."""
    profiles = env.profiles_by_type()
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Mobility screening and rehabilitation referral service",
        "kind": "instance",
        "software": {"name": "screening", "version": SOFTWARE_VERSION},
        "implementation": {"description": "Mobility screening FHIR server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": _DOCUMENTATION,
                "security": SECURITY,
                "resource": [
                    _resource(env, t, profiles.get(t, [])) for t in sorted(env.resource_types)
                ],
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                ],
            }
        ],
    }


def _resource(env: FhirEnvironment, res_type: str, profiles: list[str]) -> dict[str, Any]:
    params = env.indexer.params_for(res_type)
    search = [
        {"name": "_id", "type": "token"},
        {"name": "_lastUpdated", "type": "date"},
    ] + [
        {"name": code, "definition": p.url, "type": p.type, "documentation": _modifiers(p.type)}
        for code, p in sorted(params.items())
    ]
    return {
        "type": res_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
        **({"supportedProfile": profiles} if profiles else {}),
        "interaction": [{"code": c} for c in INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchInclude": [
            f"{res_type}:{c}" for c, p in sorted(params.items()) if p.type == "reference"
        ]
        + ["*"],
        "searchRevInclude": ["*:*"],
        "searchParam": search,
        "operation": [
            {
                "name": "validate",
                "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
            },
            *OPERATIONS.get(res_type, []),
        ],
    }


def _modifiers(kind: str) -> str:
    extra = " and a target resource type" if kind == "reference" else ""
    prefixes = (
        " Prefixes eq ne gt lt ge le sa eb ap." if kind in ("date", "number", "quantity") else ""
    )
    sortable = " Sortable." if kind in SORTABLE else ""
    return f"Modifiers: {', '.join(sorted(MODIFIERS[kind]))}{extra}.{prefixes}{sortable}"


_DOCUMENTATION = (
    "JSON only. Search: GET or POST _search; _count (paging links backed by a stored result,"
    " stable while data changes), _sort (several keys, '-' for descending), _include and"
    " _revinclude (no :iterate), _summary=count, _elements, _total. Unknown parameters are"
    " reported in an OperationOutcome entry, or rejected with 400 under"
    " 'Prefer: handling=strict'. Chained parameters, _has, composite and special parameters"
    ' are not supported. Writes: If-Match (ETag W/"n") and If-None-Exist; JSON Patch;'
    " 'Prefer: return=minimal|representation|OperationOutcome'. Transactions are atomic."
    " Every write is validated against R4 and the profiles in meta.profile (422 with the"
    " OperationOutcome when it has errors); $validate takes 'profile' and 'mode'."
)

SECURITY: dict[str, Any] = {
    "cors": False,
    "service": [{"text": "Bearer token of a registered API client, with SMART-style scopes"}],
    "description": (
        "Every interaction except /metadata needs 'Authorization: Bearer <token>'. Tokens are"
        " issued to registered API clients (`screening client create --scope ...`) and carry"
        " SMART-style system scopes: system/<Type|*>.<read|write|*> or the v2 letters c r u"
        " d s (system/Observation.rs). `*` covers every type but AuditEvent, which needs"
        " system/AuditEvent.read and can never be written. A client bound to a"
        " rehabilitation centre sees only the referrals sent to that centre and what they"
        " share. Missing or invalid token: 401 with WWW-Authenticate; not allowed: 403; a"
        " resource out of reach: 404. Every access to patient data is recorded as an"
        " AuditEvent."
    ),
}

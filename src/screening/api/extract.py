"""`POST /fhir/QuestionnaireResponse/$extract` (SDC): the transaction Bundle that stores a
QuestionnaireResponse and the Observations and Conditions extracted from it.

The body is the QuestionnaireResponse, or a Parameters resource with it as
`questionnaire-response`. Its Questionnaire must be one the server knows; calculated items
are filled in (or a disagreeing total refused), then the response is validated against R4
and its Questionnaire, and every extracted resource against its profile (422 with the
issues otherwise). Nothing is stored: POSTing the answer to /fhir stores it all.

Access: reading QuestionnaireResponses (the operation reads the response it is given) and
creating Observations (what it prepares). The call is audited as an operation on the
response's patient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from screening.api.messages import FhirRequest, FhirResponse
from screening.audit.events import patient_of
from screening.fhir.outcome import BadRequest, Issue, MethodNotAllowed, Unprocessable
from screening.screenings.calculated import CalculationError, complete
from screening.screenings.extraction import ExtractionError, response_bundle
from screening.screenings.questionnaire import Form, QuestionnaireError, form_of

if TYPE_CHECKING:
    from screening.api.interactions import Interactions

RESPONSE = "QuestionnaireResponse"
DEFINITION = "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract"


def extract_operation(api: Interactions, req: FhirRequest) -> FhirResponse:
    """`$extract` on the type level: 200 with the transaction Bundle, nothing stored."""
    if req.method != "POST":
        raise MethodNotAllowed(f"{req.method} is not supported for $extract (POST only)")
    api.guard.require("r", RESPONSE)
    api.guard.require("c", "Observation")
    response = response_of(req.payload())
    form = known_form(api, response)
    bundle = _extracted(api, form, response)
    access = api.guard.saw("operation", [], operation="$extract", patient_query=True)
    patient = patient_of(response)
    if patient:
        access.patients.add(patient)
    return FhirResponse(200, bundle)


def response_of(body: Any) -> dict[str, Any]:
    """The QuestionnaireResponse of the body (itself, or a Parameters holding it); 400."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        params = body.get("parameter")
        found = [
            p.get("resource")
            for p in (params if isinstance(params, list) else [])
            if isinstance(p, dict) and p.get("name") == "questionnaire-response"
        ]
        if len(found) != 1:
            raise BadRequest("Parameters needs one 'questionnaire-response' parameter")
        body = found[0]
    if not isinstance(body, dict) or body.get("resourceType") != RESPONSE:
        raise BadRequest("$extract takes a QuestionnaireResponse (or Parameters holding one)")
    return body


def known_form(api: Interactions, response: dict[str, Any]) -> Form:
    """The Form of the Questionnaire the response names; 422 when the server has none."""
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        raise Unprocessable(
            "The QuestionnaireResponse names no questionnaire",
            expression="QuestionnaireResponse.questionnaire",
        )
    url, _, version = canonical.partition("|")
    try:
        form = form_of(api.env.registry, url)
    except QuestionnaireError:
        form = None
    if form is None or (version and version != form.version):
        raise Unprocessable(
            f"Questionnaire '{canonical[:200]}' is not known to this server",
            expression="QuestionnaireResponse.questionnaire",
        )
    return form


def _extracted(api: Interactions, form: Form, response: dict[str, Any]) -> dict[str, Any]:
    """The Bundle of a completed, valid response, every entry valid; 422 otherwise."""
    completed = _completed(form, response)
    issues = api.validate(completed)
    if any(i.is_error for i in issues):
        raise Unprocessable("The QuestionnaireResponse is not valid", issues=issues)
    try:
        bundle = response_bundle(form, completed, api.env.registry)
    except ExtractionError as error:
        raise Unprocessable(error.message, expression=error.expression) from error
    problems = _entry_errors(api, bundle)
    if problems:
        raise Unprocessable("The extracted resources are not valid", issues=problems)
    return bundle


def _completed(form: Form, response: dict[str, Any]) -> dict[str, Any]:
    """The response with its calculated items; 422 when a given total disagrees. A response
    too malformed to calculate on is left as it is, for the validator to say what is wrong."""
    try:
        return complete(form, response)
    except CalculationError as error:
        raise Unprocessable(str(error)) from error
    except (AttributeError, TypeError, KeyError, ValueError, ArithmeticError):
        return response


def _entry_errors(api: Interactions, bundle: dict[str, Any]) -> list[Issue]:
    """The errors of the extracted resources, located in the Bundle."""
    found = []
    for index, entry in enumerate(bundle["entry"][1:], start=1):
        resource = entry["resource"]
        for issue in api.validate(resource):
            if issue.is_error:
                where = issue.expression or resource["resourceType"]
                located = f"Bundle.entry[{index}].resource{where[len(resource['resourceType']) :]}"
                found.append(Issue(issue.severity, issue.code, issue.diagnostics, located))
    return found

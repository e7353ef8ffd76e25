"""The roles of the people who use the pages, and what each may read and write.

Resource types fall into four groups: patient data (everything not named below), the
centre directory, conformance resources (the IG), and the audit trail. README has the
matrix as a table; `tests/auth/test_roles.py` holds it to this module.
"""

from __future__ import annotations

from enum import StrEnum

DIRECTORY = frozenset(
    {"Organization", "Location", "HealthcareService", "Practitioner", "PractitionerRole"}
)
CONFORMANCE = frozenset(
    {
        "StructureDefinition",
        "ValueSet",
        "CodeSystem",
        "Questionnaire",
        "SearchParameter",
        "ImplementationGuide",
        "CapabilityStatement",
        "ConceptMap",
        "NamingSystem",
        "OperationDefinition",
        "CompartmentDefinition",
    }
)
AUDIT = frozenset({"AuditEvent"})
NOT_PATIENT_DATA = DIRECTORY | CONFORMANCE | AUDIT
SCREENING_WRITES = frozenset(
    {
        "Patient",
        "RelatedPerson",
        "Encounter",
        "Observation",
        "Condition",
        "QuestionnaireResponse",
        "Consent",
    }
)
REFERRAL_WRITES = frozenset({"ServiceRequest", "Task"})


class Role(StrEnum):
    """A user's role; it decides what the user may see and do."""

    SCREENER = "screener"
    CLINICIAN = "clinician"
    CENTRE_STAFF = "centre-staff"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"


def is_patient_data(res_type: str) -> bool:
    """Whether resources of this type hold (or point at) a person's health data."""
    return res_type not in NOT_PATIENT_DATA


def role_may_read(role: Role, res_type: str) -> bool:
    """Whether the role may read and search this type (centre staff: only what was shared
    with the centre, see `screening.store.sharing`)."""
    if res_type in CONFORMANCE or res_type in DIRECTORY:
        return True
    if res_type in AUDIT:
        return role is Role.AUDITOR
    return role in (Role.SCREENER, Role.CLINICIAN, Role.CENTRE_STAFF)


def role_may_write(role: Role, res_type: str) -> bool:
    """Whether the role may create, update and delete this type (AuditEvent: nobody)."""
    if res_type in AUDIT or res_type in CONFORMANCE:
        return False
    if res_type in DIRECTORY:
        return role is Role.ADMINISTRATOR
    if role is Role.SCREENER:
        return res_type in SCREENING_WRITES
    if role is Role.CLINICIAN:
        return True
    if role is Role.CENTRE_STAFF:
        return res_type == "Task"
    return False


def role_may_print(role: Role) -> bool:
    """Whether the role may print and export referral letters."""
    return role in (Role.CLINICIAN, Role.CENTRE_STAFF)


def centre_bound(role: Role) -> bool:
    """Whether users of this role must belong to one rehabilitation centre."""
    return role is Role.CENTRE_STAFF

"""The page fixtures of tests/web (signed-in browsers, users, the audit trail)."""

from referrals.pages_support import (  # noqa: F401  (fixtures of the referral pages)
    centres,
    clinician,
    patient_id,
    screening_id,
)
from web.conftest import (  # noqa: F401  (fixtures)
    audit_events,
    browser,
    cheap_password_hashing,
    make_user,
    signed_in,
    web_app,
)

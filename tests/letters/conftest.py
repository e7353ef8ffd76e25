"""The page fixtures the letter tests build a referral with (signed-in browsers, users,
the audit trail, the centres, a screened person)."""

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

"""The account page's form: role, centre and language (`UserEditForm`), with the registration
number and profession a printed letter shows of a health worker."""

from __future__ import annotations

from screening.auth.professions import PROFESSIONS, REGISTRATION_LENGTH
from screening.web.forms import UserEditForm, choice_field, text_field


class UserDetailsForm(UserEditForm):
    """A changed role, centre, language, registration number or profession (the last two may
    be left empty)."""

    registration = text_field(REGISTRATION_LENGTH, control_error="error.registration_chars")
    profession = choice_field(PROFESSIONS, required=False)

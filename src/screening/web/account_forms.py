"""The account forms with the registration number and profession a printed letter shows of
a health worker: the new-account form (`UserCreateForm`) and the account page's form
(`UserEditForm`: role, centre and language)."""

from __future__ import annotations

from screening.auth.professions import PROFESSIONS, REGISTRATION_LENGTH
from screening.web.forms import PageForm, UserCreateForm, UserEditForm, choice_field, text_field


class HealthWorkerFields(PageForm):
    """The registration number and profession (either may be left empty)."""

    registration = text_field(REGISTRATION_LENGTH, control_error="error.registration_chars")
    profession = choice_field(PROFESSIONS, required=False)


class NewUserForm(UserCreateForm, HealthWorkerFields):
    """A new account, with its registration number and profession."""


class UserDetailsForm(UserEditForm, HealthWorkerFields):
    """A changed role, centre, language, registration number or profession."""

"""The administrator's pages: accounts and API clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import Schema

from screening.api.views import base_url
from screening.auth.models import UserAccount
from screening.auth.professions import PROFESSION_SYSTEM, PROFESSIONS
from screening.auth.roles import Role
from screening.auth.service import AccountError, list_clients, list_users
from screening.boundary import app_state, unit_of_work
from screening.patients.history import Labels
from screening.screenings.directory import health_worker, refresh_practitioner
from screening.web.account_errors import form_error
from screening.web.account_forms import NewUserForm, UserDetailsForm
from screening.web.accounts import Accounts
from screening.web.forms import (
    ActiveForm,
    ClientCreateForm,
    FormErrors,
    PasswordForm,
    parse_form,
)
from screening.web.i18n import Message
from screening.web.pages import signed_in
from screening.web.render import render_page
from screening.web.visitor import login_required, page_language

bp = Blueprint("admin", __name__, url_prefix="/admin")
administrators = login_required(roles=[Role.ADMINISTRATOR])
NOTICES = frozenset(
    {
        "user_created",
        "user_updated",
        "user_disabled",
        "user_enabled",
        "password_set",
        "client_revoked",
        "client_restored",
    }
)
NEW_USER = {"role": Role.SCREENER.value, "language": "fa"}
T = TypeVar("T")


@contextmanager
def _accounts() -> Iterator[Accounts]:
    """The accounts service of the signed-in administrator, in one committed transaction."""
    state = app_state()
    with unit_of_work(state, write=True) as session:
        yield Accounts(session, state.fhir.indexer, signed_in().principal)


def _notice() -> Message | None:
    """The confirmation named by `?done=` after a change (only known ones)."""
    done = request.args.get("done", "")
    return Message(f"notice.{done}") if done in NOTICES else None


def _kept(form: Mapping[str, str]) -> dict[str, str]:
    """What the administrator typed, to show again (never a password or the token)."""
    return {k: v for k, v in form.items() if k not in ("password", "csrf_token")}


def _apply(
    schema: Schema, change: Callable[[Accounts, dict[str, Any]], T], fallback: str
) -> tuple[dict[str, Any], T | None, FormErrors]:
    """Parse the form and make the change in one transaction; (values, result, errors), an
    AccountError shown next to its field (or `fallback`)."""
    values, errors = parse_form(schema, request.form)
    if errors:
        return values, None, errors
    try:
        with _accounts() as accounts:
            return values, change(accounts, values), {}
    except AccountError as error:
        return values, None, form_error(error, fallback)


# ------------------------------------------------------------------------------- users


@bp.get("/users")
@administrators
def users() -> ResponseReturnValue:
    """Every account, and the form for a new one."""
    return _users_page()


def _users_page(
    status: int = 200, errors: FormErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    """The accounts list with the new-account form (its errors and values, if any)."""
    with unit_of_work(app_state(), write=False) as session:
        rows = list_users(session)
    return render_page(
        "pages/admin/users.html",
        status,
        users=rows,
        errors=errors or {},
        values=values or NEW_USER,
        notice=_notice(),
        profession_options=_profession_options(),
    )


@bp.post("/users")
@administrators
def create_user() -> ResponseReturnValue:
    """Create an account; errors go next to their field, the values stay."""
    _, _, errors = _apply(NewUserForm(), lambda a, v: a.create_user(v), "username")
    if errors:
        return _users_page(400, errors, _kept(request.form))
    return redirect(url_for("admin.users", done="user_created"), 303)


@bp.get("/users/<user_id>")
@administrators
def user(user_id: str) -> ResponseReturnValue:
    """One account: role, centre, language, state, password."""
    return _user_page(user_id)


def _user_page(
    user_id: str,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """One account's page with its forms (their errors and values, if any); 404 if none."""
    with unit_of_work(app_state(), write=False) as session:
        account = session.get(UserAccount, user_id[:36])
    if account is None:
        abort(404)
    shown = values or {
        "role": account.role,
        "organization": account.organization_id or "",
        "language": account.language,
        "registration": account.registration,
        "profession": account.profession,
    }
    return render_page(
        "pages/admin/user.html",
        status,
        account=account,
        errors=errors or {},
        values=shown,
        notice=_notice(),
        is_self=account.id == signed_in().user_id,
        profession_options=_profession_options(),
    )


def _profession_options() -> list[tuple[str, str]]:
    """(code, name in the page's language) of the professions, from their CodeSystem."""
    labels = Labels(app_state().fhir.registry, page_language())
    return [
        (code, labels.concept({"coding": [{"system": PROFESSION_SYSTEM, "code": code}]}))
        for code in PROFESSIONS
    ]


@bp.post("/users/<user_id>")
@administrators
def edit_user(user_id: str) -> ResponseReturnValue:
    """Change an account's role, centre, language, registration number and profession; its
    Practitioner, when it has one, follows at once."""
    _, worker, errors = _apply(
        UserDetailsForm(), lambda a, v: health_worker(a.update_user(user_id, **v)), "role"
    )
    if errors:
        return _user_page(user_id, 400, errors, _kept(request.form))
    if worker is not None:
        refresh_practitioner(app_state(), base_url(), worker)
    return redirect(url_for("admin.user", user_id=user_id, done="user_updated"), 303)


@bp.post("/users/<user_id>/active")
@administrators
def user_active(user_id: str) -> ResponseReturnValue:
    """Disable or enable an account (its open sessions end)."""
    values, _, errors = _apply(
        ActiveForm(), lambda a, v: a.update_user(user_id, active=v["active"] == "1"), "_"
    )
    if errors:
        return _user_page(user_id, 400, errors)
    done = "user_enabled" if values["active"] == "1" else "user_disabled"
    return redirect(url_for("admin.user", user_id=user_id, done=done), 303)


@bp.post("/users/<user_id>/password")
@administrators
def user_password(user_id: str) -> ResponseReturnValue:
    """Set a new password (the user's sessions end)."""
    _, _, errors = _apply(
        PasswordForm(), lambda a, v: a.update_user(user_id, password=v["password"]), "password"
    )
    if errors:
        return _user_page(user_id, 400, errors)
    return redirect(url_for("admin.user", user_id=user_id, done="password_set"), 303)


# ----------------------------------------------------------------------------- clients


@bp.get("/clients")
@administrators
def clients() -> ResponseReturnValue:
    """Every API client, and the form for a new one."""
    return _clients_page()


def _clients_page(
    status: int = 200, errors: FormErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    """The clients list with the new-client form (its errors and values, if any)."""
    with unit_of_work(app_state(), write=False) as session:
        rows = list_clients(session)
    return render_page(
        "pages/admin/clients.html",
        status,
        clients=rows,
        errors=errors or {},
        values=values or {},
        notice=_notice(),
    )


@bp.post("/clients")
@administrators
def create_client() -> ResponseReturnValue:
    """Create a client; its token is shown on this response only."""
    types = frozenset(app_state().fhir.resource_types)
    _, created, errors = _apply(
        ClientCreateForm(), lambda a, v: a.create_client(v, types), "scopes"
    )
    if errors or created is None:
        return _clients_page(400, errors, _kept(request.form))
    client, token = created
    return render_page("pages/admin/client_created.html", 201, client=client, token=token)


@bp.post("/clients/<client_id>/active")
@administrators
def client_active(client_id: str) -> ResponseReturnValue:
    """Revoke or restore a client's token."""
    values, _, errors = _apply(
        ActiveForm(), lambda a, v: a.set_client_active(client_id, v["active"] == "1"), "_"
    )
    if errors:
        abort(404 if "_" in errors else 400)
    done = "client_restored" if values["active"] == "1" else "client_revoked"
    return redirect(url_for("admin.clients", done=done), 303)

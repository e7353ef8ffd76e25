"""Accounts, API clients, sessions, failed logins, and what referrals share with centres.

`access_grant` is filled for the ServiceRequests and Tasks already stored, by the same rule
the store applies on every write (screening.store.sharing).

Revision ID: a1c904e2f925
Revises: 5a1f0c3d9e21
Create Date: 2026-11-24 05:00:38.064256
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "a1c904e2f925"
down_revision = "5a1f0c3d9e21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_grant",
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("fhir_id", sa.String(length=64), nullable=False),
        sa.Column("source_type", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "res_type",
            "fhir_id",
            "source_type",
            "source_id",
            name=op.f("pk_access_grant"),
        ),
    )
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_grant_source_type_source_id"),
            ["source_type", "source_id"],
            unique=False,
        )

    op.create_table(
        "api_client",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("name", name=op.f("uq_api_client_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_client_token_hash")),
    )
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_failure_address_at"), ["address", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_failure_username_at"), ["username", "at"], unique=False
        )

    op.create_table(
        "user_account",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_web_session_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_session")),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_expires"), ["expires"], unique=False)
        batch_op.create_index(batch_op.f("ix_web_session_user_id"), ["user_id"], unique=False)
    _grant_existing_referrals()


def _grant_existing_referrals() -> None:
    """Grants for the current versions of stored ServiceRequests and Tasks."""
    from sqlalchemy.orm import Session

    from screening.store.sharing import SHARED_BY, refresh_grants

    session = Session(bind=op.get_bind())
    rows = session.execute(
        sa.text(
            "SELECT v.res_type, v.fhir_id, v.content FROM resource r JOIN resource_version v"
            " ON v.rid = r.rid AND v.version = r.version"
            " WHERE r.deleted = :no AND r.res_type IN ('ServiceRequest', 'Task')"
        ),
        {"no": False},
    )
    for res_type, fhir_id, content in rows.all():
        if isinstance(content, str):
            content = json.loads(content)
        if res_type in SHARED_BY:
            refresh_grants(session, res_type, fhir_id, content)
    session.flush()


def downgrade() -> None:
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_user_id"))
        batch_op.drop_index(batch_op.f("ix_web_session_expires"))

    op.drop_table("web_session")
    op.drop_table("user_account")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failure_username_at"))
        batch_op.drop_index(batch_op.f("ix_login_failure_address_at"))

    op.drop_table("login_failure")
    op.drop_table("api_client")
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_grant_source_type_source_id"))

    op.drop_table("access_grant")

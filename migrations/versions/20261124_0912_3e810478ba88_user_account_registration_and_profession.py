"""A user account's registration number and profession, for the printed referral letter.

Both are optional: existing accounts get "" (the server default), meaning not given.
`profession` holds a code of the IG CodeSystem health-profession.

Revision ID: 3e810478ba88
Revises: a1c904e2f925
Create Date: 2026-11-24 09:12:04.516119
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3e810478ba88"
down_revision = "a1c904e2f925"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("registration", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("profession", sa.String(length=32), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("profession")
        batch_op.drop_column("registration")

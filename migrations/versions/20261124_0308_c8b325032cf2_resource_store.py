"""Resource store: resources, versions, search index and search snapshots.

Revision ID: c8b325032cf2
Revises:
Create Date: 2026-11-24 03:08:24.802750
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c8b325032cf2"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column(
            "rid",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("fhir_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("rid", name=op.f("pk_resource")),
        sa.UniqueConstraint("res_type", "fhir_id", name=op.f("uq_resource_res_type_fhir_id")),
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_res_type_last_updated"),
            ["res_type", "last_updated"],
            unique=False,
        )

    op.create_table(
        "search_snapshot",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("rids", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_snapshot")),
    )
    with op.batch_alter_table("search_snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_search_snapshot_created"), ["created"], unique=False)

    op.create_table(
        "idx_date",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("low", sa.DateTime(), nullable=False),
        sa.Column("high", sa.DateTime(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"], ["resource.rid"], name=op.f("fk_idx_date_rid_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_date")),
    )
    with op.batch_alter_table("idx_date", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idx_date_res_type_name_low_high"),
            ["res_type", "name", "low", "high"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_idx_date_rid"), ["rid"], unique=False)

    op.create_table(
        "idx_number",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"], ["resource.rid"], name=op.f("fk_idx_number_rid_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_number")),
    )
    with op.batch_alter_table("idx_number", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idx_number_res_type_name_value"),
            ["res_type", "name", "value"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_idx_number_rid"), ["rid"], unique=False)

    op.create_table(
        "idx_quantity",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("unit", sa.String(length=255), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"], ["resource.rid"], name=op.f("fk_idx_quantity_rid_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_quantity")),
    )
    with op.batch_alter_table("idx_quantity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idx_quantity_res_type_name_value"),
            ["res_type", "name", "value"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_idx_quantity_rid"), ["rid"], unique=False)

    op.create_table(
        "idx_reference",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["resource.rid"],
            name=op.f("fk_idx_reference_rid_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_reference")),
    )
    with op.batch_alter_table("idx_reference", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idx_reference_res_type_name_target_id_target_type"),
            ["res_type", "name", "target_id", "target_type"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_idx_reference_rid"), ["rid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_idx_reference_target_type_target_id"),
            ["target_type", "target_id"],
            unique=False,
        )

    op.create_table(
        "idx_string",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "value_norm",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("value_exact", sa.Text(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"], ["resource.rid"], name=op.f("fk_idx_string_rid_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_string")),
    )
    with op.batch_alter_table("idx_string", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idx_string_res_type_name_value_norm"),
            ["res_type", "name", "value_norm"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_idx_string_rid"), ["rid"], unique=False)

    op.create_table(
        "idx_token",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"], ["resource.rid"], name=op.f("fk_idx_token_rid_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_token")),
    )
    with op.batch_alter_table("idx_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idx_token_res_type_name_code_system"),
            ["res_type", "name", "code", "system"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_idx_token_rid"), ["rid"], unique=False)

    op.create_table(
        "idx_uri",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("value", sa.String(length=2048), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"], ["resource.rid"], name=op.f("fk_idx_uri_rid_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_uri")),
    )
    with op.batch_alter_table("idx_uri", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idx_uri_res_type_name_value"),
            ["res_type", "name", "value"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_idx_uri_rid"), ["rid"], unique=False)

    op.create_table(
        "resource_version",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("fhir_id", sa.String(length=64), nullable=False),
        sa.Column("last_updated", sa.DateTime(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["resource.rid"],
            name=op.f("fk_resource_version_rid_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rid", "version", name=op.f("pk_resource_version")),
    )
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_version_last_updated"), ["last_updated"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_version_res_type_last_updated"),
            ["res_type", "last_updated"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_version_res_type_last_updated"))
        batch_op.drop_index(batch_op.f("ix_resource_version_last_updated"))

    op.drop_table("resource_version")
    with op.batch_alter_table("idx_uri", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idx_uri_rid"))
        batch_op.drop_index(batch_op.f("ix_idx_uri_res_type_name_value"))

    op.drop_table("idx_uri")
    with op.batch_alter_table("idx_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idx_token_rid"))
        batch_op.drop_index(batch_op.f("ix_idx_token_res_type_name_code_system"))

    op.drop_table("idx_token")
    with op.batch_alter_table("idx_string", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idx_string_rid"))
        batch_op.drop_index(batch_op.f("ix_idx_string_res_type_name_value_norm"))

    op.drop_table("idx_string")
    with op.batch_alter_table("idx_reference", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idx_reference_target_type_target_id"))
        batch_op.drop_index(batch_op.f("ix_idx_reference_rid"))
        batch_op.drop_index(batch_op.f("ix_idx_reference_res_type_name_target_id_target_type"))

    op.drop_table("idx_reference")
    with op.batch_alter_table("idx_quantity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idx_quantity_rid"))
        batch_op.drop_index(batch_op.f("ix_idx_quantity_res_type_name_value"))

    op.drop_table("idx_quantity")
    with op.batch_alter_table("idx_number", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idx_number_rid"))
        batch_op.drop_index(batch_op.f("ix_idx_number_res_type_name_value"))

    op.drop_table("idx_number")
    with op.batch_alter_table("idx_date", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idx_date_rid"))
        batch_op.drop_index(batch_op.f("ix_idx_date_res_type_name_low_high"))

    op.drop_table("idx_date")
    with op.batch_alter_table("search_snapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_snapshot_created"))

    op.drop_table("search_snapshot")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_res_type_last_updated"))

    op.drop_table("resource")

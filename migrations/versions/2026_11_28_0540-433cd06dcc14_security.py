"""Security: API keys, per-user settings, broker sessions and credentials, web sessions, bans,
the security audit trail, change counters, and TOTP columns on users.

Revision ID: 433cd06dcc14
Revises: 335e5d03de24
Create Date: 2026-11-28 05:03:34.999103+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openalgo.db.base

revision: str = "433cd06dcc14"
down_revision: str | Sequence[str] | None = "335e5d03de24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = openalgo.db.base.UTCDateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _user_id(*, nullable: bool = False, primary: bool = False) -> sa.Column[int]:
    return sa.Column(
        "user_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=False if primary else "auto",
        nullable=nullable,
    )


def upgrade() -> None:
    change_counters = op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )
    op.bulk_insert(change_counters, [{"name": "auth", "value": 0}])

    op.create_table(
        "ip_bans",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("ban_count", sa.Integer(), nullable=False),
        _id(),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_bans")),
        sa.UniqueConstraint("address", name=op.f("uq_ip_bans_address")),
    )

    op.create_table(
        "api_keys",
        _user_id(),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("lookup_digest", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        _id(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index(op.f("ix_api_keys_lookup_digest"), "api_keys", ["lookup_digest"], unique=True)
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"], unique=False)

    op.create_table(
        "broker_credentials",
        _user_id(),
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("secrets_encrypted", sa.Text(), nullable=False),
        _id(),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_broker_credentials_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broker_credentials")),
        sa.UniqueConstraint("user_id", "broker", name=op.f("uq_broker_credentials_user_id_broker")),
    )

    op.create_table(
        "broker_sessions",
        _user_id(),
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("auth_token_encrypted", sa.Text(), nullable=False),
        sa.Column("feed_token_encrypted", sa.Text(), nullable=True),
        sa.Column("broker_user_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        _id(),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_broker_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broker_sessions")),
        sa.UniqueConstraint("user_id", "broker", name=op.f("uq_broker_sessions_user_id_broker")),
    )

    op.create_table(
        "security_events",
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        _user_id(nullable=True),
        sa.Column("username", sa.String(length=80), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        _id(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_security_events_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index(
        op.f("ix_security_events_created_at"), "security_events", ["created_at"], unique=False
    )
    op.create_index(op.f("ix_security_events_event"), "security_events", ["event"], unique=False)
    op.create_index(
        op.f("ix_security_events_user_id"), "security_events", ["user_id"], unique=False
    )

    op.create_table(
        "user_settings",
        _user_id(primary=True),
        sa.Column("broker", sa.String(length=32), server_default="simulator", nullable=False),
        sa.Column("analyzer_mode", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_settings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_settings")),
    )

    op.create_table(
        "web_sessions",
        _user_id(),
        sa.Column("session_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        _id(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index(
        op.f("ix_web_sessions_session_digest"), "web_sessions", ["session_digest"], unique=True
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("totp_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled")
        batch_op.drop_column("totp_secret_encrypted")
    op.drop_table("web_sessions")
    op.drop_table("user_settings")
    op.drop_table("security_events")
    op.drop_table("broker_sessions")
    op.drop_table("broker_credentials")
    op.drop_table("api_keys")
    op.drop_table("ip_bans")
    op.drop_table("change_counters")

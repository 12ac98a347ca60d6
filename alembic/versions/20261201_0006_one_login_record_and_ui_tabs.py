"""one login record owns the cookie session and the token family; tabs bound to sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:40:00

- `auth_sessions.channel`: "web" or "api" (the sessions list shows API logins too).
- `refresh_tokens.session_id`: the login that owns a refresh-token family. Revoking either
  revokes both. Families issued before this revision have none and keep working until they
  expire or are revoked.
- `ui_tabs`: which browser tab's server-side UI state was filled under which session, so the
  state is reset at once when that session ends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "channel",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="web",
            )
        )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_refresh_tokens_session_id"), ["session_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_refresh_tokens_session_id",
            "auth_sessions",
            ["session_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_table(
        "ui_tabs",
        sa.Column("client_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("bound_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["auth_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_token"),
    )
    with op.batch_alter_table("ui_tabs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ui_tabs_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ui_tabs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ui_tabs_session_id"))
    op.drop_table("ui_tabs")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_refresh_tokens_session_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_id"))
        batch_op.drop_column("session_id")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("channel")

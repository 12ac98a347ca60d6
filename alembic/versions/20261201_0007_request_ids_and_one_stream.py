"""request ids unique per sender; one streaming answer per conversation

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:10:00

The database, not a check-then-insert, now keeps two promises of a chat turn:

- `messages.user_id`: who sent a message that carries a request id (set together with it), and
  the unique index `ux_messages_user_request (user_id, request_id)`: a retried request adds no
  second message, however many arrive at once. It replaces `ix_messages_request_id`.
- `ux_messages_one_streaming`: a partial unique index on `conversation_id` over the rows whose
  status is `streaming`: a conversation writes one answer at a time.

Existing data is cleaned first: in a conversation with several `streaming` answers all but the
newest become `interrupted`; a request id used twice by one user keeps its first message, the
later ones lose the id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STREAMING_ONLY = sa.text("status = 'streaming'")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_messages_user_id", "users", ["user_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.drop_index("ix_messages_request_id")

    # Several answers streaming in one conversation (a race before this revision): keep the
    # newest, the others were cut off.
    op.execute(
        "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming' AND id NOT IN "
        "(SELECT MAX(id) FROM messages WHERE status = 'streaming' GROUP BY conversation_id)"
    )
    # Request ids belong to the user who sent them: until now, the conversation's owner.
    op.execute(
        "UPDATE messages SET user_id = (SELECT owner_id FROM conversations "
        "WHERE conversations.id = messages.conversation_id) WHERE request_id IS NOT NULL"
    )
    # A request id used twice by one user: the first message keeps it.
    op.execute(
        "UPDATE messages SET request_id = NULL, user_id = NULL WHERE request_id IS NOT NULL "
        "AND id NOT IN (SELECT MIN(id) FROM messages WHERE request_id IS NOT NULL "
        "GROUP BY user_id, request_id)"
    )

    op.create_index("ux_messages_user_request", "messages", ["user_id", "request_id"], unique=True)
    op.create_index(
        "ux_messages_one_streaming",
        "messages",
        ["conversation_id"],
        unique=True,
        sqlite_where=STREAMING_ONLY,
        postgresql_where=STREAMING_ONLY,
    )


def downgrade() -> None:
    op.drop_index("ux_messages_one_streaming", table_name="messages")
    op.drop_index("ux_messages_user_request", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_request_id", ["request_id"], unique=False)
        batch_op.drop_constraint("fk_messages_user_id", type_="foreignkey")
        batch_op.drop_column("user_id")

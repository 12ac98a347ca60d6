"""trigram indexes for conversation search (PostgreSQL only)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 19:10:00

`ILIKE '%term%'` cannot use a b-tree index; pg_trgm GIN indexes make the sidebar search fast
for users with thousands of conversations. SQLite installs are small and skip this.
Models do not declare these indexes (they are PostgreSQL-specific); alembic/env.py keeps
autogenerate from reporting them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGRAM_INDEXES = {
    "ix_trgm_messages_content": ("messages", "content"),
    "ix_trgm_conversations_title": ("conversations", "title"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in TRIGRAM_INDEXES.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")

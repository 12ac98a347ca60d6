"""audit trail: append-only rows in a hash chain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:30:00

- `audit_events.prev_hash`, `row_hash`: the hash chain (energyapp/services/audit.py). The rows
  already stored are chained here, in id order.
- Triggers refuse UPDATE and DELETE on `audit_events` (PostgreSQL: the plpgsql function
  `audit_events_append_only`; SQLite: `audit_events_no_update` / `audit_events_no_delete`).
  On PostgreSQL every role but the table's owner (the one running migrations) also loses
  UPDATE, DELETE and TRUNCATE on it; TRUNCATE fires no row trigger, so privileges are what
  stop it (docs/deployment.md: the application's role owns no table). The downgrade gives
  none of them back.
- The foreign key `actor_id → users.id ON DELETE SET NULL` is dropped: setting the actor to
  NULL is an UPDATE the trigger refuses, and it would change a hashed value. A deleted user's
  id stays in the rows it wrote, as `target_id` always did.

A later migration that rebuilds `audit_events` on SQLite (a batch "move and copy") drops its
triggers with the old table: it must create them again (`_create_triggers`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HASH = sqlmodel.sql.sqltypes.AutoString(length=64)
_SQLITE_FK_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


# Whoever runs the migrations owns the table; every other role keeps SELECT and INSERT only
# (the application's role, which may have got more through default privileges).
_PG_REVOKE_FROM_OTHERS = """
DO $$
DECLARE
    who text;
BEGIN
    FOR who IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_schema = current_schema() AND table_name = 'audit_events'
          AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
          AND grantee <> (SELECT tableowner FROM pg_tables
                          WHERE schemaname = current_schema() AND tablename = 'audit_events')
    LOOP
        IF who = 'PUBLIC' THEN
            REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;
        ELSE
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM %I', who);
        END IF;
    END LOOP;
END
$$
"""


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def _create_triggers() -> None:
    if _sqlite():
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{operation.lower()} BEFORE {operation} "
                "ON audit_events BEGIN SELECT RAISE(ABORT, "
                f"'audit_events is append-only: {operation} refused'); END"
            )
        return
    op.execute(_PG_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    )
    op.execute(_PG_REVOKE_FROM_OTHERS)


def _drop_triggers() -> None:
    if _sqlite():
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")


def _chain_existing_rows() -> None:
    from energyapp.services.audit import GENESIS, chain_hash

    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("actor_id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("target_type", sa.String),
        sa.column("target_id", sa.String),
        sa.column("details", sa.Text),
        sa.column("ip", sa.String),
        sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("prev_hash", sa.String),
        sa.column("row_hash", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(events).order_by(events.c.id)).all()
    values, prev_hash = [], GENESIS
    for row in rows:
        row_hash = chain_hash(prev_hash, row)
        values.append({"row_id": row.id, "prev": prev_hash, "hash": row_hash})
        prev_hash = row_hash
    if values:
        connection.execute(
            sa.update(events)
            .where(events.c.id == sa.bindparam("row_id"))
            .values(prev_hash=sa.bindparam("prev"), row_hash=sa.bindparam("hash")),
            values,
        )


def upgrade() -> None:
    if _sqlite():
        # The foreign key is unnamed on SQLite: the naming convention lets batch mode find it.
        with op.batch_alter_table("audit_events", naming_convention=_SQLITE_FK_NAMES) as batch:
            batch.drop_constraint("fk_audit_events_actor_id_users", type_="foreignkey")
            batch.add_column(sa.Column("prev_hash", _HASH, nullable=True))
            batch.add_column(sa.Column("row_hash", _HASH, nullable=True))
    else:
        op.drop_constraint("audit_events_actor_id_fkey", "audit_events", type_="foreignkey")
        op.add_column("audit_events", sa.Column("prev_hash", _HASH, nullable=True))
        op.add_column("audit_events", sa.Column("row_hash", _HASH, nullable=True))
    _chain_existing_rows()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("prev_hash", existing_type=_HASH, nullable=False)
        batch.alter_column("row_hash", existing_type=_HASH, nullable=False)
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    # Rows of users deleted since the upgrade would break the foreign key restored below.
    op.execute(
        "UPDATE audit_events SET actor_id = NULL WHERE actor_id IS NOT NULL AND "
        "actor_id NOT IN (SELECT id FROM users)"
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
        if _sqlite():
            batch.create_foreign_key(
                "fk_audit_events_actor_id_users", "users", ["actor_id"], ["id"], ondelete="SET NULL"
            )
    if not _sqlite():
        op.create_foreign_key(
            "audit_events_actor_id_fkey",
            "audit_events",
            "users",
            ["actor_id"],
            ["id"],
            ondelete="SET NULL",
        )

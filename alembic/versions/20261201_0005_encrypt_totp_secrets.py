"""encrypt totp secrets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00

`users.totp_secret` widens to 255 characters and every stored secret is encrypted with the key
derived from the current `secret_key` (energyapp.db.encrypted); the downgrade decrypts them back
(with the current or a previous key) and refuses if one cannot be opened.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_users = sa.table("users", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))


def _secrets(connection: sa.Connection) -> list[tuple[int, str]]:
    rows = connection.execute(
        sa.select(_users.c.id, _users.c.totp_secret).where(_users.c.totp_secret.is_not(None))
    ).all()
    return [(row.id, row.totp_secret) for row in rows]


def _write(connection: sa.Connection, values: list[tuple[int, str]]) -> None:
    for user_id, value in values:
        connection.execute(
            sa.update(_users).where(_users.c.id == user_id).values(totp_secret=value)
        )


def _alter(type_: sa.types.TypeEngine, existing: sa.types.TypeEngine) -> None:
    if op.get_context().dialect.name == "sqlite":
        # SQLite ignores VARCHAR lengths; only the declared type changes. A batch "move and
        # copy" would DROP `users`, and with foreign keys on that deletes every conversation,
        # session and token through ON DELETE CASCADE (the PRAGMA cannot be turned off inside
        # the migration's transaction).
        _sqlite_declared_type("users", "totp_secret", existing, type_)
        return
    op.alter_column(
        "users", "totp_secret", type_=type_, existing_type=existing, existing_nullable=True
    )


def _sqlite_declared_type(
    table: str, column: str, old: sa.types.TypeEngine, new: sa.types.TypeEngine
) -> None:
    """Rewrite one column's declared type in sqlite_schema (SQLite's documented procedure for
    schema changes that leave the stored data as it is; both types have TEXT affinity)."""
    connection = op.get_bind()
    dialect = connection.dialect
    before = f"{column} {old.compile(dialect=dialect)}"
    after = f"{column} {new.compile(dialect=dialect)}"
    sql = connection.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": table},
    ).scalar_one()
    if sql.count(before) != 1:
        raise RuntimeError(f"{table}.{column}: expected '{before}' once in {sql!r}")
    version = connection.execute(sa.text("PRAGMA schema_version")).scalar_one()
    connection.execute(sa.text("PRAGMA writable_schema = ON"))
    connection.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :name"),
        {"sql": sql.replace(before, after), "name": table},
    )
    connection.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    connection.execute(sa.text("PRAGMA writable_schema = OFF"))
    if connection.execute(sa.text("PRAGMA integrity_check")).scalar_one() != "ok":
        raise RuntimeError(f"{table}: integrity check failed after changing {column}'s type")


def upgrade() -> None:
    _alter(sa.String(length=255), sqlmodel.sql.sqltypes.AutoString(length=64))
    connection = op.get_bind()
    rows = _secrets(connection)
    if not rows:
        return  # no settings needed (a fresh database, the test template)
    from energyapp.db.encrypted import InvalidToken, decrypt, encrypt

    values = []
    for user_id, value in rows:
        try:
            decrypt(value)  # already encrypted (a value written by this version's code)
        except InvalidToken:
            values.append((user_id, encrypt(value)))
    _write(connection, values)


def downgrade() -> None:
    connection = op.get_bind()
    rows = _secrets(connection)
    if rows:
        from energyapp.db.encrypted import InvalidToken, decrypt

        values, failed = [], 0
        for user_id, value in rows:
            try:
                values.append((user_id, decrypt(value)))
            except InvalidToken:
                failed += 1
        if failed:
            raise RuntimeError(
                f"{failed} TOTP secret(s) cannot be decrypted with secret_key or "
                "previous_secret_keys; set the key they were encrypted with and retry"
            )
        _write(connection, values)
    _alter(sqlmodel.sql.sqltypes.AutoString(length=64), sa.String(length=255))

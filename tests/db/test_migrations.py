"""Alembic migrations build the schema the SQLModel tables describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import energyapp.db.models  # noqa: F401 - registers the tables
from alembic import command
from energyapp.db.migrate import alembic_config, include_object

EXPECTED_TABLES = {
    "users",
    "conversations",
    "messages",
    "auth_sessions",
    "refresh_tokens",
    "audit_events",
}


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_schema_has_every_table_and_the_list_indexes(db_url: str) -> None:
    engine = create_engine(db_url)
    inspector = inspect(engine)
    assert EXPECTED_TABLES <= set(inspector.get_table_names())
    index_names = {ix["name"] for ix in inspector.get_indexes("conversations")}
    assert "ix_conversations_owner_updated" in index_names
    user_indexes = {ix["name"]: ix for ix in inspector.get_indexes("users")}
    assert user_indexes["ix_users_email"]["unique"]
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    config = alembic_config(db_url)
    command.downgrade(config, "base")
    engine = create_engine(db_url)
    assert not EXPECTED_TABLES & set(inspect(engine).get_table_names())
    command.upgrade(config, "head")
    assert EXPECTED_TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.parametrize("email", ["Ana@Empresa.cl", "ana@empresa.cl"])
def test_emails_are_unique_case_insensitively(app_env: dict, email: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from energyapp.db.engine import session_scope
    from energyapp.services.users import create_user

    with session_scope() as session:
        create_user(session, email="ana@empresa.cl", name="Ana", password="secreto123")
    with pytest.raises(IntegrityError), session_scope() as session:
        create_user(session, email=email, name="Ana 2", password="secreto123")


def test_postgresql_gets_trigram_search_indexes(db_url: str) -> None:
    engine = create_engine(db_url)
    names = {ix["name"] for ix in inspect(engine).get_indexes("messages")}
    engine.dispose()
    assert ("ix_trgm_messages_content" in names) == db_url.startswith("postgresql")

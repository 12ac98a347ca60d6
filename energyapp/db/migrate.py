"""Run Alembic migrations from code (the CLI, `make run` and tests use this)."""

from __future__ import annotations

from alembic.config import Config

from alembic import command
from energyapp.settings import PROJECT_DIR, get_settings


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    """Autogenerate filter: PostgreSQL-only trigram indexes (migration 0004) are not declared on
    the models."""
    return not (type_ == "index" and name and name.startswith("ix_trgm_"))


def alembic_config(db_url: str | None = None) -> Config:
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_DIR / "alembic"))
    if db_url:
        config.attributes["db_url"] = db_url
    return config


def migration_db_url() -> str:
    """`migrate_db_url` (a role that owns the tables) when set, else `db_url`."""
    settings = get_settings()
    return settings.migrate_db_url or settings.db_url


def upgrade_to_head(db_url: str | None = None) -> None:
    """Migrate `db_url`, or by default the database of `migration_db_url()`."""
    command.upgrade(alembic_config(db_url or migration_db_url()), "head")

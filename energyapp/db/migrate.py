"""Run Alembic migrations from code (the CLI, `make run` and tests use this)."""

from __future__ import annotations

from alembic.config import Config

from alembic import command
from energyapp.settings import PROJECT_DIR


def alembic_config(db_url: str | None = None) -> Config:
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_DIR / "alembic"))
    if db_url:
        config.attributes["db_url"] = db_url
    return config


def upgrade_to_head(db_url: str | None = None) -> None:
    command.upgrade(alembic_config(db_url), "head")

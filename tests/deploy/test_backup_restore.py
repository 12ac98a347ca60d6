"""deploy/backup.sh and deploy/restore.sh: a backup restored into a fresh database has the data."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, needs

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = needs("postgresql")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


def test_backup_then_restore_into_a_fresh_database(
    app_env, make_user, tmp_path, monkeypatch, request
) -> None:
    from energyapp.settings import get_settings

    if not get_settings().db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL run only")
    user = make_user("respaldo@empresa.cl", name="Persona Respaldada")
    from energyapp.services.chat import start_turn

    start_turn(user.id, None, "Mensaje que debe sobrevivir", "qwen2.5:3b-instruct")
    source = _plain(get_settings().db_url)
    env = {**os.environ, "ENERGYAPP_DB_URL": source}
    backup = subprocess.run(
        [str(PROJECT / "deploy" / "backup.sh"), str(tmp_path / "backups")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(backup).stat().st_size > 1000 and oct(Path(backup).stat().st_mode)[-3:] == "600"

    name = f"energyapp_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    target = make_url(source).set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run(
            [str(PROJECT / "deploy" / "restore.sh"), backup],
            check=True,
            env={**os.environ, "ENERGYAPP_DB_URL": target},
            capture_output=True,
        )
        engine = create_engine(target.replace("postgresql://", "postgresql+psycopg2://"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM users")).scalars().all() == [
                "Persona Respaldada"
            ]
            assert (
                conn.execute(text("SELECT content FROM messages WHERE role='user'")).scalar()
                == "Mensaje que debe sobrevivir"
            )
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_backup_refuses_sqlite(tmp_path) -> None:
    result = subprocess.run(
        [str(PROJECT / "deploy" / "backup.sh"), str(tmp_path)],
        env={**os.environ, "ENERGYAPP_DB_URL": "sqlite:///x.db"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "only PostgreSQL" in result.stderr

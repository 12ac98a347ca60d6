"""Migration 0008: rows written before it are chained in id order, the triggers and the dropped
foreign key come and go with upgrade and downgrade; and (PostgreSQL) the two roles of
docs/deployment.md: the app's role cannot rewrite the trail, the owner runs the migrations."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, ProgrammingError

from alembic import command
from energyapp.db.migrate import alembic_config
from tests.conftest import PG_URL, apply_env, needs

BEFORE = "0007"
DOCS = Path(__file__).parents[2] / "docs" / "deployment.md"


def _insert_old_rows(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (email, name, password_hash, role, is_active, is_demo, "
                "totp_enabled, created_at) VALUES ('ana@empresa.cl', 'Ana', 'x', 'admin', true, "
                "false, false, '2026-11-30 09:00:00.123456+00')"
            )
        )
        user_id = connection.execute(text("SELECT id FROM users")).scalar_one()
        for action, details in (
            ("login", None),
            ("role_changed", '{"new": "admin", "ñ": 1}'),
            ("logout", None),
        ):
            connection.execute(
                text(
                    "INSERT INTO audit_events (actor_id, action, target_type, target_id, details, "
                    "ip, created_at) VALUES (:actor, :action, 'user', :target, :details, "
                    "'10.0.0.1', '2026-11-30 10:00:00.654321+00')"
                ),
                {"actor": user_id, "action": action, "target": str(user_id), "details": details},
            )
    engine.dispose()


def _foreign_keys(url: str) -> list:
    engine = create_engine(url)
    keys = inspect(engine).get_foreign_keys("audit_events")
    engine.dispose()
    return keys


def test_upgrade_chains_the_rows_already_there_and_downgrade_undoes_it(
    db_url: str, settings_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from energyapp.db.engine import get_engine, reset_engine, session_scope
    from energyapp.services import audit

    config = alembic_config(db_url)
    command.downgrade(config, BEFORE)
    try:
        assert _foreign_keys(db_url)  # actor_id → users.id before 0008
        _insert_old_rows(db_url)
        command.upgrade(config, "head")
        assert _foreign_keys(db_url) == []

        apply_env(monkeypatch, db_url=db_url)
        with session_scope() as session:
            audit.record(session, "after_the_migration")
        with session_scope() as session:
            report = audit.verify_chain(session)
        assert report.intact and report.rows == 4, report
        with pytest.raises(DatabaseError, match="append-only"), get_engine().begin() as connection:
            connection.execute(text("UPDATE audit_events SET ip = NULL"))
        with get_engine().begin() as connection:  # deleting the actor leaves its rows alone
            connection.execute(text("DELETE FROM users"))
        with session_scope() as session:
            assert audit.verify_chain(session).rows == 4
        reset_engine()

        command.downgrade(config, BEFORE)
        assert _foreign_keys(db_url)
        engine = create_engine(db_url)
        with engine.begin() as connection:  # updatable again; the deleted actor became NULL
            connection.execute(text("UPDATE audit_events SET ip = NULL"))
            assert (
                connection.execute(
                    text("SELECT COUNT(*) FROM audit_events WHERE actor_id IS NOT NULL")
                ).scalar_one()
                == 0
            )
            connection.execute(text("DELETE FROM audit_events"))
        engine.dispose()
    finally:
        reset_engine()
        command.upgrade(config, "head")  # the PostgreSQL database is shared by the session


# --- PostgreSQL: an owner role migrates, the app's role cannot rewrite the trail ---------------
def _docs_sql() -> list[str]:
    """The statements of the first psql script in docs/deployment.md, section 3."""
    section = DOCS.read_text().split("## 3. PostgreSQL", 1)[1]
    script = re.search(r"<<'SQL'\n(.*?)\nSQL\n", section, re.S).group(1)
    lines = [line for line in script.splitlines() if not line.startswith("--")]
    statements, current = [], []
    for line in lines:
        if line.startswith("\\connect"):
            statements.append(line)
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append(" ".join(current))
            current = []
    return statements


@needs("postgresql")
def test_the_documented_roles(
    settings_env: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    suffix = uuid.uuid4().hex[:8]
    owner, app, database = f"ea_owner_{suffix}", f"ea_app_{suffix}", f"ea_roles_{suffix}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    base = make_url(PG_URL)

    def url(role: str, db: str) -> str:
        return base.set(username=role, password=None, database=db).render_as_string(
            hide_password=False
        )

    def rename(statement: str) -> str:
        statement = re.sub(r"\benergyapp_owner\b", owner, statement)
        statement = re.sub(r"\benergyapp\b(?!_)", app, statement)
        return statement.replace(f"DATABASE {app} ", f"DATABASE {database} ").replace(
            f"\\connect {app}", f"\\connect {database}"
        )

    connection = admin.connect()
    try:
        for statement in map(rename, _docs_sql()):
            if statement.startswith("\\connect"):
                connection.close()
                connection = create_engine(
                    url(base.username, database), isolation_level="AUTOCOMMIT"
                ).connect()
            else:
                connection.execute(text(statement))
        connection.close()

        from energyapp.__main__ import main

        apply_env(monkeypatch, db_url=url(app, database), migrate_db_url=url(owner, database))
        assert main(["migrate"]) == 0
        monkeypatch.setenv("PW", "una-clave-larga-9")
        assert main(["create-admin", "jefa@empresa.cl", "--password-env", "PW"]) == 0
        capsys.readouterr()
        assert main(["verify-audit"]) == 0
        assert "1 row(s)" in capsys.readouterr().out

        as_app = create_engine(url(app, database))
        for statement in (
            "UPDATE audit_events SET ip = NULL",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
            "CREATE TABLE mine (id int)",
            "DROP TRIGGER audit_events_append_only ON audit_events",
        ):
            with pytest.raises(ProgrammingError), as_app.begin() as c:
                c.execute(text(statement))
        with as_app.begin() as c:  # rows of other tables: the app's to change
            c.execute(text("UPDATE users SET name = 'Jefa'"))
        as_app.dispose()
        as_owner = create_engine(url(owner, database))
        with pytest.raises(DatabaseError, match="append-only"), as_owner.begin() as c:
            c.execute(text("DELETE FROM audit_events"))
        as_owner.dispose()
    finally:
        from energyapp.db.engine import reset_engine

        reset_engine()
        connection.close()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            for role in (app, owner):
                c.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_migrate_uses_migrate_db_url(
    settings_env: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from energyapp.__main__ import main

    app_db, owner_db = tmp_path / "app.db", tmp_path / "owner.db"
    apply_env(monkeypatch, db_url=f"sqlite:///{app_db}", migrate_db_url=f"sqlite:///{owner_db}")
    assert main(["migrate"]) == 0
    assert "audit_events" in inspect(create_engine(f"sqlite:///{owner_db}")).get_table_names()
    assert not app_db.exists()

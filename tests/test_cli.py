"""`python -m energyapp`: operator commands with clear errors and exit codes."""

from __future__ import annotations

import pytest
from sqlmodel import select

from energyapp.__main__ import main
from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, User
from tests.conftest import api_login, apply_env


@pytest.fixture
def run(app_env, capsys, monkeypatch):
    monkeypatch.setenv("NEW_PASSWORD", "clave-nueva-123")

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_create_admin_then_it_can_log_in(run, api) -> None:
    code, out, _ = run(
        "create-admin", "Jefa@Empresa.cl", "--name", "Jefa", "--password-env", "NEW_PASSWORD"
    )
    assert code == 0 and "jefa@empresa.cl created" in out
    assert api_login(api, "jefa@empresa.cl", "clave-nueva-123").json()["user"]["role"] == "admin"
    code, _, err = run("create-admin", "jefa@empresa.cl", "--password-env", "NEW_PASSWORD")
    assert code == 1 and err == "error: a user with email jefa@empresa.cl already exists\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("create-admin", "no-es-correo", "--password-env", "NEW_PASSWORD"), "not a valid email"),
        (("create-admin", "a@b.cl", "--password-env", "UNSET_VAR"), "UNSET_VAR is empty"),
        (("reset-password", "nadie@b.cl", "--password-env", "NEW_PASSWORD"), "no user with email"),
        (("deactivate", "nadie@b.cl"), "no user with email"),
    ],
)
def test_failures_are_one_clear_line_with_exit_1(run, argv, message) -> None:
    code, _, err = run(*argv)
    assert code == 1 and message in err and len(err.splitlines()) == 1


def test_weak_password_is_refused(run, monkeypatch) -> None:
    monkeypatch.setenv("NEW_PASSWORD", "corta")
    code, _, err = run("create-admin", "a@b.cl", "--password-env", "NEW_PASSWORD")
    assert code == 1 and "al menos 8" in err


def test_reset_password_reset_2fa_revoke_and_deactivate(run, api, make_user) -> None:
    make_user("ana@empresa.cl", totp=True)
    make_user("jefa@empresa.cl", role="admin")
    assert run("reset-password", "ana@empresa.cl", "--password-env", "NEW_PASSWORD")[0] == 0
    assert run("reset-2fa", "ana@empresa.cl")[0] == 0
    assert api_login(api, "ana@empresa.cl", "clave-nueva-123").status_code == 200
    code, out, _ = run("revoke-sessions", "ana@empresa.cl")
    assert code == 0 and "1 session(s)" in out
    assert api.get("/api/auth/me").status_code == 401
    assert run("deactivate", "ana@empresa.cl")[0] == 0
    assert api_login(api, "ana@empresa.cl", "clave-nueva-123").status_code == 401
    code, _, err = run("deactivate", "jefa@empresa.cl")
    assert code == 1 and "last active admin" in err
    with session_scope() as db:
        actions = {e.action for e in db.exec(select(AuditEvent))}
        assert not db.exec(select(User).where(User.email == "ana@empresa.cl")).one().is_active
    assert {
        "password_reset_by_cli",
        "totp_reset_by_cli",
        "sessions_revoked_by_cli",
        "user_deactivated_by_cli",
    } <= actions


def test_list_users(run, make_user) -> None:
    make_user("ana@empresa.cl")
    make_user("jefa@empresa.cl", role="admin")
    code, out, _ = run("list-users", "--role", "admin")
    assert code == 0 and "jefa@empresa.cl" in out and "ana@empresa.cl" not in out


def test_check_config_and_ollama(run, standin, monkeypatch) -> None:
    code, out, _ = run("check-config")
    assert code == 0 and out.startswith("OK: env=development")
    assert run("check-ollama")[0] == 0
    apply_env(monkeypatch, ollama_url="http://127.0.0.1:9")
    code, _, err = run("check-ollama")
    assert code == 1 and "NOT ready" in err


def test_database_down_is_one_line(run, monkeypatch) -> None:
    apply_env(monkeypatch, db_url="postgresql://nobody@127.0.0.1:1/none")
    code, _, err = run("list-users")
    assert code == 1 and err.startswith("error: OperationalError") and len(err.splitlines()) == 1


def test_bad_usage_exits_2(run) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2


def test_reencrypt_secrets_rewrites_each_stored_secret(run, make_user) -> None:
    from sqlalchemy import text

    make_user("ana@empresa.cl", totp=True)
    make_user("luis@empresa.cl", totp=True)
    make_user("sin2fa@empresa.cl")
    with session_scope() as db:
        before = db.execute(text("SELECT totp_secret FROM users ORDER BY id")).scalars().all()
        plain = db.exec(select(User.totp_secret).order_by(User.id)).all()
    code, out, _ = run("reencrypt-secrets")
    assert (code, out) == (0, "2 TOTP secret(s) re-encrypted with the current secret_key.\n")
    with session_scope() as db:
        after = db.execute(text("SELECT totp_secret FROM users ORDER BY id")).scalars().all()
        assert db.exec(select(User.totp_secret).order_by(User.id)).all() == plain
    assert after[2] is None and not set(after[:2]) & set(before[:2])


def test_commands_create_private_files(run) -> None:
    import os

    previous = os.umask(0o022)
    try:
        assert run("check-config")[0] == 0
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(previous)

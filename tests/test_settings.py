"""Settings: YAML, then .env, then ENERGYAPP_* variables; bad values stop start-up in one line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from energyapp.settings import SAMPLE_SECRET, SettingsError, load_settings

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty YAML file, no ENERGYAPP_* variables, and tmp_path as working directory."""
    for key in list(os.environ):
        if key.startswith("ENERGYAPP_"):
            monkeypatch.delenv(key)
    config = tmp_path / "settings.yaml"
    config.write_text("")
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(config))
    monkeypatch.setenv("ENERGYAPP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return config


def test_defaults_are_sqlite_under_data_and_local_ollama(isolated: Path, tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.db_url == f"sqlite:///{tmp_path / 'data' / 'energyapp.db'}"
    assert str(settings.ollama_url) == "http://localhost:11434/"
    assert settings.ollama_model == "qwen2.5:3b-instruct"
    assert settings.password_change_domains == ["inacapmail.cl"]
    assert settings.totp_autosetup_domains == ["inacapmail.cl"]
    assert settings.allowed_origins == ["http://localhost:8000"]


def test_env_beats_dotenv_beats_yaml(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolated.write_text("ollama_model: from-yaml\nmax_message_chars: 100\nport: 8100\n")
    Path(".env").write_text("ENERGYAPP_OLLAMA_MODEL=from-dotenv\nENERGYAPP_PORT=8200\nOTHER=1\n")
    monkeypatch.setenv("ENERGYAPP_OLLAMA_MODEL", "from-env")
    settings = load_settings()
    assert settings.ollama_model == "from-env"
    assert settings.port == 8200
    assert settings.max_message_chars == 100


def test_lists_accept_commas_from_the_environment(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENERGYAPP_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("ENERGYAPP_PASSWORD_CHANGE_DOMAINS", "@Empresa.CL,otra.cl")
    settings = load_settings()
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.password_change_domains == ["empresa.cl", "otra.cl"]


def test_demo_accounts_come_from_yaml(isolated: Path) -> None:
    isolated.write_text(
        "demo_accounts:\n  - {email: a@b.cl, password: x12345678, name: A, role: supervisor}\n"
    )
    (account,) = load_settings().demo_accounts
    assert (account.email, account.role.value) == ("a@b.cl", "supervisor")


@pytest.mark.parametrize(
    ("yaml_text", "env", "named"),
    [
        ("ollama_url: not a url\n", {}, "ollama_url"),
        ("", {"ENERGYAPP_OLLAMA_URL": "ftp//x"}, "ollama_url"),
        ("port: many\n", {}, "port"),
        ("unknown_thing: 1\n", {}, "unknown_thing"),
        ("max_message_chars: [1\n", {}, "malformed YAML"),
        ("db_url: mysql://x\n", {}, "db_url"),
        (
            "demo_accounts:\n  - {email: a@b.cl, password: x, name: A, role: jefe}\n",
            {},
            "demo_accounts",
        ),
    ],
)
def test_bad_setting_raises_one_line_naming_it(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str, env: dict, named: str
) -> None:
    isolated.write_text(yaml_text)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert named in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [(None, "required"), (SAMPLE_SECRET, "sample"), ("short-secret", "at least")],
)
def test_production_refuses_a_missing_sample_or_short_secret(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, secret: str | None, complaint: str
) -> None:
    monkeypatch.setenv("ENERGYAPP_ENV", "production")
    if secret is not None:
        monkeypatch.setenv("ENERGYAPP_SECRET_KEY", secret)
    with pytest.raises(SettingsError, match=complaint):
        load_settings()


def test_production_accepts_a_real_secret(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGYAPP_ENV", "production")
    monkeypatch.setenv("ENERGYAPP_SECRET_KEY", "k" * 40)
    assert load_settings().secret() == "k" * 40


def test_development_generates_a_secret_once_in_a_private_file(
    isolated: Path, tmp_path: Path
) -> None:
    first = load_settings().secret()
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 48
    assert load_settings().secret() == first


def _run(code: list[str], env: dict[str, str], cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, *code], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "entry",
    [["-m", "energyapp", "check-config"], ["-c", "import rxconfig"]],
    ids=["cli", "reflex-config"],
)
def test_entry_points_print_one_line_and_no_traceback(tmp_path: Path, entry: list[str]) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("ollama_url: nope\n")
    result = _run(
        entry, {"ENERGYAPP_CONFIG_FILE": str(config), "ENERGYAPP_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and "ollama_url" in lines[0]


def test_reflex_config_turns_telemetry_off_in_the_file_itself(tmp_path: Path) -> None:
    result = _run(
        [
            "-c",
            "import rxconfig; c = rxconfig.config; print(c.telemetry_enabled, "
            "c.show_built_with_reflex, list(c.cors_allowed_origins))",
        ],
        {
            "ENERGYAPP_DATA_DIR": str(tmp_path),
            "REFLEX_TELEMETRY_ENABLED": "",
            "ENERGYAPP_ALLOWED_ORIGINS": "https://chat.example.cl",
        },
    )
    assert result.stdout.split() == ["False", "False", "['https://chat.example.cl']"], result.stderr


@pytest.mark.parametrize(("given", "used"), [(None, "True"), ("false", "False")])
def test_several_workers_hold_a_tabs_state_between_updates_unless_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str | None, used: str
) -> None:
    monkeypatch.delenv("REFLEX_OPLOCK_ENABLED", raising=False)
    env = {"ENERGYAPP_DATA_DIR": str(tmp_path)}
    if given is not None:
        env["REFLEX_OPLOCK_ENABLED"] = given
    result = _run(
        [
            "-c",
            "import rxconfig; from reflex_base.environment import environment; "
            "print(environment.REFLEX_OPLOCK_ENABLED.get())",
        ],
        env,
    )
    assert result.stdout.split() == [used], result.stderr

"""Shared fixtures: isolated settings, a migrated database (SQLite, and PostgreSQL when
ENERGYAPP_TEST_PG_URL is set), the stand-in Ollama, and the API under Starlette's TestClient.

A case that needs a service this machine lacks (PostgreSQL, Redis, Caddy) is skipped with a
reason starting with `SERVICE_MISSING`, never left out of the collection; with
ENERGYAPP_REQUIRE_SERVICES=1 (set by .ci/run) such a skip is an error instead.

Browser fixtures (a real app server and Chromium) live in tests/browser/conftest.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from energyapp.db.engine import reset_engine
from energyapp.db.migrate import upgrade_to_head
from energyapp.settings import normalize_db_url, reset_settings_cache
from tests.ollama_standin import StandInOllama

PG_URL = normalize_db_url(os.environ.get("ENERGYAPP_TEST_PG_URL", ""))
REDIS_URL = os.environ.get("ENERGYAPP_TEST_REDIS_URL", "")
# Always both: without ENERGYAPP_TEST_PG_URL the PostgreSQL cases show up as skipped.
BACKENDS = ["sqlite", "postgresql"]
TEST_SECRET = "test-secret-" + "x" * 40

# Test settings never read the developer's .env or data/ directory.
os.environ.setdefault("ENERGYAPP_CONFIG_FILE", str(Path(__file__).parent / "settings.test.yaml"))


# --- services a case may need: skipped with a recognisable reason when missing ---------------
SERVICE_MISSING = "service missing:"
REQUIRE_SERVICES = os.environ.get("ENERGYAPP_REQUIRE_SERVICES", "") == "1"
_SERVICE_CHECKS = {
    "postgresql": lambda: "" if PG_URL else "ENERGYAPP_TEST_PG_URL is not set",
    "redis": lambda: "" if REDIS_URL else "ENERGYAPP_TEST_REDIS_URL is not set",
    "caddy": lambda: "" if shutil.which("caddy") else "caddy is not installed",
}


def missing_services(*services: str) -> str:
    """The skip reason for the first missing service of these, or "" when all are there."""
    for service in services:
        missing = _SERVICE_CHECKS[service]()
        if missing:
            return f"{SERVICE_MISSING} {service} ({missing})"
    return ""


def needs(*services: str) -> pytest.MarkDecorator:
    """Mark: skip, with a SERVICE_MISSING reason, unless every service is available."""
    reason = missing_services(*services)
    return pytest.mark.skipif(bool(reason), reason=reason or "all services available")


def skip_unless(*services: str) -> None:
    """The same, from inside a test or fixture."""
    reason = missing_services(*services)
    if reason:
        pytest.skip(reason)


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    """With ENERGYAPP_REQUIRE_SERVICES=1 a case skipped for a missing service fails the run.
    Each phase's report is kept on the item, for fixtures that keep evidence of a failure."""
    report = yield
    if REQUIRE_SERVICES and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if SERVICE_MISSING in reason:
            report.outcome = "failed"
            reason = reason.removeprefix("Skipped: ")
            report.longrepr = f"ENERGYAPP_REQUIRE_SERVICES=1, but {reason}"
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def has_failed(item: pytest.Item) -> bool:
    """Whether the test's setup or call failed (asked from a fixture's teardown)."""
    return any(report.failed for report in item.stash.get(_REPORTS, {}).values())


# --- deprecations are errors (pyproject.toml: filterwarnings) ---------------------------------
class _LoggedDeprecations(logging.Handler):
    """Reflex reports its deprecations through its "reflex.deprecation" logger, not as a
    DeprecationWarning, so no warning filter sees them: the test that causes one fails."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


_REFLEX_DEPRECATIONS = _LoggedDeprecations()
_reflex_deprecation_logger = logging.getLogger("reflex.deprecation")
_reflex_deprecation_logger.setLevel(logging.WARNING)  # whatever Reflex's own log level
_reflex_deprecation_logger.addHandler(_REFLEX_DEPRECATIONS)


@pytest.fixture(autouse=True)
def _no_reflex_deprecation() -> Iterator[None]:
    _REFLEX_DEPRECATIONS.messages.clear()
    yield
    found, _REFLEX_DEPRECATIONS.messages[:] = list(_REFLEX_DEPRECATIONS.messages), []
    assert not found, f"Reflex deprecation (an error here): {found}"


# pytest-timeout: pyproject.toml gives every test 120 s, setup and teardown included. A browser
# test gets more, and the first one of each module much more: it also waits for its server's
# build (`make run`, up to ENERGYAPP_TEST_START_TIMEOUT on a clean machine), whose own deadline
# fails first, with the server's log.
BROWSER_TIMEOUT = 180
BROWSER_FIRST_TIMEOUT = 900


class _BrowserTimeouts:
    @pytest.hookimpl(trylast=True)  # after -m/-k deselection: the first test that really runs
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        started: set[Path] = set()
        for item in items:
            if item.get_closest_marker("browser") is None:
                continue
            first = item.path not in started
            started.add(item.path)
            if item.get_closest_marker("timeout") is None:
                seconds = BROWSER_FIRST_TIMEOUT if first else BROWSER_TIMEOUT
                item.add_marker(pytest.mark.timeout(seconds))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium against a real app server")
    config.addinivalue_line("markers", "postgres: needs ENERGYAPP_TEST_PG_URL")
    config.pluginmanager.register(_BrowserTimeouts(), "energyapp-browser-timeouts")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in this thread
    for the rest of the session, which async tests cannot share."""
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


# --- PostgreSQL: one throwaway database per test session ------------------------------------
@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    skip_unless("postgresql")
    name = f"energyapp_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    reset_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_pg(pg_database_url: str) -> str:
    upgrade_to_head(pg_database_url)
    return pg_database_url


def _truncate_all(url: str) -> None:
    from sqlmodel import SQLModel

    import energyapp.db.models  # noqa: F401

    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for one test, on each configured backend."""
    if request.param == "postgresql":
        url = request.getfixturevalue("migrated_pg")
        _truncate_all(url)
        return url
    path = tmp_path / "energyapp.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


# --- settings --------------------------------------------------------------------------------
@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Point every path setting at tmp_path; yields the env so tests can add to it."""
    env = {
        "ENERGYAPP_DATA_DIR": str(tmp_path / "data"),
        "ENERGYAPP_LOG_DIR": str(tmp_path / "logs"),
        "ENERGYAPP_SECRET_KEY": TEST_SECRET,
        "ENERGYAPP_OLLAMA_URL": "http://127.0.0.1:9",  # nothing listens: tests opt in below
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    reset_engine()
    from energyapp.auth import throttle

    throttle.reset_all()
    yield env
    reset_settings_cache()
    reset_engine()


def apply_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(f"ENERGYAPP_{key.upper()}", value)
    reset_settings_cache()
    reset_engine()


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One Chromium for the whole session (Playwright's sync API allows one instance)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def standin() -> Iterator[StandInOllama]:
    server = StandInOllama().start()
    yield server
    server.stop()


@pytest.fixture
def app_env(
    settings_env: dict[str, str],
    db_url: str,
    standin: StandInOllama,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Settings for a test of the whole server side: a migrated database and the stand-in."""
    apply_env(monkeypatch, db_url=db_url, ollama_url=standin.url)
    return settings_env


@pytest.fixture
def api(app_env: dict[str, str]):
    from fastapi.testclient import TestClient

    from energyapp.api.app import create_api
    from energyapp.logging_setup import configure_logging
    from energyapp.settings import get_settings

    configure_logging(get_settings())  # as energyapp.energyapp does at start-up
    with TestClient(create_api(), base_url="http://localhost:8000") as client:
        yield client


# --- users -----------------------------------------------------------------------------------
ORIGIN = "http://localhost:8000"


@pytest.fixture
def make_user(app_env: dict[str, str]):
    """Create a user: make_user("ana@inacapmail.cl", role="supervisor", totp=True)."""
    from energyapp.db.engine import session_scope
    from energyapp.domain.roles import Role
    from energyapp.services.users import create_user

    def factory(
        email: str,
        password: str = "clave-segura-1",
        *,
        role: str = "trabajador",
        name: str = "Usuaria de Prueba",
        totp: bool = False,
        demo: bool = False,
        active: bool = True,
    ):
        import pyotp

        with session_scope() as session:
            user = create_user(
                session, email=email, name=name, password=password, role=Role(role), is_demo=demo
            )
            user.is_active = active
            if totp:
                user.totp_secret = pyotp.random_base32()
                user.totp_enabled = True
            return user

    return factory


@pytest.fixture
def demo_users(app_env: dict[str, str]) -> None:
    from energyapp.services.seed import seed_demo_accounts
    from energyapp.settings import get_settings

    seed_demo_accounts(get_settings())


def api_login(client, email: str, password: str, **extra):
    return client.post("/api/auth/login", json={"email": email, "password": password, **extra})

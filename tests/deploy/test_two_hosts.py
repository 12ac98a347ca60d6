"""Two app hosts: two separate `reflex run --env prod` processes (each its own build folder,
port, data and log folders, as two machines would have) on the same PostgreSQL and Redis, the
same secret and public URL, behind deploy/Caddyfile with ENERGYAPP_EXTRA_UPSTREAMS.

The host streaming a tab's answer is killed (SIGKILL, no chance to save): the tab reconnects
through Caddy to the other host, shows the partial answer saved so far marked interrupted with
"Reintentar", and the draft typed in the composer is still there.

Build folders are kept between runs (under the system temp folder) so a rerun only rebuilds."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.browser.conftest import PROJECT, _free_port
from tests.conftest import PG_URL, TEST_SECRET
from tests.deploy.test_production import REDIS_URL, _login, _start, _stop, _wait
from tests.deploy.test_production import pytestmark as production_marks
from tests.ollama_standin import StandInOllama

pytestmark = production_marks
VENV = PROJECT / ".venv" / "bin"
INTERRUPTED = "La respuesta se interrumpió porque el servidor se reinició."
DRAFT = "Borrador escrito mientras respondía"


@dataclass
class Hosts:
    url: str
    ports: dict[str, int]
    servers: dict[str, subprocess.Popen]
    db_url: str
    standin: StandInOllama
    base: Path


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    base = tmp_path_factory.mktemp("two_hosts")
    name = f"energyapp_hosts_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    redis_url = REDIS_URL.rsplit("/", 1)[0] + "/6"
    subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=True, capture_output=True)
    standin = StandInOllama().start()
    https_port, http_port = _free_port(), _free_port()
    url = f"https://127.0.0.1:{https_port}"
    common = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    common.update(
        {
            "ENERGYAPP_CONFIG_FILE": str(PROJECT / "tests" / "settings.test.yaml"),
            "ENERGYAPP_ENV": "production",
            "ENERGYAPP_SECRET_KEY": TEST_SECRET,
            "ENERGYAPP_PUBLIC_URL": url,
            "ENERGYAPP_TRUSTED_PROXY_HOPS": "1",
            "ENERGYAPP_DB_URL": db_url,
            "ENERGYAPP_REDIS_URL": redis_url,
            "ENERGYAPP_OLLAMA_URL": standin.url,
            "GRANIAN_WORKERS": "1",
            # What `make run` sets: bun from the project's tools, no network probes.
            "PATH": f"{PROJECT / '.tools' / 'bun' / 'node_modules' / '.bin'}:{VENV}:"
            f"{os.environ.get('PATH', '')}",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "REFLEX_CHECK_LATEST_VERSION": "false",
        }
    )
    if "NPM_CONFIG_REGISTRY" not in common:
        registry = subprocess.run(
            ["npm", "config", "get", "registry"], capture_output=True, text=True
        ).stdout.strip()
        common["NPM_CONFIG_REGISTRY"] = registry or "https://registry.npmjs.org/"
    ports = {"a": _free_port(), "b": _free_port()}
    servers: dict[str, subprocess.Popen] = {}
    caddy = None
    try:
        # Migrate and seed once (as deploy.sh on the first host), then start both hosts.
        subprocess.run(
            [str(VENV / "python"), "-m", "energyapp", "setup"],
            cwd=PROJECT,
            env={
                **common,
                "ENERGYAPP_DATA_DIR": str(base / "setup"),
                "ENERGYAPP_LOG_DIR": str(base / "setup"),
            },
            check=True,
            capture_output=True,
            timeout=180,
        )
        for host, port in ports.items():
            env = {
                **common,
                "ENERGYAPP_PORT": str(port),
                "ENERGYAPP_DATA_DIR": str(base / host / "data"),
                "ENERGYAPP_LOG_DIR": str(base / host / "logs"),
                "REFLEX_WEB_WORKDIR": str(
                    Path(tempfile.gettempdir()) / f"energyapp-web-host-{host}"
                ),
            }
            servers[host] = _start(
                [str(VENV / "reflex"), "run", "--env", "prod"], env, base / f"server-{host}.log"
            )
        caddy_env = {
            **common,
            "XDG_DATA_HOME": str(base / "caddy"),
            "XDG_CONFIG_HOME": str(base / "caddy"),
            "ENERGYAPP_DOMAIN": f"127.0.0.1:{https_port}",
            "ENERGYAPP_UPSTREAM": f"127.0.0.1:{ports['a']}",
            "ENERGYAPP_EXTRA_UPSTREAMS": f"127.0.0.1:{ports['b']}",
            "ENERGYAPP_TLS": "tls internal",
            "CADDY_GLOBAL": f"admin off\nskip_install_trust\nhttp_port {http_port}\n"
            f"https_port {https_port}",
        }
        caddy_file = base / "Caddyfile"
        caddy_file.write_text(
            (PROJECT / "deploy" / "Caddyfile").read_text().replace("/var/log/caddy/", f"{base}/")
        )
        caddy = _start(
            ["caddy", "run", "--config", str(caddy_file), "--adapter", "caddyfile"],
            caddy_env,
            base / "caddy.log",
            cwd=base,
        )
        for host, port in ports.items():
            _wait(f"http://127.0.0.1:{port}/ping", servers[host], base / f"server-{host}.log")
        _wait(f"{url}/ping", caddy, base / "caddy.log", timeout=60)
        time.sleep(6)  # one round of Caddy's health checks sees both hosts up
        yield Hosts(url, ports, servers, db_url, standin, base)
    finally:
        if caddy is not None:
            _stop(caddy)
        for server in servers.values():
            _stop(server)
        standin.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _host_of(page, hosts: Hosts) -> str:
    """The host Caddy pinned this browser to: its cookie is HMAC-SHA256("", dial address)."""
    value = next(c["value"] for c in page.context.cookies() if c["name"] == "energyapp_upstream")
    for host, port in hosts.ports.items():
        if hmac.new(b"", f"127.0.0.1:{port}".encode(), hashlib.sha256).hexdigest() == value:
            return host
    pytest.fail(f"unknown upstream cookie {value}")


def test_killing_the_host_of_a_streaming_answer(hosts: Hosts, browser) -> None:
    hosts.standin.configure(tokens=400, tokens_per_second=10, first_token_delay=0.2)
    context = browser.new_context(
        base_url=hosts.url,
        ignore_https_errors=True,
        locale="es-CL",
        viewport={"width": 1280, "height": 800},
    )
    try:
        page = context.new_page()
        _login(page, "trabajador@alvaradomazzei.cl", "worker123")
        box = page.get_by_label("Mensaje")
        box.fill("Una respuesta muy larga, por favor")
        box.press("Enter")
        live = page.locator("#live-answer")
        expect(live).to_be_visible(timeout=20_000)
        # Long enough for a few periodic saves (every stream_save_seconds).
        page.wait_for_timeout(4_000)
        box.fill(DRAFT)
        page.wait_for_timeout(1_500)  # the draft reached the server's state
        victim = _host_of(page, hosts)
        shown = len(live.inner_text().split())
        assert shown > 5, "the answer did not stream"
        killed_at = time.monotonic()
        os.killpg(hosts.servers[victim].pid, signal.SIGKILL)
        hosts.servers[victim].wait(10)

        bubble = page.locator(".bubble-assistant").last
        expect(page.get_by_text(INTERRUPTED)).to_be_visible(timeout=60_000)
        recovered_in = time.monotonic() - killed_at
        expect(page.get_by_role("button", name="Reintentar")).to_be_visible()
        saved_words = len(bubble.inner_text().split())
        assert saved_words >= 1, "the partial answer was lost"
        expect(box).to_have_value(DRAFT)  # nothing the user typed is lost
        assert _host_of(page, hosts) != victim  # Caddy moved the browser to the other host
        print(
            f"recovered on the other host in {recovered_in:.1f} s; "
            f"{saved_words} of {shown} words shown were saved"
        )

        engine = create_engine(hosts.db_url.replace("postgresql://", "postgresql+psycopg2://"))
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM messages WHERE role='assistant' ORDER BY id DESC LIMIT 1")
            ).scalar()
        engine.dispose()
        assert status == "interrupted"
    finally:
        context.close()

"""The OpenAPI contract tells the truth (issue #18 §1): Schemathesis (`st run`, pinned in
requirements-dev.txt) runs every check over every operation of /api/openapi.json, in all four
phases (examples, coverage, fuzzing, stateful), against the real server on SQLite, and finds
nothing.

The server is the app `reflex run --env prod` serves (`energyapp.energyapp:app` on granian, one
worker) without the built frontend: Reflex's own `--backend-only` refuses to start with this
project's rxconfig (it always sets `frontend_port`), and /api needs no frontend. It gets a fresh
SQLite database, the demo accounts, the run's admin (`contrato@…`), a few
conversations (so ids in paths reach real rows), and the stand-in Ollama. Login throttling is
raised on this server only: the generated wrong passwords would otherwise lock the accounts the
run logs in with (429 stays documented and is tested in tests/api/test_logins.py).

How Schemathesis authenticates: the hooks below log in as that admin through POST
/api/auth/login, again every few seconds and after any 401 (an operation under test may have
revoked the token: logout, DELETE /api/auth/sessions…), and create a new admin when an
operation under test deactivated or demoted the current one. In the stateful phase the login's
own links carry its tokens to /me, /refresh and /logout, and a dictionary gives the login body
the worker's real credentials half of the time, so those chains run past the 401.

Nothing leaves the machine: Schemathesis 4 has no hosted service to report to, and the run's
HTTP(S) proxy is a closed local port with only the server's address exempt, so any other request
would fail the run.

This file is also the run's hooks file (SCHEMATHESIS_HOOKS): the block at the end registers the
admin's authentication and a deserializer for the chat's NDJSON stream, so its events are
validated against the document.

Tuning: ENERGYAPP_CONTRACT_EXAMPLES (examples per operation and phase, default below) and
ENERGYAPP_CONTRACT_SEED (default fixed, so CI is reproducible; `random` for a new one).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MAX_EXAMPLES = int(os.environ.get("ENERGYAPP_CONTRACT_EXAMPLES", "25"))
SEED = os.environ.get("ENERGYAPP_CONTRACT_SEED", "181")
ADMIN = ("contrato@alvaradomazzei.cl", "contrato-admin-clave-larga")
WORKER = ("trabajador@alvaradomazzei.cl", "worker123")  # a demo account (settings.test.yaml)
PHASES = ("Examples", "Coverage", "Fuzzing", "Stateful")
# Operations whose schema-valid bodies may break a rule the schema cannot state (see _config).
BUSINESS_RULES = (
    "register",
    "password",
    "totp_confirm",
    "totp_disable",
    "reassign",
    "reassign_all",
)
# Links of the document that the stateful phase must have followed.
CHAINS = (
    "POST /api/auth/login -> [200] me -> GET /api/auth/me",
    "POST /api/auth/login -> [200] refresh -> POST /api/auth/refresh",
)
# Schemathesis's default answers to valid data, plus 422.
VALID_DATA_ANSWERS = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


if __name__ != "_schemathesis_hooks":  # the pytest module (the hooks are at the end)
    import httpx
    import pytest

    from tests.conftest import TEST_SECRET

    pytestmark = [pytest.mark.timeout(600)]

    @dataclass
    class ContractServer:
        url: str
        env: dict[str, str]
        log: Path

        def tail(self, lines: int = 40) -> str:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def _free_port() -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _login(client: httpx.Client, email: str, password: str) -> str:
        response = client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def _seed_conversations(client: httpx.Client) -> None:
        """Two conversations each for the admin and the worker, through the real chat route."""
        for email, password in (ADMIN, WORKER):
            token = _login(client, email, password)
            for text in ("Hola", "¿Cuánto consume una bomba de calor?"):
                response = client.post(
                    "/api/chat",
                    json={"message": text},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text
                assert '"type": "done"' in response.text, response.text

    @pytest.fixture(scope="module")
    def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
        from tests.ollama_standin import StandInOllama

        base = tmp_path_factory.mktemp("contract")
        standin = StandInOllama().start()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
        env.update(
            {
                "ENERGYAPP_CONFIG_FILE": str(PROJECT / "tests" / "settings.test.yaml"),
                "ENERGYAPP_PUBLIC_URL": url,
                "ENERGYAPP_PORT": str(port),
                "ENERGYAPP_DB_URL": f"sqlite:///{base / 'energyapp.db'}",
                "ENERGYAPP_DATA_DIR": str(base / "data"),
                "ENERGYAPP_LOG_DIR": str(base / "logs"),
                "ENERGYAPP_SECRET_KEY": TEST_SECRET,
                "ENERGYAPP_OLLAMA_URL": standin.url,
                "ENERGYAPP_LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000000",
                "ENERGYAPP_LOGIN_MAX_FAILURES_PER_IP": "1000000",
                "ENERGYAPP_TOTP_MAX_FAILURES": "1000000",
                "ENERGYAPP_REGISTER_MAX_PER_IP": "1000000",
                "ENERGYAPP_CONTRACT_PASSWORD": ADMIN[1],
                # What `reflex run --env prod` sets for its backend, without a frontend build.
                "REFLEX_ENV_MODE": "prod",
                "__REFLEX_SKIP_COMPILE": "true",
                "REFLEX_WEB_WORKDIR": str(base / "web"),
                "REFLEX_TELEMETRY_ENABLED": "false",
                "REFLEX_CHECK_LATEST_VERSION": "false",
            }
        )
        python = sys.executable
        for command in (
            [python, "-m", "energyapp", "setup"],
            [
                python,
                "-m",
                "energyapp",
                "create-admin",
                ADMIN[0],
                "--name",
                "Contrato",
                "--password-env",
                "ENERGYAPP_CONTRACT_PASSWORD",
            ],
        ):
            done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        log = base / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [
                    str(VENV_BIN / "granian"),
                    "--interface",
                    "asgi",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                    "energyapp.energyapp:app",
                ],
                cwd=PROJECT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ContractServer(url=url, env=env, log=log)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the server exited with {process.returncode}:\n{server.tail()}")
                try:
                    if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer /ping:\n{server.tail()}")
                time.sleep(0.3)
            with httpx.Client(base_url=url, timeout=30) as client:
                _seed_conversations(client)
            yield server
        finally:
            _stop(process)
            standin.stop()

    def test_the_document_states_every_code_the_model_layer_can_answer() -> None:
        """The chat's model failures reach clients as 400 codes and as `error` events: both
        lists in the document are the model layer's own."""
        from energyapp.api import contract
        from energyapp.llm.chat import LLMFailure

        failures = {failure.value for failure in LLMFailure}
        assert contract.STATUS_CODES[400] == failures
        event_codes = contract._codes_of(contract.ErrorEvent)
        assert event_codes == failures | {"database_unavailable", "internal_error"}
        assert set().union(*contract.STATUS_CODES.values()) == set(contract.CODES)

    def _config(url: str) -> str:
        """schemathesis.toml for the run. Every check and every phase is on (their defaults);
        `[[operations]]` only states what the document cannot: see each comment."""
        return textwrap.dedent(
            f"""
            base-url = "{url}"
            workers = 1
            request-timeout = 30

            [generation]
            database = "none"

            [phases.stateful]
            max-steps = 12

            [dictionaries.worker_email]
            values = ["{WORKER[0]}"]

            [dictionaries.worker_password]
            values = ["{WORKER[1]}"]

            # The stateful phase's chains (login -> me / refresh -> logout) need a login that
            # succeeds; half of the generated bodies carry the worker's real credentials.
            [[operations]]
            include-operation-id = "login"
            [operations.parameters]
            "body.email" = {{ dictionary = "worker_email", probability = 0.5 }}
            "body.password" = {{ dictionary = "worker_password", probability = 0.5 }}

            # Rules JSON Schema cannot state, so a schema-valid body may get 422 with the
            # service's Spanish reason: the confirmation equals the password, the password is
            # not a common one nor contains the e-mail or the company; the current password or
            # the 2FA code is right; a conversation is moved to someone else than its owner.
            # `positive_data_acceptance` keeps running on them with 422 added to the answers it
            # accepts for valid data; every other check is unchanged.
            [[operations]]
            include-operation-id-regex = "^({"|".join(BUSINESS_RULES)})$"
            [operations.checks.positive_data_acceptance]
            expected-statuses = {json.dumps(VALID_DATA_ANSWERS)}
            """
        )

    def _figures(output: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if match := re.search(r"(\d+) generated", output):
            found["cases"] = int(match.group(1))
        if match := re.search(r"in ([\d.]+)s =", output):
            found["seconds"] = float(match.group(1))
        found["phases"] = {
            phase: ("passed" if re.search(rf"✅\s+{phase}", output) else "not passed")
            for phase in PHASES
        }
        return found

    def test_the_api_does_what_its_openapi_document_says(
        contract_server: ContractServer, tmp_path: Path
    ) -> None:
        document = httpx.get(f"{contract_server.url}/api/openapi.json").json()
        operations = sum(len(methods) for methods in document["paths"].values())
        server_env = tmp_path / "server-env.json"  # for the hooks' `create-admin`
        server_env.write_text(json.dumps(contract_server.env))
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(contract_server.url))
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": str(Path(__file__)),
            "ENERGYAPP_CONTRACT_URL": contract_server.url,
            "ENERGYAPP_CONTRACT_SERVER_ENV": str(server_env),
            # Nothing but the server: any other destination goes to a closed port and fails.
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            "NO_COLOR": "1",
        }
        seed = [] if SEED == "random" else ["--seed", SEED]
        command = [
            str(VENV_BIN / "st"),
            "--config-file",
            str(config),
            "run",
            f"{contract_server.url}/api/openapi.json",
            "--max-examples",
            str(MAX_EXAMPLES),
            *seed,
            "--report",
            "junit,ndjson",
            "--report-dir",
            str(tmp_path / "report"),
        ]
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540
        )
        output = done.stdout + done.stderr
        (tmp_path / "schemathesis.txt").write_text(output)  # the whole report, kept by pytest
        figures = _figures(output)
        print(f"schemathesis: {json.dumps(figures)}")  # shown with -s / -rA
        summary = output[output.rfind("SUMMARY") - 40 :] if "SUMMARY" in output else output[-4000:]
        assert done.returncode == 0, f"Schemathesis found problems:\n{output[-30000:]}"
        assert all(state == "passed" for state in figures["phases"].values()), summary
        assert f"Selected: {operations}/{operations}" in output, summary
        assert f"Tested: {operations}" in output, summary
        # The stateful phase really chained a login's tokens through the documented links.
        events = "".join(p.read_text() for p in (tmp_path / "report").glob("*.ndjson"))
        for link in CHAINS:
            assert f'"id":"{link}"' in events, f"the stateful phase never followed {link}"


else:  # loaded by `st run` through SCHEMATHESIS_HOOKS
    import httpx
    import schemathesis

    @schemathesis.auth(refresh_interval=5)  # and again after any 401 (`retry_on`'s default)
    class _RunAdmin:
        """A bearer token of the run's admin, from POST /api/auth/login. An operation under test
        may legitimately deactivate or demote that admin (PATCH /api/admin/users/{id}: there are
        other admins); then a new admin is created with the operator's CLI and takes over, so
        the rest of the run still reaches the routes' logic."""

        def __init__(self) -> None:
            self.number = 0

        def email(self) -> str:
            name, domain = ADMIN[0].split("@")
            return ADMIN[0] if self.number == 0 else f"{name}{self.number}@{domain}"

        def get(self, _case: Any, _ctx: Any) -> str:
            url = os.environ["ENERGYAPP_CONTRACT_URL"]
            for _ in range(5):
                response = httpx.post(
                    f"{url}/api/auth/login",
                    json={"email": self.email(), "password": ADMIN[1]},
                    timeout=30,
                )
                if response.status_code == 200 and response.json()["user"]["role"] == "admin":
                    return str(response.json()["access_token"])
                self.number += 1
                env = json.loads(Path(os.environ["ENERGYAPP_CONTRACT_SERVER_ENV"]).read_text())
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "energyapp",
                        "create-admin",
                        self.email(),
                        "--password-env",
                        "ENERGYAPP_CONTRACT_PASSWORD",
                    ],
                    cwd=PROJECT,
                    env=env,
                    check=True,
                    capture_output=True,
                )
            raise RuntimeError("no admin of the run could log in")

        def set(self, case: Any, data: str, _ctx: Any) -> None:
            given = (case.headers or {}).get("Authorization", "")
            if _stateful(case) and LINKED_TOKEN.fullmatch(given):
                return  # a link passed on the token a login or refresh returned: use that one
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    LINKED_TOKEN = re.compile(r"Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+")

    def _stateful(case: Any) -> bool:
        phase = getattr(getattr(case, "meta", None), "phase", None)
        name = getattr(phase, "name", "")
        return str(getattr(name, "value", name)) == "stateful"

    @schemathesis.deserializer("application/x-ndjson")
    def _ndjson(_ctx: Any, response: Any) -> list[Any]:
        """POST /api/chat streams one JSON event per line; the document's schema describes the
        lines as an array, so they are validated as one."""
        text = response.content.decode("utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

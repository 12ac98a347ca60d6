"""Shared pieces of the benchmarks: a fresh PostgreSQL database, the stand-in Ollama in its own
process (so its CPU is not counted), the real server (`reflex run --env prod`), users and tokens,
CPU and memory of the server's process tree, and percentiles.

Every benchmark prints its figures and writes them to bench/results/<name>.json; report.py turns
those into docs/benchmarks.md and the charts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "bench" / "results"
PYTHON = sys.executable
PG_URL = os.environ.get(
    "ENERGYAPP_BENCH_PG_URL",
    os.environ.get("ENERGYAPP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
# Several workers keep the UI state here; the benchmark empties this Redis database first.
REDIS_URL = os.environ.get("ENERGYAPP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
SECRET = "bench-secret-" + "b" * 40
PASSWORD = "clave-bench-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "mean": statistics.fmean(values) if values else float("nan"),
        "n": len(values),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {
        "benchmark": name,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **data,
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    return path


# --- database --------------------------------------------------------------------------------
@contextmanager
def fresh_database(prefix: str = "energyapp_bench"):
    """A new PostgreSQL database migrated to head; dropped afterwards."""
    from sqlalchemy import create_engine, text

    from energyapp.db.migrate import upgrade_to_head
    from energyapp.settings import normalize_db_url

    admin_url = normalize_db_url(PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade_to_head(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def use_database(url: str, **settings: str) -> None:
    """Point this process's settings (and services) at the bench database."""
    from energyapp.db.engine import reset_engine
    from energyapp.settings import reset_settings_cache

    os.environ.update(
        {
            "ENERGYAPP_DB_URL": url,
            "ENERGYAPP_SECRET_KEY": SECRET,
            "ENERGYAPP_CONFIG_FILE": str(PROJECT / "config" / "settings.yaml"),
            "ENERGYAPP_LOG_TO_FILE": "false",
            **{f"ENERGYAPP_{k.upper()}": v for k, v in settings.items()},
        }
    )
    reset_settings_cache()
    reset_engine()


def create_users(count: int, prefix: str = "usuario", rounds: int = 4) -> list[str]:
    """Workers with a known password (cheap bcrypt cost unless the benchmark needs the real one)."""
    import bcrypt

    from energyapp.db.engine import session_scope
    from energyapp.db.models import User

    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds)).decode()
    emails = [f"{prefix}{n}@bench.cl" for n in range(count)]
    with session_scope() as db:
        db.add_all(
            User(email=e, name=f"Persona {n}", password_hash=password_hash)
            for n, e in enumerate(emails)
        )
    return emails


# --- processes -------------------------------------------------------------------------------
@dataclass
class Standin:
    url: str
    process: subprocess.Popen

    def configure(self, **behavior: Any) -> None:
        httpx.post(f"{self.url}/__standin/reset", timeout=5)
        httpx.post(f"{self.url}/__standin/behavior", json=behavior, timeout=5).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_standin() -> Standin:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "tests.ollama_standin", "--port", str(port)],
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/api/version", timeout=1)
            return Standin(url, process)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("stand-in did not start")


def cpu_seconds_of(processes: list[psutil.Process]) -> float:
    """User + system CPU of these processes; one that has exited counts for nothing."""
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self.tree())

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.tree():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def start_server(db_url: str, ollama_url: str, workers: int = 1, **settings: str) -> Server:
    """The real production server; several workers share their state through Redis."""
    port = free_port()
    # The same host form as the stand-in's URL, so neither side pays for a name lookup.
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    env.update(
        {
            "ENERGYAPP_CONFIG_FILE": str(PROJECT / "config" / "settings.yaml"),
            "ENERGYAPP_DB_URL": db_url,
            "ENERGYAPP_SECRET_KEY": SECRET,
            "ENERGYAPP_PUBLIC_URL": url,
            "ENERGYAPP_PORT": str(port),
            "ENERGYAPP_OLLAMA_URL": ollama_url,
            "ENERGYAPP_SEED_DEMO_ACCOUNTS": "false",
            "ENERGYAPP_LOG_DIR": str(PROJECT / "bench" / "results" / "logs"),
            "ENERGYAPP_DATA_DIR": str(PROJECT / "bench" / "results" / "data"),
            "REFLEX_WEB_WORKDIR": str(PROJECT / ".web-bench"),
            "REFLEX_USE_SYSTEM_BUN": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "REFLEX_CHECK_LATEST_VERSION": "false",
            "PATH": f"{PROJECT / '.tools/bun/node_modules/.bin'}:{PROJECT / '.venv/bin'}:"
            f"{os.environ['PATH']}",
            **{f"ENERGYAPP_{k.upper()}": v for k, v in settings.items()},
        }
    )
    if workers > 1:
        subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], check=True, capture_output=True)
        env.update({"ENERGYAPP_REDIS_URL": REDIS_URL, "GRANIAN_WORKERS": str(workers)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "server.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [str(PROJECT / ".venv/bin/reflex"), "run", "--env", "prod"],
            cwd=PROJECT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(url, process, log)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                time.sleep(1)  # let workers settle before measuring
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError("server did not start")


@contextmanager
def bench_stack(workers: int = 1, **settings: str):
    """The stand-in, a fresh migrated database (this process uses it too) and the real server
    with `workers` workers; everything is stopped again, also when setting up fails. Yields
    (standin, server)."""
    standin = start_standin()
    try:
        with fresh_database() as db_url:
            use_database(db_url)
            server = start_server(db_url, standin.url, workers, **settings)
            try:
                yield standin, server
            finally:
                server.stop()
    finally:
        standin.stop()


async def bearer_tokens(url: str, emails: list[str]) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        tokens = []
        for email in emails:
            response = await client.post(
                "/api/auth/login", json={"email": email, "password": PASSWORD}
            )
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
        return tokens


def machine() -> dict[str, Any]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
    }

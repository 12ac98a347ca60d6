"""Health of the parts EnergyApp depends on: the database and Ollama."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

from energyapp.db.engine import probe
from energyapp.llm.client import fetch_version, get_client
from energyapp.settings import Settings


@dataclass
class PartHealth:
    ok: bool
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Health:
    database: PartHealth
    ollama: PartHealth
    logs: PartHealth = field(default_factory=lambda: check_logs())

    @property
    def ok(self) -> bool:
        return self.database.ok and self.ollama.ok and self.logs.ok

    @property
    def failing(self) -> list[str]:
        return [
            name
            for name, part in (
                ("database", self.database),
                ("ollama", self.ollama),
                ("logs", self.logs),
            )
            if not part.ok
        ]

    def as_dict(self) -> dict[str, Any]:
        def part(p: PartHealth) -> dict[str, Any]:
            data = asdict(p)
            return {"ok": data["ok"], "detail": data["detail"], **data["extra"]}

        return {
            "status": "ok" if self.ok else "degraded",
            "failing": self.failing,
            "database": part(self.database),
            "ollama": part(self.ollama),
            "logs": part(self.logs),
        }


async def check_database(timeout: float) -> PartHealth:
    """A real query on every probe, and (SQLite) proof that the file takes writes, or
    (PostgreSQL) that the server is not read-only: `energyapp.db.engine.probe`."""
    try:
        problem = await asyncio.wait_for(asyncio.to_thread(probe, timeout), timeout)
        return PartHealth(ok=not problem, detail=problem)
    except TimeoutError:
        return PartHealth(ok=False, detail="timeout")
    except Exception as exc:  # noqa: BLE001 - any driver error means "not healthy"
        return PartHealth(ok=False, detail=type(exc).__name__)


def check_logs() -> PartHealth:
    """Degraded while a log file's last write failed (disk full, permissions)."""
    from energyapp.logging_setup import write_failures

    failures = write_failures()
    return PartHealth(
        ok=not failures,
        detail="; ".join(f"{name}: {reason}" for name, reason in sorted(failures.items())),
    )


async def _check_endpoint(
    url: str, model: str, settings: Settings, timeout: float
) -> dict[str, Any]:
    try:
        version, tags = await asyncio.wait_for(
            asyncio.gather(fetch_version(url, timeout), get_client(settings, url).list()),
            timeout,
        )
    except TimeoutError:
        return {"url": url, "ok": False, "detail": "timeout"}
    except Exception as exc:  # noqa: BLE001 - refused, HTTP error, bad JSON: all "unreachable"
        return {"url": url, "ok": False, "detail": f"unreachable ({type(exc).__name__})"}
    names = {m.model for m in tags.models}
    present = model in names or f"{model}:latest" in names
    return {
        "url": url,
        "ok": present,
        "detail": "" if present else "model not installed",
        "version": version,
        "model_present": present,
    }


async def check_ollama(settings: Settings, timeout: float) -> PartHealth:
    """Healthy when at least one endpoint answers and has the configured model."""
    model = settings.ollama_model
    results = await asyncio.gather(
        *(_check_endpoint(url, model, settings, timeout) for url in settings.ollama_endpoints())
    )
    healthy = [r for r in results if r["ok"]]
    best = healthy[0] if healthy else results[0]
    extra: dict[str, Any] = {"model": model}
    if "version" in best:
        extra.update(version=best["version"], model_present=best["model_present"])
    if len(results) > 1:  # only then do operators need the per-endpoint view
        extra["endpoints"] = results
        extra["healthy_endpoints"] = len(healthy)
    return PartHealth(ok=bool(healthy), detail=best["detail"], extra=extra)


async def check_health(settings: Settings) -> Health:
    timeout = settings.health_timeout
    database, ollama_part = await asyncio.gather(
        check_database(timeout), check_ollama(settings, timeout)
    )
    return Health(database=database, ollama=ollama_part)

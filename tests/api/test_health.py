"""GET /api/health reports the database and Ollama, and answers fast even when Ollama hangs."""

from __future__ import annotations

import time

import pytest

from tests.conftest import apply_env
from tests.ollama_standin import StandInOllama


def test_healthy_against_the_standin(api, standin: StandInOllama) -> None:
    response = api.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert body["database"]["ok"] is True
    assert body["ollama"] == {
        "ok": True,
        "detail": "",
        "version": standin.behavior.version,
        "model": "qwen2.5:3b-instruct",
        "model_present": True,
    }


def test_503_names_ollama_when_nothing_listens(api, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_env(monkeypatch, ollama_url="http://127.0.0.1:9")
    response = api.get("/api/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["ollama"]
    assert response.json()["ollama"]["detail"].startswith("unreachable")


def test_503_when_the_configured_model_is_not_installed(api, standin: StandInOllama) -> None:
    standin.configure(models=["llama3.2:1b"])
    response = api.get("/api/health")
    assert response.status_code == 503
    assert response.json()["ollama"]["model_present"] is False
    assert response.json()["ollama"]["detail"] == "model not installed"


def test_answers_within_two_seconds_when_ollama_hangs(api, standin: StandInOllama) -> None:
    standin.configure(hang=True)
    started = time.perf_counter()
    response = api.get("/api/health")
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 503 and response.json()["ollama"]["detail"] == "timeout"


def test_503_names_the_database_when_it_is_unreachable(
    api, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, db_url="postgresql://nobody@127.0.0.1:1/none")
    response = api.get("/api/health")
    assert response.status_code == 503
    assert "database" in response.json()["failing"]

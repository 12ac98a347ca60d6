"""Several Ollama servers: requests spread over the healthy ones; a dead one is skipped."""

from __future__ import annotations

import pytest

from energyapp.llm import client as llm_client
from energyapp.llm.chat import Delta, Done, LLMError, LLMFailure, stream_chat
from energyapp.services.health import check_health
from energyapp.settings import get_settings
from tests.conftest import apply_env
from tests.ollama_standin import DEFAULT_MODEL, StandInOllama

MESSAGES = [{"role": "user", "content": "hola"}]


@pytest.fixture(autouse=True)
def fresh_endpoint_state():
    llm_client._down_until.clear()
    yield
    llm_client._down_until.clear()


@pytest.fixture
def second_standin():
    server = StandInOllama().start()
    yield server
    server.stop()


async def _answer() -> str:
    parts = [e async for e in stream_chat(DEFAULT_MODEL, MESSAGES)]
    assert isinstance(parts[-1], Done)
    return "".join(p.text for p in parts if isinstance(p, Delta))


async def test_requests_spread_across_servers(
    app_env, monkeypatch, standin, second_standin
) -> None:
    apply_env(monkeypatch, ollama_url=standin.url, ollama_extra_urls=second_standin.url)
    for _ in range(6):
        assert await _answer()
    assert len(standin.chat_requests) == 3 and len(second_standin.chat_requests) == 3


async def test_a_dead_server_is_skipped(app_env, monkeypatch, second_standin) -> None:
    apply_env(monkeypatch, ollama_url="http://127.0.0.1:9", ollama_extra_urls=second_standin.url)
    for _ in range(4):
        assert await _answer()
    assert len(second_standin.chat_requests) == 4
    assert "http://127.0.0.1:9" in llm_client._down_until
    report = (await check_health(get_settings())).as_dict()
    assert report["status"] == "ok" and report["ollama"]["healthy_endpoints"] == 1
    assert [e["ok"] for e in report["ollama"]["endpoints"]] == [False, True]


async def test_all_servers_dead_is_unavailable(app_env, monkeypatch) -> None:
    apply_env(monkeypatch, ollama_url="http://127.0.0.1:9", ollama_extra_urls="http://127.0.0.1:7")
    with pytest.raises(LLMError) as error:
        await _answer()
    assert error.value.kind == LLMFailure.unavailable


def test_extra_urls_are_validated(app_env, monkeypatch) -> None:
    from energyapp.settings import SettingsError, load_settings

    monkeypatch.setenv("ENERGYAPP_OLLAMA_EXTRA_URLS", "http://ok:11434,not a url")
    with pytest.raises(SettingsError, match="ollama_extra_urls"):
        load_settings()

"""The stand-in speaks Ollama's wire format: the official client works against it unchanged."""

from __future__ import annotations

import json

import httpx
import ollama
import pytest

from tests.ollama_standin import DEFAULT_MODEL, StandInOllama

MESSAGES = [{"role": "user", "content": "Hola"}]


async def _collect(standin: StandInOllama) -> tuple[str, list]:
    client = ollama.AsyncClient(host=standin.url, timeout=5)
    parts = [p async for p in await client.chat(DEFAULT_MODEL, MESSAGES, stream=True)]
    return "".join(p.message.content or "" for p in parts), parts


async def test_streams_tokens_then_a_done_chunk_with_stats(standin: StandInOllama) -> None:
    standin.configure(tokens=5)
    text, parts = await _collect(standin)
    assert len(parts) == 6 and text.split() == standin.behavior.answer_tokens()[0].split() + [
        t.strip() for t in standin.behavior.answer_tokens()[1:]
    ]
    assert parts[-1].done and parts[-1].eval_count == 5 and parts[-1].prompt_eval_count == 1
    assert standin.chat_requests[0]["messages"] == MESSAGES


async def test_non_streaming_chat_and_tags(standin: StandInOllama) -> None:
    standin.configure(reply="uno dos tres")
    client = ollama.AsyncClient(host=standin.url, timeout=5)
    response = await client.chat(DEFAULT_MODEL, MESSAGES)
    assert response.message.content == "uno dos tres"
    assert [m.model for m in (await client.list()).models] == [DEFAULT_MODEL]
    version = httpx.get(f"{standin.url}/api/version").json()["version"]
    assert version


async def test_error_status_is_a_response_error(standin: StandInOllama) -> None:
    standin.configure(error_status=500)
    with pytest.raises(ollama.ResponseError) as error:
        await _collect(standin)
    assert error.value.status_code == 500


async def test_error_line_mid_stream_is_a_response_error(standin: StandInOllama) -> None:
    standin.configure(tokens=10, error_after=3)
    with pytest.raises(ollama.ResponseError):
        await _collect(standin)


async def test_dropped_connection_surfaces_as_a_transport_error(standin: StandInOllama) -> None:
    standin.configure(tokens=10, drop_after=4)
    with pytest.raises((httpx.TransportError, json.JSONDecodeError)):
        await _collect(standin)


async def test_unknown_model_is_404(standin: StandInOllama) -> None:
    client = ollama.AsyncClient(host=standin.url, timeout=5)
    with pytest.raises(ollama.ResponseError) as error:
        await client.chat("no-such-model", MESSAGES)
    assert error.value.status_code == 404


def test_rate_and_first_token_delay_are_honoured(standin: StandInOllama) -> None:
    import time

    standin.configure(tokens=5, tokens_per_second=50, first_token_delay=0.2)
    started = time.perf_counter()
    with httpx.stream(
        "POST", f"{standin.url}/api/chat", json={"model": DEFAULT_MODEL, "messages": MESSAGES}
    ) as response:
        lines = list(response.iter_lines())
    elapsed = time.perf_counter() - started
    assert len(lines) == 6
    assert 0.25 <= elapsed < 1.5  # 0.2 s delay + 4 gaps of 20 ms


def test_behaviour_can_be_changed_over_http(standin: StandInOllama) -> None:
    httpx.post(f"{standin.url}/__standin/behavior", json={"tokens": 3, "models": ["m1"]})
    assert standin.behavior.tokens == 3 and standin.behavior.models == ["m1"]
    httpx.post(f"{standin.url}/__standin/reset")
    assert standin.behavior.models == [DEFAULT_MODEL]


class _LateWakeups:
    """A virtual clock on which every sleep ends 10 ms late, as on a busy machine."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + 0.010


async def test_a_set_rate_keeps_its_schedule_when_wake_ups_are_late(
    standin: StandInOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import ollama_standin

    monkeypatch.setattr(ollama_standin, "time", _LateWakeups())
    standin.configure(tokens=21, tokens_per_second=50)  # 20 gaps of 20 ms
    _text, parts = await _collect(standin)
    # Late wake-ups are made up: 400 ms plus one lateness (and the first token's), not 20 of them.
    assert 0.40 <= parts[-1].total_duration / 1e9 <= 0.43

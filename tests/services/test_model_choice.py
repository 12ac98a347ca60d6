"""services.chat resolves the model for both channels: Ollama is asked only when another model
than the settings' one is requested and choosing is allowed; the composer's choices likewise."""

from __future__ import annotations

import pytest

from energyapp.domain.errors import InvalidInput, ServiceError
from energyapp.services import chat
from tests.conftest import apply_env
from tests.ollama_standin import StandInOllama

DEFAULT = "qwen2.5:3b-instruct"  # tests/settings.test.yaml


async def test_without_choice_ollama_is_never_asked(settings_env, monkeypatch) -> None:
    """Nothing listens at the configured URL: any question to Ollama would fail."""
    assert await chat.resolve_model(None) == DEFAULT
    assert await chat.resolve_model(DEFAULT) == DEFAULT
    with pytest.raises(InvalidInput, match="no permite elegir"):
        await chat.resolve_model("llama3.2:1b")
    assert await chat.model_choices() == []


async def test_with_choice_an_unreachable_ollama_is_a_clear_refusal(
    settings_env, monkeypatch
) -> None:
    apply_env(monkeypatch, allow_model_choice="true")
    assert await chat.resolve_model(None) == DEFAULT  # still no need to ask
    with pytest.raises(ServiceError) as refusal:
        await chat.resolve_model("llama3.2:1b")
    assert refusal.value.code == "unavailable"
    assert await chat.model_choices() == [DEFAULT]


async def test_with_choice_only_installed_models_are_accepted(
    settings_env, standin: StandInOllama, monkeypatch
) -> None:
    apply_env(monkeypatch, allow_model_choice="true", ollama_url=standin.url)
    standin.configure(models=[DEFAULT, "llama3.2:1b"])
    assert await chat.model_choices() == ["llama3.2:1b", DEFAULT]
    assert await chat.resolve_model("llama3.2:1b") == "llama3.2:1b"
    with pytest.raises(InvalidInput, match="no está instalado"):
        await chat.resolve_model("mistral:7b")

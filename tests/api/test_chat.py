"""POST /api/chat and /api/conversations against the stand-in Ollama: every word saved, every
failure reported, nothing duplicated, nobody else's conversation reachable."""

from __future__ import annotations

import json
import threading

import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import Message
from tests.conftest import ORIGIN, api_login, apply_env
from tests.ollama_standin import StandInOllama

EMAIL, PASSWORD = "ana@empresa.cl", "clave-segura-1"


@pytest.fixture
def client(api, make_user):
    make_user(EMAIL, PASSWORD)
    make_user("otro@empresa.cl", PASSWORD)
    tokens = api_login(api, EMAIL, PASSWORD).json()
    api.cookies.clear()
    api.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    return api


def send(client, message: str, **extra) -> list[dict]:
    with client.stream("POST", "/api/chat", json={"message": message, **extra}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.iter_lines() if line]


def saved_messages() -> list[Message]:
    with session_scope() as db:
        return list(db.exec(select(Message).order_by(Message.id)).all())


def test_streams_start_deltas_done_and_saves_everything(client, standin: StandInOllama) -> None:
    standin.configure(tokens=30)
    events = send(client, "¿Cuál es la capital de Chile?")
    assert events[0]["type"] == "start" and events[0]["title"] == "¿Cuál es la capital de Chile?"
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    assert 1 <= len(deltas) <= 30  # the tokens that arrived in one read come as one delta
    assert events[-1]["type"] == "done" and events[-1]["status"] == "complete"
    assert events[-1]["stats"]["completion_tokens"] == 30
    user, answer = saved_messages()
    assert (user.role, user.content) == ("user", "¿Cuál es la capital de Chile?")
    assert answer.content == "".join(deltas) == "".join(standin.behavior.answer_tokens())
    assert answer.status == "complete" and answer.completion_tokens == 30
    assert answer.first_token_ms is not None and answer.total_duration_ms is not None


def test_system_prompt_and_history_go_to_the_model(client, standin: StandInOllama) -> None:
    first = send(client, "Hola")
    send(client, "Y ahora otra pregunta", conversation_id=first[0]["conversation_id"])
    sent = standin.chat_requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "español" in sent[0]["content"]
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"]
    assert sent[-1]["content"] == "Y ahora otra pregunta"


def test_context_respects_the_message_budget(client, standin, monkeypatch) -> None:
    apply_env(monkeypatch, context_max_messages="2", ollama_url=standin.url)
    conversation = send(client, "uno")[0]["conversation_id"]
    for text in ("dos", "tres"):
        send(client, text, conversation_id=conversation)
    sent = standin.chat_requests[-1]["messages"]
    assert [m["content"] for m in sent[1:]][-1] == "tres" and len(sent) == 3


def test_the_user_message_is_saved_even_when_ollama_is_unreachable(client, monkeypatch) -> None:
    apply_env(monkeypatch, ollama_url="http://127.0.0.1:9")
    events = send(client, "¿Hay alguien ahí?")
    assert events[-1] == {
        "type": "error",
        "code": "unavailable",
        "partial": "",
        "message": "El servicio del modelo no está disponible. Inténtalo más tarde.",
    }
    user, answer = saved_messages()
    assert user.content == "¿Hay alguien ahí?" and answer.status == "error"


@pytest.mark.parametrize(
    ("behavior", "code"),
    [
        ({"error_status": 500}, "model_error"),
        ({"tokens": 10, "error_after": 4}, "model_error"),
        ({"tokens": 10, "drop_after": 4}, "dropped"),
    ],
    ids=["http-500", "error-line", "dropped"],
)
def test_failures_keep_the_partial_answer(client, standin, behavior, code) -> None:
    standin.configure(**behavior)
    events = send(client, "Cuéntame algo")
    assert events[-1]["type"] == "error" and events[-1]["code"] == code
    partial = "".join(e["text"] for e in events if e["type"] == "delta")
    assert events[-1]["partial"] == partial
    answer = saved_messages()[-1]
    assert answer.status == "error" and answer.content == partial
    if "error_after" in behavior or "drop_after" in behavior:
        assert len(partial.split()) == 4


def test_a_slow_model_times_out_cleanly(client, standin, monkeypatch) -> None:
    apply_env(monkeypatch, ollama_url=standin.url, ollama_read_timeout="0.5")
    standin.configure(tokens=5, first_token_delay=2)
    events = send(client, "¿Sigues ahí?")
    assert events[-1]["type"] == "error" and events[-1]["code"] == "timeout"
    assert saved_messages()[-1].status == "error"


def test_a_retried_request_id_does_not_duplicate(client, standin) -> None:
    first = send(client, "Hola", request_id="req-123")
    again = send(client, "Hola", request_id="req-123")
    assert again[0]["message_id"] == first[0]["message_id"]
    assert again[-1]["replayed"] is True
    assert "".join(e["text"] for e in again if e["type"] == "delta") == "".join(
        e["text"] for e in first if e["type"] == "delta"
    )
    assert len(saved_messages()) == 2 and len(standin.chat_requests) == 1
    header = client.post(
        "/api/chat", json={"message": "Hola"}, headers={"Idempotency-Key": "req-123"}
    )
    assert header.status_code == 200 and len(saved_messages()) == 2


def test_a_second_send_while_streaming_is_refused(client, standin) -> None:
    standin.configure(tokens=40, tokens_per_second=40)
    conversation = send(client, "primera")[0]["conversation_id"]
    started = threading.Event()

    def slow_send() -> None:
        with client.stream(
            "POST", "/api/chat", json={"message": "larga", "conversation_id": conversation}
        ) as r:
            for _ in r.iter_lines():
                started.set()

    worker = threading.Thread(target=slow_send)
    worker.start()
    assert started.wait(5)
    busy = client.post("/api/chat", json={"message": "otra", "conversation_id": conversation})
    worker.join(10)
    assert busy.status_code == 409 and busy.json()["code"] == "busy"
    assert "respuesta en curso" in busy.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"message": "   "}, 422, "Escribe un mensaje antes de enviarlo."),
        (
            {"message": "x" * 8001},
            422,
            "El mensaje tiene 8.001 caracteres y el máximo es 8.000. "
            "Acórtalo o divídelo en partes.",
        ),
        ({}, 422, "Falta el campo «message»."),
        ({"message": 5}, 422, "El campo «message» no es válido."),
        (
            {"message": "hola", "conversation_id": "abc"},
            422,
            "El campo «conversation_id» no es válido.",
        ),
        (
            {"message": "hola", "model": "llama3:70b"},
            422,
            "Este servidor no permite elegir otro modelo.",
        ),
    ],
)
def test_bad_chat_input_is_a_clear_4xx(client, body, status, detail) -> None:
    response = client.post("/api/chat", json=body)
    assert response.status_code == status and response.json()["detail"] == detail
    assert saved_messages() == []


def test_model_choice_when_allowed(client, standin, monkeypatch) -> None:
    apply_env(monkeypatch, allow_model_choice="true", ollama_url=standin.url)
    standin.configure(models=["qwen2.5:3b-instruct", "llama3.2:1b"])
    events = send(client, "hola", model="llama3.2:1b")
    assert events[0]["model"] == "llama3.2:1b" and standin.chat_requests[-1]["model"] == (
        "llama3.2:1b"
    )
    missing = client.post("/api/chat", json={"message": "hola", "model": "mistral:7b"})
    assert missing.status_code == 422 and "no está instalado" in missing.json()["detail"]


# --- conversations ------------------------------------------------------------------------------
def test_list_is_newest_first_paginated_and_searchable(client) -> None:
    ids = [
        send(client, f"Pregunta número {n} sobre turbinas" if n == 2 else f"Pregunta {n}")[0][
            "conversation_id"
        ]
        for n in range(1, 4)
    ]
    page = client.get("/api/conversations?limit=2").json()
    assert [c["id"] for c in page["items"]] == [ids[2], ids[1]] and page["total"] == 3
    assert [c["id"] for c in client.get("/api/conversations?limit=2&offset=2").json()["items"]] == [
        ids[0]
    ]
    assert [c["id"] for c in client.get("/api/conversations?q=TURBINAS").json()["items"]] == [
        ids[1]
    ]
    by_content = client.get("/api/conversations?q=servidor sustituto").json()["items"]
    assert len(by_content) == 3  # the stand-in's answers contain these words
    assert client.get("/api/conversations?q=100%25").json()["items"] == []


def test_read_rename_export_delete(client) -> None:
    conversation = send(client, "Hola **mundo**")[0]["conversation_id"]
    detail = client.get(f"/api/conversations/{conversation}").json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    renamed = client.patch(f"/api/conversations/{conversation}", json={"title": "  Saludo  "})
    assert renamed.json()["title"] == "Saludo"
    assert (
        client.patch(f"/api/conversations/{conversation}", json={"title": " "}).status_code == 422
    )
    markdown = client.get(f"/api/conversations/{conversation}/export?format=md")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "# Saludo" in markdown.text and "Hola **mundo**" in markdown.text
    exported = client.get(f"/api/conversations/{conversation}/export?format=json").json()
    assert exported["conversation"]["title"] == "Saludo" and len(exported["messages"]) == 2
    assert client.get(f"/api/conversations/{conversation}/export?format=pdf").status_code == 422
    assert client.delete(f"/api/conversations/{conversation}").status_code == 204
    assert client.get(f"/api/conversations/{conversation}").status_code == 404
    assert saved_messages() == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/conversations/{id}", None),
        ("patch", "/api/conversations/{id}", {"title": "mío"}),
        ("delete", "/api/conversations/{id}", None),
        ("get", "/api/conversations/{id}/export", None),
        ("post", "/api/chat", {"message": "intruso", "conversation_id": "{id}"}),
    ],
)
def test_another_users_conversation_is_404_whatever_the_path(client, method, path, body) -> None:
    mine = send(client, "privado")[0]["conversation_id"]
    other = api_login(client, "otro@empresa.cl", PASSWORD).json()
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {other['access_token']}"}
    if body and body.get("conversation_id") == "{id}":
        body = {**body, "conversation_id": mine}
    response = client.request(
        method.upper(), path.replace("{id}", str(mine)), json=body, headers=headers
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "La conversación no existe."
    assert [m.content for m in saved_messages() if m.role == "user"] == ["privado"]


def test_cookie_callers_need_the_apps_origin_to_chat(api, make_user) -> None:
    make_user(EMAIL, PASSWORD)
    api_login(api, EMAIL, PASSWORD)
    assert api.post("/api/chat", json={"message": "hola"}).status_code == 403
    ok = api.post("/api/chat", json={"message": "hola"}, headers={"Origin": ORIGIN})
    assert ok.status_code == 200


def test_stale_streaming_answers_are_marked_interrupted(client, standin) -> None:
    from energyapp.services.chat import sweep_stale

    send(client, "hola")
    with session_scope() as db:
        answer = db.exec(select(Message).where(Message.role == "assistant")).one()
        answer.status = "streaming"
    assert sweep_stale() == 0  # recent: a live stream in another worker may own it
    assert sweep_stale(everything=True) == 1
    assert saved_messages()[-1].status == "interrupted"


def test_an_answer_nobody_stops_ends_at_the_time_limit(client, standin, monkeypatch) -> None:
    """A closed tab cannot leave a stream running forever: max_answer_seconds ends it."""
    apply_env(monkeypatch, ollama_url=standin.url, max_answer_seconds="1")
    standin.configure(tokens=100, tokens_per_second=20)
    events = send(client, "Habla sin parar")
    assert events[-1]["type"] == "error" and events[-1]["code"] == "timeout"
    answer = saved_messages()[-1]
    assert answer.status == "error" and 1 <= len(answer.content.split()) < 100  # what was written

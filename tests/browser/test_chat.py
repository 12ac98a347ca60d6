"""The dashboard in Chromium against the stand-in Ollama: streaming with the typing indicator,
Stop, history after reload, rename, delete, search, phone width, and inert unsafe markdown."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AppServer, PageVisit, api_register, ui_login, unique_email


@pytest.fixture
def chat_page(visit: PageVisit, app_server: AppServer):
    """A fresh user on /dashboard, with the stand-in reset afterwards."""
    email = unique_email()
    api_register(app_server, email, name="Carla Chat")
    ui_login(visit.page, email, "clave-segura-1")
    expect(visit.page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(visit.page.get_by_text("¿En qué te ayudo hoy")).to_be_visible()
    yield visit
    httpx.post(f"{app_server.url.replace('localhost', '127.0.0.1')}/ping")  # keep-alive no-op
    app_server.standin.reset()


def send(page, text: str) -> None:
    box = page.get_by_label("Mensaje")
    box.fill(text)
    box.press("Enter")


def test_send_streams_with_the_typing_indicator_and_saves(
    chat_page: PageVisit, app_server: AppServer
) -> None:
    app_server.standin.configure(tokens=40, tokens_per_second=40, first_token_delay=0.8)
    page = chat_page.page
    send(page, "Hola, ¿qué puedes hacer?")
    expect(page.locator("#typing-indicator")).to_be_visible()
    expect(page.get_by_text("escribiendo…")).to_be_visible()
    expect(page.get_by_role("button", name="Detener")).to_be_visible()
    expect(page.locator("#live-answer")).to_contain_text("Claro, aquí tienes", timeout=5000)
    chat_page.screenshot("chat-streaming")
    expect(page.get_by_role("button", name="Enviar")).to_be_visible(timeout=10_000)
    expect(page.locator(".bubble-assistant")).to_have_count(1)
    expected = "".join(app_server.standin.behavior.answer_tokens()).strip()
    expect(page.locator(".bubble-assistant").first).to_have_text(expected)
    expect(page.locator("#chat-title")).to_have_text("Hola, ¿qué puedes hacer?")
    expect(page.locator(".conversation-item")).to_have_count(1)
    expect(page.get_by_label("Mensaje")).to_have_value("")
    chat_page.screenshot("chat-complete")


def test_shift_enter_adds_a_line_and_empty_messages_are_not_sent(chat_page: PageVisit) -> None:
    page = chat_page.page
    box = page.get_by_label("Mensaje")
    box.fill("primera línea")
    box.press("Shift+Enter")
    box.type("segunda línea")
    expect(box).to_have_value("primera línea\nsegunda línea")
    box.fill("   ")
    box.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Escribe un mensaje antes de enviarlo.")
    expect(page.locator(".bubble")).to_have_count(0)


def test_too_long_message_is_refused_and_kept(chat_page: PageVisit) -> None:
    page = chat_page.page
    text = "a" * 8001
    page.get_by_label("Mensaje").fill(text)
    expect(page.locator("#char-counter")).to_have_text("8001 / 8000")
    expect(page.get_by_role("button", name="Enviar")).to_be_disabled()
    page.get_by_label("Mensaje").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("el máximo es 8.000")
    expect(page.get_by_label("Mensaje")).to_have_value(text)


def test_stop_keeps_the_partial_answer_and_offers_retry(
    chat_page: PageVisit, app_server: AppServer
) -> None:
    app_server.standin.configure(tokens=200, tokens_per_second=20)
    page = chat_page.page
    send(page, "Escribe algo largo")
    expect(page.locator("#live-answer")).to_contain_text("Claro", timeout=5000)
    page.get_by_role("button", name="Detener").click()
    expect(page.get_by_text("Respuesta detenida.")).to_be_visible(timeout=5000)
    answer = page.locator(".bubble-assistant").first.inner_text()
    assert 0 < len(answer.split()) < 200
    chat_page.screenshot("chat-stopped")
    page.reload()
    page.locator(".conversation-item").first.click()
    expect(page.locator(".bubble-assistant").first).to_have_text(answer)
    expect(page.get_by_role("button", name="Reintentar")).to_be_visible()


def test_model_unreachable_keeps_the_message_and_says_so(
    chat_page: PageVisit, app_server: AppServer
) -> None:
    app_server.standin.configure(error_status=503)
    page = chat_page.page
    send(page, "¿Funciona el modelo?")
    expect(page.get_by_text("El modelo respondió con un error.")).to_be_visible(timeout=5000)
    expect(page.locator(".bubble-user")).to_have_text("¿Funciona el modelo?")
    app_server.standin.reset()
    page.get_by_role("button", name="Reintentar").click()
    expect(page.locator(".bubble-assistant")).to_have_count(2, timeout=5000)
    expect(page.locator("[data-status=complete] .bubble-assistant")).to_have_count(1)
    expect(page.locator("[data-status=error] .bubble-assistant")).to_have_count(1)


def test_history_survives_reload_and_conversations_can_be_renamed_searched_deleted(
    chat_page: PageVisit,
) -> None:
    page = chat_page.page
    send(page, "Primera conversación sobre turbinas")
    expect(page.get_by_role("button", name="Enviar")).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Nueva conversación").click()
    send(page, "Segunda conversación sobre paneles")
    expect(page.locator(".conversation-item")).to_have_count(2, timeout=10_000)
    page.reload()
    expect(page.locator(".conversation-item").first).to_contain_text("Segunda conversación")
    page.locator(".conversation-item").nth(1).click()
    expect(page.locator(".bubble-user")).to_have_text("Primera conversación sobre turbinas")
    page.get_by_label("Renombrar").click()
    page.get_by_label("Nuevo título").fill("Turbinas eólicas")
    page.get_by_role("button", name="Guardar").click()
    expect(page.locator("#chat-title")).to_have_text("Turbinas eólicas")
    page.get_by_label("Buscar conversaciones").fill("paneles")
    expect(page.locator(".conversation-item")).to_have_count(1)
    expect(page.locator(".conversation-item")).to_contain_text("Segunda conversación")
    page.get_by_label("Buscar conversaciones").fill("")
    expect(page.locator(".conversation-item")).to_have_count(2)
    page.get_by_label("Eliminar").click()
    page.get_by_role("button", name="Eliminar").click()
    expect(page.locator(".conversation-item")).to_have_count(1)
    expect(page.get_by_text("¿En qué te ayudo hoy")).to_be_visible()


def test_unsafe_markdown_from_the_model_stays_inert(
    chat_page: PageVisit, app_server: AppServer
) -> None:
    app_server.standin.configure(
        reply=(
            'Mira: <script>window.pwned=1</script> <img src=x onerror="window.pwned=2"> '
            "[enlace](javascript:window.pwned=3) y **negrita** con `código`"
        )
    )
    page = chat_page.page
    send(page, '<b>hola</b> <img src=x onerror="window.pwned=4">')
    expect(page.locator(".bubble-assistant strong")).to_have_text("negrita")
    expect(page.locator(".bubble-assistant code")).to_have_text("código")
    expect(page.locator(".bubble-user")).to_contain_text("<b>hola</b>")  # shown, not rendered
    assert page.locator(".bubble script, .bubble img").count() == 0
    link = page.locator(".bubble-assistant a")
    if link.count():
        assert "javascript" not in (link.first.get_attribute("href") or "")
        link.first.click()
    assert page.evaluate("window.pwned") is None


def test_dashboard_at_phone_width(phone_visit: PageVisit, app_server: AppServer) -> None:
    email = unique_email()
    api_register(app_server, email)
    page = phone_visit.page
    ui_login(page, email, "clave-segura-1")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    send(page, "Hola desde el teléfono")
    expect(page.locator(".bubble-assistant")).to_have_count(1, timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone_visit.screenshot("chat-phone")
    page.emulate_media(color_scheme="dark")
    phone_visit.screenshot("chat-phone-dark")
    page.get_by_label("Ver conversaciones").click()
    drawer = page.get_by_role("dialog", name="Conversaciones")
    expect(drawer.locator(".conversation-item")).to_be_visible()
    phone_visit.screenshot("chat-phone-drawer")
    drawer.get_by_role("button", name="Nueva conversación").click()
    expect(drawer).to_have_count(0)
    expect(page.get_by_text("¿En qué te ayudo hoy")).to_be_visible()


def test_double_click_sends_once(chat_page: PageVisit, app_server: AppServer) -> None:
    app_server.standin.configure(tokens=20, tokens_per_second=40)
    page = chat_page.page
    page.get_by_label("Mensaje").fill("Solo una vez")
    page.get_by_role("button", name="Enviar").dblclick()
    expect(page.locator(".bubble-assistant")).to_have_count(1, timeout=10_000)
    expect(page.get_by_role("button", name="Enviar")).to_be_visible()
    expect(page.locator(".bubble-user")).to_have_count(1)
    expect(page.get_by_role("alert")).to_have_count(0)


def test_reload_mid_stream_shows_the_answer_growing_and_finished(
    chat_page: PageVisit, app_server: AppServer
) -> None:
    app_server.standin.configure(tokens=60, tokens_per_second=20)
    page = chat_page.page
    send(page, "Respuesta lenta, por favor")
    expect(page.locator("#live-answer")).to_contain_text("Claro", timeout=5000)
    page.wait_for_timeout(1500)
    page.reload()
    expect(page.locator(".bubble-user")).to_have_text("Respuesta lenta, por favor")
    expected = "".join(app_server.standin.behavior.answer_tokens()).strip()
    expect(page.locator(".bubble-assistant").first).to_have_text(expected, timeout=10_000)


def test_a_second_tab_sees_the_saved_part_while_it_streams(
    new_visit, app_server: AppServer
) -> None:
    email = unique_email()
    api_register(app_server, email)
    app_server.standin.configure(tokens=80, tokens_per_second=20)
    first, second = new_visit(), new_visit()
    for visit in (first, second):
        ui_login(visit.page, email, "clave-segura-1")
        expect(visit.page).to_have_url(re.compile(r"/dashboard/?$"))
    send(first.page, "Mensaje largo")
    expect(first.page.locator("#live-answer")).to_contain_text("Claro", timeout=5000)
    first.page.wait_for_timeout(2000)  # past one partial save
    second.page.reload()
    second.page.locator(".conversation-item").first.click()
    expect(second.page.get_by_text("Respuesta en curso…")).to_be_visible()
    assert len(second.page.locator(".bubble-assistant").first.inner_text().split()) > 3
    app_server.standin.reset()


def test_several_users_stream_at_once(new_visit, app_server: AppServer) -> None:
    app_server.standin.configure(tokens=50, tokens_per_second=25)
    visits = []
    for _ in range(3):
        email = unique_email()
        api_register(app_server, email)
        visit = new_visit()
        ui_login(visit.page, email, "clave-segura-1")
        expect(visit.page).to_have_url(re.compile(r"/dashboard/?$"))
        visits.append(visit)
    for visit in visits:
        send(visit.page, "Todos a la vez")
    expected = "".join(app_server.standin.behavior.answer_tokens()).strip()
    for visit in visits:
        expect(visit.page.locator(".bubble-assistant").first).to_have_text(expected, timeout=15_000)
    app_server.standin.reset()

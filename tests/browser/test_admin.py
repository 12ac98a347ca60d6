"""/admin in Chromium: reassignment seen by both owners, supervisor scope, the audit view."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import AppServer, PageVisit, api_register, ui_login, unique_email


def _chat(page, text: str) -> None:
    box = page.get_by_label("Mensaje")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".bubble-assistant")).to_have_count(1, timeout=10_000)


def test_admin_reassigns_a_workers_conversation_to_the_supervisor(
    new_visit, app_server: AppServer
) -> None:
    worker_email = unique_email()
    api_register(app_server, worker_email, name="Walter Obrero")
    title = f"Mantención turbina {worker_email.split('@')[0]}"
    worker = new_visit()
    ui_login(worker.page, worker_email, "clave-segura-1")
    expect(worker.page).to_have_url(re.compile(r"/dashboard/?$"))
    _chat(worker.page, title)

    boss = new_visit()
    ui_login(boss.page, "administrador@alvaradomazzei.cl", "admin123")
    expect(boss.page).to_have_url(re.compile(r"/dashboard/?$"))
    boss.page.goto("/admin")
    boss.page.get_by_label("Buscar usuarios").fill(worker_email)
    boss.page.locator(".admin-user").filter(has_text="Walter Obrero").click()
    boss.page.locator(".admin-conversation").filter(has_text=title).click()
    expect(boss.page.locator(".admin-message")).to_have_count(2)
    boss.screenshot("admin-transcript")
    boss.page.get_by_role("button", name="Reasignar", exact=True).click()
    boss.page.get_by_role("combobox").click()
    boss.page.get_by_role("option", name=re.compile("Supervisor Demo")).click()
    boss.page.get_by_role("alertdialog").get_by_role("button", name="Reasignar").click()
    expect(boss.page.get_by_text("Conversación reasignada.").first).to_be_visible()
    # the moved conversation stays selected, now in its new owner's column
    expect(boss.page.locator("#admin-conversations")).to_contain_text("Supervisor Demo")
    expect(boss.page.locator("#admin-messages")).to_contain_text(title)
    boss.screenshot("admin-after-reassign")

    worker.page.reload()
    expect(worker.page.locator(".conversation-item")).to_have_count(0)
    supervisor = new_visit()
    ui_login(supervisor.page, "supervisor@alvaradomazzei.cl", "supervisor123")
    expect(supervisor.page.locator(".conversation-item").filter(has_text=title)).to_have_count(1)

    boss.page.get_by_role("radio", name="Auditoría").click()
    expect(
        boss.page.locator(".audit-row").filter(has_text="Conversación reasignada").first
    ).to_be_visible()
    expect(
        boss.page.locator(".audit-row").filter(has_text="Conversación revisada").first
    ).to_be_visible()
    boss.screenshot("admin-audit")


def test_supervisor_sees_only_workers_and_self(visit: PageVisit) -> None:
    page = visit.page
    ui_login(page, "supervisor@alvaradomazzei.cl", "supervisor123")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.goto("/admin")
    users = page.locator(".admin-user")
    expect(users.first).to_be_visible()
    expect(users.filter(has_text="Administrador Demo")).to_have_count(0)
    expect(users.filter(has_text="Supervisor Demo")).to_have_count(1)
    expect(page.get_by_role("button", name="Gestionar")).to_have_count(0)
    roles = set(page.locator(".admin-user .rt-Badge").all_inner_texts())
    assert roles <= {"Trabajador", "Supervisor", "Inactivo"}
    visit.screenshot("admin-supervisor")


def test_admin_at_phone_width(phone_visit: PageVisit) -> None:
    page = phone_visit.page
    ui_login(page, "administrador@alvaradomazzei.cl", "admin123")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.goto("/admin")
    expect(page.locator(".admin-user").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone_visit.screenshot("admin-phone")

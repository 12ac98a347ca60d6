"""Credentials typed or shown in the browser end up nowhere on the server's disk: not in a log
file, not in the server's stdout (journald), not in Reflex's saved tab states (`.states/`), and
neither does the session cookie of the websocket's handshake. Canary values make any leak
findable."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import PROJECT, AppServer, PageVisit, ui_login, unique_email


def leaks(app_server: AppServer, canaries: list[str], since: float) -> list[str]:
    """Where each canary appears: the server's stdout, its log dir, the tab states."""
    places = [app_server.log_path, *Path(app_server.env["ENERGYAPP_LOG_DIR"]).rglob("*")]
    places += [
        p for p in (PROJECT / ".states").rglob("*") if p.is_file() and p.stat().st_mtime >= since
    ]
    found = []
    for place in places:
        if not place.is_file():
            continue
        data = place.read_bytes()
        found += [f"{canary} in {place}" for canary in canaries if canary.encode() in data]
    return found


def test_passwords_codes_and_secrets_leave_no_trace(
    visit: PageVisit, app_server: AppServer
) -> None:
    since = time.time() - 1
    stamp = time.time_ns() % 10**9
    first, wrong, second = (f"Canario-{stamp}-{kind}" for kind in ("uno", "malo", "dos"))
    email = unique_email("cambio.cl")  # may change its password
    page = visit.page
    page.goto("/register")
    page.get_by_label("Nombre completo").fill("Canario de Prueba")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña", exact=True).fill(first)
    page.get_by_label("Repite la contraseña").fill(first)
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    # 2FA: the secret is shown, a code typed, the recovery codes shown once.
    page.goto("/settings")
    page.get_by_role("button", name="Activar verificación en dos pasos").click()
    secret = page.locator("code").first.inner_text()
    assert len(secret) >= 16
    page.get_by_label("2. Escribe el código de 6 dígitos").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activar", exact=True).click()
    codes = page.locator("#recovery-codes code")
    expect(codes.first).to_be_visible()
    recovery = codes.first.inner_text()
    page.get_by_role("button", name="Ya los guardé").click()
    # A wrong and a right password change.
    page.get_by_label("Contraseña actual").fill(wrong)
    page.get_by_label("Nueva contraseña", exact=True).fill(second)
    page.get_by_label("Repite la nueva contraseña").fill(second)
    page.get_by_role("button", name="Cambiar contraseña").click()
    expect(page.get_by_role("alert")).to_contain_text("La contraseña actual no es correcta.")
    page.get_by_label("Contraseña actual").fill(first)
    page.get_by_label("Nueva contraseña", exact=True).fill(second)
    page.get_by_label("Repite la nueva contraseña").fill(second)
    page.get_by_role("button", name="Cambiar contraseña").click()
    expect(page.get_by_text("Contraseña actualizada.")).to_be_visible()
    expect(page.get_by_label("Contraseña actual")).to_have_value("")  # gone from the page too
    # Sign out, then a wrong and a right login with the code.
    page.get_by_role("button", name="Menú de usuario").click()
    page.get_by_role("menuitem", name="Cerrar sesión").click()
    expect(page).to_have_url(re.compile(r"/login"))
    ui_login(page, email, wrong)
    expect(page.get_by_role("alert")).to_contain_text("Correo o contraseña incorrectos.")
    ui_login(page, email, second)
    page.get_by_label("Código de verificación").fill(recovery)
    page.get_by_role("button", name="Verificar").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    cookie = next(c["value"] for c in page.context.cookies() if "session" in c["name"])
    page.goto("/settings")  # leaves and reloads pages: the disk state is written again
    page.wait_for_timeout(2500)  # Reflex's disk state manager writes debounced
    assert leaks(app_server, [first, wrong, second, secret, recovery, cookie], since) == []

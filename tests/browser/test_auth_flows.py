"""Sign-in flows in Chromium: demo accounts, protected pages, registration, 2FA, password change,
sessions and logout."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    AppServer,
    PageVisit,
    api_enable_totp,
    api_register,
    ui_login,
    unique_email,
)

DEMO = {
    "Administrador": ("Administrador Demo", True),
    "Supervisor": ("Supervisor Demo", True),
    "Trabajador": ("Trabajador Demo", False),
}


@pytest.mark.parametrize("button", list(DEMO))
def test_each_demo_account_signs_in_from_the_quick_access_buttons(
    visit: PageVisit, button: str
) -> None:
    page = visit.page
    page.goto("/login")
    page.get_by_role("button", name=button).click()
    page.get_by_role("button", name="Entrar").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    name, is_staff = DEMO[button]
    expect(page.get_by_role("button", name="Menú de usuario")).to_contain_text(name)
    admin_link = page.get_by_role("link", name="Administración")
    expect(admin_link).to_be_visible() if is_staff else expect(admin_link).to_have_count(0)
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "energyapp_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("energyapp_session") == -1
    if button == "Administrador":
        visit.screenshot("dashboard-admin")


@pytest.mark.parametrize("path", ["/dashboard", "/settings", "/admin"])
def test_protected_pages_send_strangers_to_login_and_back(visit: PageVisit, path: str) -> None:
    page = visit.page
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login/?\?next=" + re.escape(path.replace("/", "%2F"))))
    page.get_by_role("button", name="Administrador").click()
    page.get_by_role("button", name="Entrar").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "/?$"))


def test_protected_content_never_flashes_before_the_redirect(visit: PageVisit) -> None:
    page = visit.page
    seen: list[str] = []
    page.on("framenavigated", lambda frame: seen.append(page.content()))
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login"))
    assert not any("Sesiones activas" in html for html in seen)


def test_a_worker_is_kept_out_of_admin(visit: PageVisit) -> None:
    page = visit.page
    ui_login(page, "trabajador@alvaradomazzei.cl", "worker123")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))


def test_wrong_password_shows_a_spanish_error_and_keeps_the_email(visit: PageVisit) -> None:
    page = visit.page
    email = unique_email()
    ui_login(page, email, "no-es-la-clave")
    expect(page.get_by_role("alert")).to_contain_text("Correo o contraseña incorrectos.")
    expect(page.get_by_label("Correo electrónico")).to_have_value(email)


def test_register_explains_the_rule_refuses_precisely_and_signs_in(visit: PageVisit) -> None:
    page = visit.page
    page.goto("/register")
    expect(page.get_by_text("Mínimo 8 caracteres")).to_be_visible()
    page.get_by_label("Nombre completo").fill("Camila Rojas")
    page.get_by_label("Correo electrónico").fill("trabajador@alvaradomazzei.cl")
    page.get_by_label("Contraseña", exact=True).fill("corta")
    page.get_by_label("Repite la contraseña").fill("corta")
    page.get_by_role("button", name="Crear cuenta").click()  # checked on the server only:
    expect(page.get_by_role("alert")).to_contain_text(  # a typed password never enters a var
        "La contraseña debe tener al menos 8 caracteres."
    )
    page.get_by_label("Contraseña", exact=True).fill("clave-segura-1")
    page.get_by_label("Repite la contraseña").fill("clave-segura-1")
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page.get_by_role("alert")).to_contain_text("Ya existe una cuenta con ese correo.")
    visit.screenshot("register-error")
    page.get_by_label("Correo electrónico").fill(unique_email())
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(page.get_by_role("button", name="Menú de usuario")).to_contain_text("Camila Rojas")


def test_login_with_2fa_asks_for_the_code(visit: PageVisit, app_server: AppServer) -> None:
    email = unique_email()
    api_register(app_server, email)
    secret = api_enable_totp(app_server, email)
    page = visit.page
    ui_login(page, email, "clave-segura-1")
    expect(page.get_by_label("Código de verificación")).to_be_visible()
    page.get_by_label("Código de verificación").fill("000000")
    page.get_by_role("button", name="Verificar").click()
    expect(page.get_by_role("alert")).to_contain_text("El código no es válido")
    visit.screenshot("login-2fa")
    page.get_by_label("Código de verificación").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verificar").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))


def test_set_up_2fa_from_settings(visit: PageVisit, app_server: AppServer) -> None:
    email = unique_email()
    api_register(app_server, email)
    page = visit.page
    ui_login(page, email, "clave-segura-1")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.goto("/settings")
    page.get_by_role("button", name="Activar verificación en dos pasos").click()
    qr = page.get_by_alt_text("Código QR para la aplicación")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")  # it really renders
    secret = page.locator("code").first.inner_text()
    page.get_by_label("2. Escribe el código de 6 dígitos").fill(pyotp.TOTP(secret).now())
    visit.screenshot("settings-2fa-scan")
    page.get_by_role("button", name="Activar", exact=True).click()
    expect(page.locator("#recovery-codes code")).to_have_count(10)
    visit.screenshot("settings-2fa-codes")
    page.get_by_role("button", name="Ya los guardé").click()
    expect(page.get_by_text("Verificación en dos pasos activada.")).to_be_visible()
    expect(page.get_by_text("Activada", exact=True)).to_be_visible()


def test_autosetup_domain_is_walked_through_2fa_first(
    visit: PageVisit, app_server: AppServer
) -> None:
    email = unique_email("inacapmail.cl")
    api_register(app_server, email)
    page = visit.page
    ui_login(page, email, "clave-segura-1")
    expect(page).to_have_url(re.compile(r"/setup-2fa/?$"))
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/setup-2fa/?$"))
    secret = page.locator("code").first.inner_text()
    page.get_by_label("2. Escribe el código de 6 dígitos").fill(pyotp.TOTP(secret).now())
    visit.screenshot("setup-2fa")
    page.get_by_role("button", name="Activar", exact=True).click()
    page.get_by_role("button", name="Ya los guardé").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))


def test_reloading_the_setup_page_keeps_the_qr_already_scanned(
    visit: PageVisit, app_server: AppServer
) -> None:
    email = unique_email("inacapmail.cl")
    api_register(app_server, email)
    page = visit.page
    ui_login(page, email, "clave-segura-1")
    expect(page).to_have_url(re.compile(r"/setup-2fa/?$"))
    secret_box = page.locator("code").first
    expect(secret_box).not_to_have_text("")
    scanned = secret_box.inner_text()
    page.reload()
    page.wait_for_timeout(1500)  # the page's load has run again (it used to issue a new secret)
    expect(secret_box).to_have_text(scanned)
    page.get_by_label("2. Escribe el código de 6 dígitos").fill(pyotp.TOTP(scanned).now())
    page.get_by_role("button", name="Activar", exact=True).click()
    expect(page.get_by_role("button", name="Ya los guardé")).to_be_visible()


def test_change_password_and_other_devices_are_signed_out(new_visit, app_server: AppServer) -> None:
    email = unique_email("cambio.cl")
    api_register(app_server, email)
    laptop, phone = new_visit(), new_visit()
    ui_login(phone.page, email, "clave-segura-1")
    expect(phone.page).to_have_url(re.compile(r"/dashboard/?$"))
    ui_login(laptop.page, email, "clave-segura-1")
    expect(laptop.page).to_have_url(re.compile(r"/dashboard/?$"))
    page = laptop.page
    page.goto("/settings")
    page.get_by_label("Contraseña actual").fill("equivocada")
    page.get_by_label("Nueva contraseña", exact=True).fill("nueva-clave-2")
    page.get_by_label("Repite la nueva contraseña").fill("nueva-clave-2")
    page.get_by_role("button", name="Cambiar contraseña").click()
    expect(page.get_by_role("alert")).to_contain_text("La contraseña actual no es correcta.")
    page.get_by_label("Contraseña actual").fill("clave-segura-1")
    page.get_by_role("button", name="Cambiar contraseña").click()
    expect(page.get_by_text("Contraseña actualizada.")).to_be_visible()
    # The phone's open tab is reset and sent to the login at once.
    expect(phone.page).to_have_url(re.compile(r"/login"))
    expect(phone.page.get_by_text("Tu sesión terminó")).to_be_visible()


def test_a_page_opened_as_the_login_ends_elsewhere_lands_on_the_login_for_that_page(
    new_visit, app_server: AppServer
) -> None:
    """The phone opens /settings just as its login ends on the laptop, so the reset pushed to
    its tab arrives while that page is loading. The push used to be
    `window.location.reload()`: run by the old page after the navigation had started, it
    cancelled it (`goto` failed with "interrupted by another navigation" in 4 runs of 10, and a
    user's page was replaced by a reload of the old one). Routed inside the tab instead, it
    never cancels a page load: the phone lands on the login, back to /settings afterwards.
    test_socket_gate.py checks the push itself on every run."""
    email = unique_email("cambio.cl")
    api_register(app_server, email)
    laptop, phone = new_visit(), new_visit()
    ui_login(phone.page, email, "clave-segura-1")
    expect(phone.page).to_have_url(re.compile(r"/dashboard/?$"))
    ui_login(laptop.page, email, "clave-segura-1")
    expect(laptop.page).to_have_url(re.compile(r"/dashboard/?$"))
    laptop.page.goto("/settings")
    laptop.page.get_by_label("Contraseña actual").fill("clave-segura-1")
    laptop.page.get_by_label("Nueva contraseña", exact=True).fill("nueva-clave-2")
    laptop.page.get_by_label("Repite la nueva contraseña").fill("nueva-clave-2")
    laptop.page.get_by_role("button", name="Cambiar contraseña").click()
    expect(laptop.page.get_by_text("Contraseña actualizada.")).to_be_visible()
    phone.page.goto("/settings")  # as the reset is pushed to the phone's tab
    expect(phone.page).to_have_url(re.compile(r"/login/?\?next=%2Fsettings&ended=1"))
    expect(phone.page.get_by_text("Tu sesión terminó")).to_be_visible()


def test_revoke_another_session_from_settings(new_visit, app_server: AppServer) -> None:
    email = unique_email()
    api_register(app_server, email)
    laptop = new_visit()
    phone = new_visit(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1",
    )
    ui_login(phone.page, email, "clave-segura-1")
    expect(phone.page).to_have_url(re.compile(r"/dashboard/?$"))
    ui_login(laptop.page, email, "clave-segura-1")
    expect(laptop.page).to_have_url(re.compile(r"/dashboard/?$"))
    laptop.page.goto("/settings")
    sessions = laptop.page.locator("#session-list > div")
    expect(sessions).to_have_count(2)
    expect(laptop.page.get_by_text("Esta sesión")).to_be_visible()
    expect(laptop.page.get_by_text("Safari en iPhone")).to_be_visible()
    laptop.screenshot("settings-sessions")
    laptop.page.get_by_role("button", name="Revocar").click()
    expect(sessions).to_have_count(1)
    # The phone's open tab is reset and sent to the login at once, without touching it.
    expect(phone.page).to_have_url(re.compile(r"/login"))
    expect(phone.page.get_by_text("Tu sesión terminó")).to_be_visible()
    phone.screenshot("login-after-revoked-phone")


def test_logout_from_the_user_menu(visit: PageVisit) -> None:
    page = visit.page
    ui_login(page, "supervisor@alvaradomazzei.cl", "supervisor123")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.get_by_role("button", name="Menú de usuario").click()
    page.get_by_role("menuitem", name="Cerrar sesión").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    assert not [c for c in page.context.cookies() if c["name"] == "energyapp_session"]
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login/?\?next="))


def test_settings_at_phone_width(phone_visit: PageVisit) -> None:
    page = phone_visit.page
    ui_login(page, "trabajador@alvaradomazzei.cl", "worker123")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.goto("/settings")
    expect(page.get_by_text("Sesiones activas")).to_be_visible()
    expect(page.get_by_text("pueden revisar tus conversaciones")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone_visit.screenshot("settings-phone")

"""WCAG 2.2 AA with axe-core (the npm package, installed by `make test` into .tools/axe and
injected by Playwright; no download at test time): zero violations on every page and dialog, in
light and dark themes, at desktop and phone (390 px) width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PROJECT, AppServer, api_register, ui_login, unique_email

AXE = PROJECT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
THEMES = ("light", "dark")
WIDTHS = ({"width": 1280, "height": 800}, {"width": 390, "height": 844})


@pytest.fixture(autouse=True)
def _axe_installed() -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: `make axe` (part of `make test`) installs it")


def _axe(page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(Path(AXE)))
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
            }));
        }""",
        TAGS,
    )


def _format(where: str, violations: list[dict]) -> str:
    lines = [f"{where}: {len(violations)} axe violation(s)"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:8]:
            summary = " ".join((node["summary"] or "").split())[:300]
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


def check(page, name: str, *, widths=WIDTHS, settle=None) -> None:
    """axe-core over the page in both themes and both widths; every failure in one message."""
    failures: list[str] = []
    for size in widths:
        page.set_viewport_size(size)
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            expect(page.locator("html")).to_have_class(re.compile(rf"\b{theme}\b"))
            if settle:
                settle()
            page.wait_for_timeout(150)  # theme transitions
            violations = _axe(page)
            if violations:
                failures.append(_format(f"{name} [{theme}, {size['width']}px]", violations))
    assert not failures, "\n".join(failures)


def _visible(locator):
    """A `settle` for `check`: the state (dialog, alert, stream) is still there at every theme
    and width, so each axe run really looked at it."""
    return lambda: expect(locator).to_be_visible()


@pytest.fixture
def a11y_visit(new_visit):
    """A context that lets the injected axe script run under the app's CSP."""
    return new_visit(bypass_csp=True)


def _login(page, email: str, password: str = "clave-segura-1") -> None:
    ui_login(page, email, password)
    expect(page).to_have_url(re.compile(r"/(dashboard|setup-2fa)/?$"))


def test_login_and_register_pages(a11y_visit) -> None:
    page = a11y_visit.page
    page.goto("/login")
    expect(page.get_by_role("button", name="Entrar")).to_be_enabled()
    check(page, "login")
    page.get_by_label("Correo electrónico").fill("nadie@empresa.cl")
    page.get_by_label("Contraseña").fill("incorrecta-1")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "login with an error")
    page.goto("/register")
    expect(page.get_by_role("button", name="Crear cuenta")).to_be_enabled()
    check(page, "register")


def test_not_found_page(a11y_visit) -> None:
    page = a11y_visit.page
    page.goto("/no-existe")
    page.wait_for_load_state("networkidle")
    check(page, "404")


def test_dashboard_empty_with_answer_and_with_error(a11y_visit, app_server: AppServer) -> None:
    page = a11y_visit.page
    email = unique_email()
    api_register(app_server, email, name="Ana Accesible")
    _login(page, email)
    expect(page.get_by_text("¿En qué te ayudo hoy")).to_be_visible()
    check(page, "dashboard, empty")

    page.set_viewport_size(WIDTHS[0])
    box = page.get_by_label("Mensaje")
    box.fill("Hola, ¿qué puedes hacer?")
    box.press("Enter")
    expect(page.locator(".bubble-assistant")).to_have_count(1, timeout=15_000)
    expect(page.get_by_role("button", name="Enviar")).to_be_visible(timeout=15_000)
    check(page, "dashboard, with an answer")

    page.set_viewport_size(WIDTHS[1])
    page.get_by_role("button", name="Ver conversaciones").click()
    expect(page.get_by_role("dialog", name="Conversaciones")).to_be_visible()
    check(page, "dashboard, conversation drawer", widths=WIDTHS[1:])
    a11y_visit.screenshot("a11y-drawer-dark")
    page.get_by_role("button", name="Cerrar").click()

    # dialogs are opened at desktop width and stay open while the viewport narrows to 390 px
    page.set_viewport_size(WIDTHS[0])
    page.get_by_role("button", name="Renombrar").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "dashboard, rename dialog", settle=_visible(page.get_by_role("dialog")))
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.set_viewport_size(WIDTHS[0])
    page.get_by_role("button", name="Eliminar").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    check(page, "dashboard, delete dialog", settle=_visible(page.get_by_role("alertdialog")))
    a11y_visit.screenshot("a11y-delete-dialog-phone-dark")
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_be_hidden()

    page.set_viewport_size(WIDTHS[0])
    page.get_by_label("Mensaje").fill("   ")
    page.get_by_label("Mensaje").press("Enter")
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "dashboard, with an error", settle=_visible(page.get_by_role("alert")))


def test_dashboard_while_streaming(a11y_visit, app_server: AppServer) -> None:
    page = a11y_visit.page
    email = unique_email()
    api_register(app_server, email, name="Sara Streaming")
    _login(page, email)
    expect(page.get_by_text("¿En qué te ayudo hoy")).to_be_visible()
    # slow enough that both states last through four axe runs each (two themes, two widths)
    app_server.standin.configure(tokens=2400, tokens_per_second=40, first_token_delay=6)
    try:
        page.get_by_label("Mensaje").fill("Cuéntame algo largo")
        page.get_by_label("Mensaje").press("Enter")
        expect(page.locator("#typing-indicator")).to_be_visible()
        check(
            page,
            "dashboard, waiting for the first token",
            settle=_visible(page.locator("#typing-indicator")),
        )
        # still waiting after the checks: they looked at the "escribiendo…" state
        expect(page.locator("#typing-indicator")).to_be_visible(timeout=500)
        expect(page.locator("#live-answer")).to_contain_text("Claro", timeout=10_000)
        check(
            page,
            "dashboard, streaming",
            settle=_visible(page.get_by_role("button", name="Detener")),
        )
        expect(page.get_by_role("button", name="Detener")).to_be_visible()  # still streaming
        page.get_by_role("button", name="Detener").click()
    finally:
        app_server.standin.reset()


def test_admin_tabs_and_dialogs(a11y_visit) -> None:
    page = a11y_visit.page
    _login(page, "administrador@alvaradomazzei.cl", "admin123")
    page.get_by_label("Mensaje").fill("Hola desde accesibilidad")
    page.get_by_label("Mensaje").press("Enter")
    expect(page.locator(".bubble-assistant")).to_have_count(1, timeout=15_000)
    expect(page.get_by_role("button", name="Enviar")).to_be_visible(timeout=15_000)
    page.goto("/admin")
    expect(page.get_by_label("Buscar usuarios")).to_be_visible()
    check(page, "admin, users")
    page.set_viewport_size(WIDTHS[0])
    page.get_by_label("Buscar usuarios").fill("trabajador@alvaradomazzei.cl")
    page.locator(".admin-user").filter(has_text="Trabajador Demo").click()
    page.get_by_role("button", name="Gestionar").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "admin, manage dialog", settle=_visible(page.get_by_role("dialog")))
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()

    # the administrator's own conversation (sent above) for both reassign confirmations
    page.set_viewport_size(WIDTHS[0])
    page.get_by_label("Buscar usuarios").fill("administrador@alvaradomazzei.cl")
    page.locator(".admin-user").filter(has_text="Administrador Demo").click()
    page.get_by_role("button", name="Reasignar todas").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    check(
        page,
        "admin, reassign-all confirmation",
        settle=_visible(page.get_by_role("alertdialog")),
    )
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_be_hidden()
    page.set_viewport_size(WIDTHS[0])
    page.locator(".admin-conversation").filter(has_text="Hola desde accesibilidad").click()
    expect(page.locator(".admin-message").first).to_be_visible()
    page.get_by_role("button", name="Reasignar", exact=True).click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    check(page, "admin, reassign confirmation", settle=_visible(page.get_by_role("alertdialog")))
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_be_hidden()

    page.set_viewport_size(WIDTHS[0])
    page.get_by_role("radio", name="Auditoría").click()
    expect(page.locator(".audit-row").first).to_be_visible()
    check(page, "admin, audit")
    a11y_visit.screenshot("a11y-admin-audit-phone-dark")


def test_settings_and_forced_2fa_setup(a11y_visit, new_visit, app_server: AppServer) -> None:
    page = a11y_visit.page
    email = unique_email("cambio.cl")
    api_register(app_server, email, name="Sofía Ajustes")
    _login(page, email)
    page.goto("/settings")
    expect(page.get_by_role("button", name="Activar verificación en dos pasos")).to_be_visible()
    check(page, "settings")
    page.get_by_role("button", name="Activar verificación en dos pasos").click()
    expect(page.locator("code").first).not_to_have_text("")
    check(page, "settings, 2FA setup")

    forced = new_visit(bypass_csp=True).page
    forced_email = unique_email("inacapmail.cl")
    api_register(app_server, forced_email)
    _login(forced, forced_email)
    expect(forced).to_have_url(re.compile(r"/setup-2fa/?$"))
    expect(forced.locator("code").first).not_to_have_text("")
    check(forced, "setup-2fa")

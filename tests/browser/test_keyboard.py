"""A whole journey with the keyboard only (WCAG 2.1.1, 2.4.7, 2.4.3): log in, chat, regenerate,
stop, copy, rename in a dialog, the conversation drawer at phone width, open /admin, pick a user
and a conversation, reassign it through its confirmation dialog, log out. Every Tab stop must
show its focus; dialogs keep focus inside, close with Escape and give focus back to their
trigger."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import AppServer
from tests.browser.test_accessibility import WIDTHS, check

FOCUS_PROBLEM = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return '';  // Tab past the page's end, into the browser
    if (!el.matches(':focus-visible')) return 'no :focus-visible on ' + el.outerHTML.slice(0, 99);
    for (let node = el, depth = 0; node && depth < 3; node = node.parentElement, depth++) {
        const style = getComputedStyle(node);
        const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
        if (outline || style.boxShadow !== 'none') return '';
    }
    return 'no focus indicator on ' + el.outerHTML.slice(0, 120);
}"""
HAS_FOCUS = "el => el === document.activeElement || el.contains(document.activeElement)"


def tab_to(page, target, problems: list[str], presses: int = 60, key: str = "Tab") -> None:
    """Press `key` (Tab) until `target` has focus, checking the focus indicator at every stop."""
    for _ in range(presses):
        page.keyboard.press(key)
        problem = page.evaluate(FOCUS_PROBLEM)
        if problem:
            problems.append(f"{problem} ({key} toward {target} on {page.url})")
        if target.evaluate(HAS_FOCUS):
            return
    raise AssertionError(f"Tab never reached {target}")


def test_keyboard_only_journey(new_visit, app_server: AppServer) -> None:
    # bypass_csp: axe-core is injected to check the reassign dialog on the way
    visit = new_visit(permissions=["clipboard-read", "clipboard-write"], bypass_csp=True)
    page = visit.page
    problems: list[str] = []

    page.goto("/login")
    expect(page.get_by_role("button", name="Entrar")).to_be_enabled()
    tab_to(page, page.get_by_label("Correo electrónico"), problems)
    page.keyboard.type("administrador@alvaradomazzei.cl")
    tab_to(page, page.get_by_label("Contraseña"), problems)
    page.keyboard.type("admin123")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))

    # start a conversation and send
    expect(page.get_by_role("button", name="Nueva conversación")).to_be_visible()
    tab_to(page, page.get_by_role("button", name="Nueva conversación"), problems)
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_label("Mensaje", exact=True), problems)
    page.keyboard.type("Hola desde el teclado")
    page.keyboard.press("Enter")
    expect(page.locator(".bubble-assistant")).to_have_count(1, timeout=15_000)
    expect(page.get_by_role("button", name="Regenerar")).to_be_visible(timeout=15_000)

    # regenerate, then copy the answer
    tab_to(page, page.get_by_role("button", name="Regenerar"), problems, key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Mensaje", exact=True)).to_be_focused()  # not lost with the button
    expect(page.get_by_role("button", name="Regenerar")).to_be_visible(timeout=15_000)

    # send a long answer and stop it from the keyboard
    app_server.standin.configure(tokens=400, tokens_per_second=20, first_token_delay=0.5)
    try:
        page.keyboard.type("Una respuesta larga, por favor")
        page.keyboard.press("Enter")
        stop = page.get_by_role("button", name="Detener")
        expect(stop).to_be_visible()
        tab_to(page, stop, problems)
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Enviar")).to_be_visible(timeout=10_000)
        expect(page.get_by_label("Mensaje", exact=True)).to_be_focused()
    finally:
        app_server.standin.reset()
    tab_to(page, page.get_by_role("button", name="Copiar texto").last, problems, key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Texto copiado.").first).to_be_visible()

    # a dialog: focus inside, trapped, Escape closes it, focus back on its trigger
    rename = page.get_by_role("button", name="Renombrar")
    tab_to(page, rename, problems, key="Shift+Tab")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    for _ in range(5):
        page.keyboard.press("Tab")
        assert dialog.evaluate(HAS_FOCUS), "focus left the open dialog"
        problem = page.evaluate(FOCUS_PROBLEM)
        if problem:
            problems.append(problem)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(rename).to_be_focused()
    visit.screenshot("keyboard-dashboard")

    # the conversation drawer at phone width: a dialog too
    page.set_viewport_size({"width": 390, "height": 844})
    opener = page.get_by_role("button", name="Ver conversaciones")
    expect(opener).to_be_visible()
    tab_to(page, opener, problems, key="Shift+Tab")
    page.keyboard.press("Enter")
    drawer = page.get_by_role("dialog", name="Conversaciones")
    expect(drawer).to_be_visible()
    for _ in range(4):
        page.keyboard.press("Tab")
        assert drawer.evaluate(HAS_FOCUS), "focus left the open drawer"
    visit.screenshot("keyboard-drawer")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(opener).to_be_focused()
    page.set_viewport_size({"width": 1280, "height": 800})

    # /admin from the top bar, then a user from the list
    tab_to(page, page.get_by_role("link", name="Administración"), problems, key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/?$"))
    search = page.get_by_label("Buscar usuarios")
    expect(search).to_be_visible()
    tab_to(page, search, problems)
    page.keyboard.type("administrador@alvaradomazzei.cl")
    me = page.locator(".admin-user").filter(has_text="Administrador Demo")
    expect(me).to_have_count(1)
    tab_to(page, me, problems)
    page.keyboard.press("Enter")
    conversation = page.locator(".admin-conversation").filter(has_text="Hola desde el teclado")
    expect(conversation).to_have_count(1)
    tab_to(page, conversation, problems)
    page.keyboard.press("Enter")
    expect(page.locator(".admin-message").first).to_be_visible()
    visit.screenshot("keyboard-admin")

    # reassign it: the confirmation dialog, its select, then back to the page
    reassign = page.get_by_role("button", name="Reasignar", exact=True)
    tab_to(page, reassign, problems)
    page.keyboard.press("Enter")
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_be_visible()
    check(page, "admin, reassign dialog", widths=WIDTHS[:1])
    target = confirm.get_by_role("combobox", name="Usuario de destino")
    tab_to(page, target, problems)
    page.keyboard.press("Enter")
    expect(page.get_by_role("listbox")).to_be_visible()
    tab_to(
        page, page.get_by_role("option", name=re.compile("Supervisor Demo")), [], key="ArrowDown"
    )
    page.keyboard.press("Enter")
    expect(target).to_contain_text("Supervisor Demo")
    tab_to(page, confirm.get_by_role("button", name="Reasignar"), problems)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Conversación reasignada.").first).to_be_visible()
    expect(confirm).to_be_hidden()
    expect(page.locator("#admin-conversations")).to_contain_text("Supervisor Demo")

    # log out through the user menu
    menu = page.get_by_role("button", name="Menú de usuario")
    tab_to(page, menu, problems, key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("menu")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_role("menuitem", name="Cerrar sesión")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/login"))

    assert not problems, "focus not visible:\n" + "\n".join(dict.fromkeys(problems))

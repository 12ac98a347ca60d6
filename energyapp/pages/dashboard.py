"""/dashboard: conversations on the left (a drawer on phones), the chat on the right."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from energyapp.components.layout import selectable_item
from energyapp.components.markdown import safe_markdown
from energyapp.components.shell import signed_in_page
from energyapp.services import limits
from energyapp.states.auth import AuthState
from energyapp.states.chat import ChatState, LiveAnswerState

SIDEBAR_WIDTH = "280px"


# --- sidebar -----------------------------------------------------------------------------------
def _conversation_item(item: ObjectVar[dict[str, str]]) -> rx.Component:
    active = ChatState.active_id.to_string() == item["id"]
    return selectable_item(
        rx.text(
            item["title"],
            size="2",
            weight=rx.cond(active, "bold", "regular"),
            style={"overflow": "hidden", "text_overflow": "ellipsis", "white_space": "nowrap"},
        ),
        rx.text(item["time"], size="1", color_scheme="gray"),
        selected=active,
        on_click=[ChatState.open_conversation(item["id"]), ChatState.close_drawer],
        class_name="conversation-item",
        padding="8px 10px",
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.button(
            rx.icon("plus", size=16),
            "Nueva conversación",
            width="100%",
            on_click=[ChatState.new_conversation, ChatState.close_drawer],
        ),
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            placeholder="Buscar…",
            value=ChatState.search,
            on_change=ChatState.set_search.debounce(250),
            width="100%",
            aria_label="Buscar conversaciones",
        ),
        rx.cond(
            ChatState.list_loaded,
            rx.cond(
                ChatState.conversations.length() > 0,
                rx.vstack(
                    rx.foreach(ChatState.conversations, _conversation_item),
                    spacing="1",
                    width="100%",
                    id="conversation-list",
                ),
                rx.text(
                    rx.cond(
                        ChatState.search != "",
                        "Sin resultados para esa búsqueda.",
                        "Aún no tienes conversaciones.",
                    ),
                    size="2",
                    color_scheme="gray",
                    padding="8px",
                ),
            ),
            rx.center(rx.spinner(), width="100%", padding="1rem"),
        ),
        spacing="3",
        padding="12px",
        width="100%",
        height="100%",
        overflow_y="auto",
    )


def phone_drawer() -> rx.Component:
    """On narrow screens the conversation list slides over the chat, behind a menu button: a
    Radix dialog, so focus stays inside, Escape closes it and focus returns to the button."""
    return rx.box(
        rx.dialog.root(
            rx.dialog.trigger(
                rx.icon_button(
                    rx.icon("menu", size=18),
                    variant="ghost",
                    color_scheme="gray",
                    aria_label="Ver conversaciones",
                ),
            ),
            rx.dialog.content(
                rx.hstack(
                    rx.dialog.title("Conversaciones", size="3", margin="0"),
                    rx.spacer(),
                    rx.dialog.close(
                        rx.icon_button(
                            rx.icon("x", size=16),
                            variant="ghost",
                            color_scheme="gray",
                            aria_label="Cerrar",
                        ),
                    ),
                    padding="12px 12px 0",
                    align="center",
                ),
                sidebar(),
                aria_describedby=None,
                position="fixed",
                top="0",
                left="0",
                bottom="0",
                height="100dvh",
                max_height="100dvh",
                width="85vw",
                max_width="320px",
                padding="0",
                border_radius="0",
                background=rx.color("gray", 2),
                display="flex",
                flex_direction="column",
            ),
            open=ChatState.drawer_open,
            on_open_change=ChatState.set_drawer_open,
        ),
        display=["block", "block", "none"],
    )


# --- transcript --------------------------------------------------------------------------------
def _message_actions(message: ObjectVar[dict[str, str]], is_last: rx.Var[bool]) -> rx.Component:
    return rx.hstack(
        rx.text(message["time"], size="1", color_scheme="gray"),
        rx.tooltip(
            rx.icon_button(
                rx.icon("copy", size=12),
                size="1",
                variant="ghost",
                color_scheme="gray",
                aria_label="Copiar texto",
                min_width="24px",  # WCAG 2.5.8: a 24 px target
                min_height="24px",
                on_click=[rx.set_clipboard(message["content"]), rx.toast.info("Texto copiado.")],
            ),
            content="Copiar",
        ),
        rx.cond(
            is_last & (message["role"] == "assistant") & ~ChatState.sending,
            rx.button(
                rx.icon("refresh_cw", size=12),
                "Regenerar",
                size="1",
                variant="ghost",
                color_scheme="gray",
                # the button goes away while the answer streams: focus moves to the composer
                on_click=[ChatState.regenerate, rx.set_focus("composer")],
            ),
        ),
        spacing="2",
        align="center",
    )


def _bubble(message: ObjectVar[dict[str, str]], index: rx.Var[int]) -> rx.Component:
    is_user = message["role"] == "user"
    is_last = index == ChatState.messages.length() - 1
    body = rx.cond(
        is_user,
        rx.text(message["content"], white_space="pre-wrap", size="3"),
        safe_markdown(message["content"]),
    )
    note = rx.cond(
        message["note"] != "",
        rx.callout(
            rx.hstack(
                rx.text(message["note"], size="2"),
                rx.cond(
                    is_last & ~ChatState.sending & (message["status"] != "streaming"),
                    rx.button(
                        "Reintentar",
                        size="1",
                        variant="soft",
                        on_click=[ChatState.regenerate, rx.set_focus("composer")],
                    ),
                ),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            icon="triangle_alert",
            color_scheme=rx.cond(message["status"] == "error", "red", "amber"),
            size="1",
            width="100%",
        ),
    )
    return rx.vstack(
        rx.box(
            body,
            padding="10px 14px",
            border_radius="14px",
            background=rx.cond(is_user, rx.color("accent", 4), rx.color("gray", 1)),
            border=rx.cond(is_user, "none", f"1px solid {rx.color('gray', 5)}"),
            max_width="min(100%, 760px)",
            overflow_x="auto",
            class_name=rx.cond(is_user, "bubble bubble-user", "bubble bubble-assistant"),
        ),
        note,
        _message_actions(message, is_last),
        align=rx.cond(is_user, "end", "start"),
        spacing="1",
        width="100%",
        data_status=message["status"],
    )


def _live_bubble() -> rx.Component:
    return rx.cond(
        LiveAnswerState.active,
        rx.box(
            rx.cond(
                LiveAnswerState.waiting,
                rx.hstack(
                    rx.spinner(size="1"),
                    rx.text("escribiendo…", size="2", color_scheme="gray"),
                    align="center",
                    id="typing-indicator",
                    role="status",
                ),
                rx.fragment(
                    safe_markdown(LiveAnswerState.frozen), safe_markdown(LiveAnswerState.tail)
                ),
            ),
            padding="10px 14px",
            border_radius="14px",
            background=rx.color("gray", 1),
            border=f"1px solid {rx.color('gray', 5)}",
            max_width="min(100%, 760px)",
            id="live-answer",
            class_name="bubble bubble-assistant",
            # outside the log below: screen readers hear the answer once, when it is appended
            aria_busy="true",
        ),
    )


def _empty_chat() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("sparkles", size=36, color=rx.color("accent", 9)),
            rx.heading(
                "¿En qué te ayudo hoy, ", AuthState.user_name, "?", size="5", align="center"
            ),
            rx.text(
                "Tus mensajes se quedan en el servidor de la empresa.",
                size="2",
                color_scheme="gray",
                align="center",
            ),
            align="center",
            spacing="2",
        ),
        height="100%",
        padding="2rem",
    )


def transcript() -> rx.Component:
    return rx.auto_scroll(
        rx.cond(
            ChatState.messages_loading,
            rx.center(rx.spinner(size="3"), height="100%"),
            rx.cond(
                (ChatState.messages.length() == 0) & ~LiveAnswerState.active,
                _empty_chat(),
                rx.vstack(
                    # The finished messages, each appended once: a polite live region (role
                    # "log") announces a new answer when it is complete, never token by token.
                    rx.vstack(
                        rx.foreach(ChatState.messages, _bubble),
                        spacing="4",
                        width="100%",
                        role="log",
                        aria_live="polite",
                        aria_relevant="additions",
                        aria_label="Historial del chat",
                    ),
                    _live_bubble(),
                    spacing="4",
                    width="100%",
                    max_width="820px",
                    margin_x="auto",
                    padding="1rem",
                    id="transcript",
                ),
            ),
        ),
        flex="1",
        width="100%",
        min_height="0",
    )


# --- composer and header --------------------------------------------------------------------
def composer() -> rx.Component:
    too_long = ChatState.draft.length() > ChatState.max_chars
    return rx.box(
        rx.cond(
            ChatState.error != "",
            rx.callout(
                ChatState.error,
                icon="triangle_alert",
                color_scheme="red",
                size="1",
                margin_bottom="8px",
                role="alert",
            ),
        ),
        rx.form(
            rx.hstack(
                rx.text_area(
                    name="draft",
                    value=ChatState.draft,
                    on_change=ChatState.set_draft,
                    placeholder="Escribe tu mensaje… (Enter envía, Shift+Enter nueva línea)",
                    enter_key_submit=True,
                    auto_height=True,
                    rows="1",
                    max_height="200px",
                    width="100%",
                    size="3",
                    aria_label="Mensaje",
                    id="composer",
                ),
                rx.cond(
                    ChatState.sending,
                    rx.button(
                        rx.icon("square", size=16),
                        "Detener",
                        type="button",
                        color_scheme="red",
                        variant="soft",
                        size="3",
                        on_click=[ChatState.stop, rx.set_focus("composer")],
                    ),
                    rx.button(
                        rx.icon("send_horizontal", size=16),
                        "Enviar",
                        type="submit",
                        size="3",
                        disabled=too_long | ~rx.State.is_hydrated,
                    ),
                ),
                align="end",
                spacing="2",
                width="100%",
            ),
            on_submit=ChatState.send_message,
            reset_on_submit=False,
            width="100%",
        ),
        rx.hstack(
            rx.text(
                "El modelo puede equivocarse: verifica la información importante.",
                size="1",
                color_scheme="gray",
                display=["none", "block"],
            ),
            rx.spacer(),
            rx.text(
                ChatState.draft.length(),
                " / ",
                ChatState.max_chars,
                size="1",
                color_scheme=rx.cond(too_long, "red", "gray"),
                id="char-counter",
            ),
            width="100%",
            padding_top="4px",
        ),
        width="100%",
        max_width="820px",
        margin_x="auto",
        padding="0.75rem 1rem 1rem",
    )


def _rename_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(
                rx.icon("pencil", size=14),
                variant="ghost",
                color_scheme="gray",
                aria_label="Renombrar",
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Renombrar conversación"),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="title",
                        value=ChatState.rename_value,
                        on_change=ChatState.set_rename_value,
                        max_length=limits.TITLE,
                        width="100%",
                        aria_label="Nuevo título",
                        auto_focus=True,
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button(
                                "Cancelar", variant="soft", color_scheme="gray", type="button"
                            )
                        ),
                        rx.dialog.close(rx.button("Guardar", type="submit")),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=ChatState.rename,
                reset_on_submit=False,
            ),
            max_width="420px",
        ),
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.icon_button(
                rx.icon("trash_2", size=14),
                variant="ghost",
                color_scheme="red",
                aria_label="Eliminar",
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("¿Eliminar esta conversación?"),
            rx.alert_dialog.description("Se borrarán todos sus mensajes. No se puede deshacer."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancelar", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Eliminar",
                        color_scheme="red",
                        high_contrast=True,  # white on red 9 is 3.9:1
                        on_click=ChatState.delete_active,
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="1rem",
            ),
            max_width="420px",
        ),
    )


def model_picker() -> rx.Component:
    """Only when settings allow choosing: the models Ollama has (from /api/tags)."""
    return rx.cond(
        ChatState.models.length() > 1,
        rx.select.root(
            # the name on the trigger (the combobox), not on the root
            rx.select.trigger(variant="soft", aria_label="Modelo"),
            rx.select.content(
                rx.foreach(ChatState.models, lambda name: rx.select.item(name, value=name))
            ),
            value=ChatState.model,
            on_change=ChatState.set_model,
            size="1",
            disabled=ChatState.sending,
        ),
    )


def chat_header() -> rx.Component:
    return rx.hstack(
        rx.heading(
            rx.cond(ChatState.active_id > 0, ChatState.active_title, "Nueva conversación"),
            size="3",
            id="chat-title",
            style={"overflow": "hidden", "text_overflow": "ellipsis", "white_space": "nowrap"},
        ),
        rx.spacer(),
        model_picker(),
        rx.cond(
            ChatState.active_id > 0,
            rx.hstack(
                _rename_dialog(),
                rx.tooltip(
                    # a plain <a>: /api is not a client-side route
                    rx.el.a(
                        rx.icon_button(
                            rx.icon("download", size=14),
                            variant="ghost",
                            color_scheme="gray",
                            aria_label="Exportar",
                            tab_index=-1,
                        ),
                        href="/api/conversations/"
                        + ChatState.active_id.to_string()
                        + "/export?format=md",
                        download=True,
                        display="flex",
                    ),
                    content="Exportar en Markdown",
                ),
                _delete_dialog(),
                spacing="3",
                align="center",
            ),
        ),
        padding="10px 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        width="100%",
        align="center",
        min_height="48px",
    )


@rx.page(
    route="/dashboard",
    title="Conversaciones · EnergyApp",
    on_load=[AuthState.guard_user, ChatState.load],
)
def dashboard_page() -> rx.Component:
    return signed_in_page(
        rx.hstack(
            rx.box(
                sidebar(),
                width=SIDEBAR_WIDTH,
                flex_shrink="0",
                height="100%",
                border_right=f"1px solid {rx.color('gray', 4)}",
                background=rx.color("gray", 2),
                display=["none", "none", "block"],
            ),
            rx.vstack(
                chat_header(),
                transcript(),
                composer(),
                spacing="0",
                flex="1",
                height="100%",
                min_width="0",
                background=rx.color("gray", 1),
            ),
            spacing="0",
            width="100%",
            flex="1",
            min_height="0",
        ),
        phone_drawer(),
    )

"""/admin: users | conversations | messages, reassignment, user management, and the audit trail.
Admins and supervisors only (the guard sends everyone else away before rendering)."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from energyapp.components.layout import selectable_item
from energyapp.components.markdown import safe_markdown
from energyapp.components.shell import role_badge, signed_in_page
from energyapp.domain.roles import Role, role_label
from energyapp.states.admin import AdminState
from energyapp.states.auth import AuthState


def _column(
    title: rx.Component, body: rx.Component, *actions: rx.Component, column_id: str
) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                title,
                rx.spacer(),
                rx.hstack(*actions, spacing="2"),
                align="center",
                width="100%",
                min_height="32px",
                wrap="wrap",
                gap="2",
            ),
            rx.divider(),
            rx.box(body, overflow_y="auto", flex="1", min_height="0", width="100%"),
            spacing="2",
            height="100%",
        ),
        height=["auto", "auto", "100%"],
        max_height=["60vh", "60vh", "none"],
        min_height="0",
        id=column_id,
    )


def _empty(text: str) -> rx.Component:
    return rx.center(
        rx.text(text, size="2", color_scheme="gray", align="center"), padding="2rem 1rem"
    )


def _more(show: rx.Var[bool], on_click: rx.EventHandler) -> rx.Component:
    return rx.cond(
        show, rx.button("Cargar más", variant="soft", size="1", width="100%", on_click=on_click)
    )


# --- users ---------------------------------------------------------------------------------
def _user_item(user: ObjectVar[dict[str, str]]) -> rx.Component:
    return selectable_item(
        rx.hstack(
            rx.text(user["name"], weight="medium", size="2"),
            role_badge(user["role"], user["role_label"]),
            rx.cond(user["active"] == "", rx.badge("Inactivo", color_scheme="gray")),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.hstack(
            rx.text(user["email"], size="1", color_scheme="gray"),
            rx.spacer(),
            rx.text(user["count"], " conv.", size="1", color_scheme="gray"),
            width="100%",
        ),
        selected=AdminState.selected_user_id.to_string() == user["id"],
        on_click=AdminState.select_user(user["id"]),
        class_name="admin-user",
    )


def users_column() -> rx.Component:
    return _column(
        rx.heading("Usuarios", size="3"),
        rx.vstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                placeholder="Buscar usuario…",
                value=AdminState.user_search,
                on_change=AdminState.search_users.debounce(250),
                width="100%",
                aria_label="Buscar usuarios",
            ),
            rx.cond(
                AdminState.users_loaded,
                rx.cond(
                    AdminState.users.length() > 0,
                    rx.vstack(rx.foreach(AdminState.users, _user_item), spacing="1", width="100%"),
                    _empty("Ningún usuario coincide."),
                ),
                rx.center(rx.spinner(), padding="1rem"),
            ),
            _more(AdminState.users_more, AdminState.more_users),
            spacing="2",
            width="100%",
        ),
        column_id="admin-users",
    )


# --- conversations ---------------------------------------------------------------------------
def _target_picker() -> rx.Component:
    return rx.select.root(
        rx.select.trigger(
            placeholder="Elige el usuario de destino", width="100%", aria_label="Usuario de destino"
        ),
        rx.select.content(
            rx.foreach(
                AdminState.targets,
                lambda t: rx.select.item(t["label"], value=t["id"]),
            )
        ),
        value=AdminState.reassign_to,
        on_change=AdminState.set_reassign_to,
        name="to_user",
    )


def _confirm_dialog(
    trigger: rx.Component,
    title: str,
    description: str | rx.Var,
    confirm_label: str,
    on_confirm: rx.EventHandler,
) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(description, size="2"),
            rx.box(_target_picker(), margin_y="1rem"),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancelar", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        confirm_label, on_click=on_confirm, disabled=AdminState.reassign_to == ""
                    )
                ),
                justify="end",
                spacing="3",
            ),
            max_width="460px",
        ),
    )


def _manage_dialog() -> rx.Component:
    user = AdminState.selected_user
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(
                rx.icon("user_cog", size=14),
                "Gestionar",
                size="1",
                variant="soft",
                on_click=AdminState.load_user_sessions,
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Gestionar a ", user["name"]),
            rx.vstack(
                rx.hstack(
                    rx.text("Rol", size="2", width="90px"),
                    rx.select.root(
                        rx.select.trigger(aria_label="Rol"),
                        rx.select.content(
                            *[rx.select.item(role_label(role), value=role.value) for role in Role]
                        ),
                        value=user["role"],
                        on_change=AdminState.set_role,
                    ),
                    align="center",
                ),
                rx.hstack(
                    rx.text("Activo", size="2", width="90px"),
                    rx.switch(
                        checked=user["active"] != "",
                        on_change=AdminState.set_active,
                        aria_label="Activo",
                    ),
                    align="center",
                ),
                rx.hstack(
                    rx.button(
                        "Reiniciar 2FA",
                        variant="soft",
                        color_scheme="orange",
                        size="2",
                        on_click=AdminState.reset_two_factor,
                        disabled=user["totp"] == "",
                    ),
                    rx.button(
                        "Desbloquear cuenta",
                        variant="soft",
                        size="2",
                        high_contrast=True,  # amber on soft amber is 4.2:1 in light mode
                        on_click=AdminState.unlock,
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
                rx.text("Sesiones activas", weight="bold", size="2"),
                rx.cond(
                    AdminState.user_sessions.length() > 0,
                    rx.vstack(
                        rx.foreach(
                            AdminState.user_sessions,
                            lambda s: rx.hstack(
                                rx.text(
                                    s["browser"], " · ", s["ip"], " · ", s["last_seen"], size="1"
                                ),
                                rx.spacer(),
                                rx.button(
                                    "Cerrar",
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=AdminState.revoke_user_session(s["id"]),
                                ),
                                width="100%",
                                align="center",
                            ),
                        ),
                        width="100%",
                        spacing="1",
                    ),
                    rx.text("Sin sesiones activas.", size="1", color_scheme="gray"),
                ),
                rx.dialog.close(rx.button("Listo", variant="soft", color_scheme="gray")),
                spacing="3",
                align="start",
                width="100%",
            ),
            max_width="480px",
        ),
    )


def _conversation_item(conversation: ObjectVar[dict[str, str]]) -> rx.Component:
    return selectable_item(
        rx.text(conversation["title"], size="2", weight="medium"),
        rx.hstack(
            rx.text(conversation["updated"], size="1", color_scheme="gray"),
            rx.spacer(),
            rx.text(conversation["count"], " mensajes", size="1", color_scheme="gray"),
            width="100%",
        ),
        selected=AdminState.selected_conversation_id.to_string() == conversation["id"],
        on_click=AdminState.select_conversation(conversation["id"]),
        class_name="admin-conversation",
    )


def conversations_column() -> rx.Component:
    has_user = AdminState.selected_user_id > 0
    return _column(
        rx.heading(rx.cond(has_user, AdminState.selected_user["name"], "Conversaciones"), size="3"),
        rx.cond(
            has_user,
            rx.vstack(
                rx.cond(
                    AdminState.conversations.length() > 0,
                    rx.vstack(
                        rx.foreach(AdminState.conversations, _conversation_item),
                        spacing="1",
                        width="100%",
                    ),
                    _empty("Este usuario no tiene conversaciones."),
                ),
                _more(AdminState.conversations_more, AdminState.more_conversations),
                width="100%",
            ),
            _empty("Elige un usuario para ver sus conversaciones."),
        ),
        rx.cond(
            has_user & (AdminState.conversations.length() > 0),
            _confirm_dialog(
                rx.button(rx.icon("users", size=14), "Reasignar todas", size="1", variant="soft"),
                "Reasignar todas las conversaciones",
                "Todas las conversaciones de este usuario pasarán al usuario que elijas. Cada "
                "movimiento queda registrado en la auditoría.",
                "Reasignar todas",
                AdminState.reassign_all,
            ),
        ),
        rx.cond(has_user & AdminState.is_admin, _manage_dialog()),
        column_id="admin-conversations",
    )


# --- messages --------------------------------------------------------------------------------
def _transcript_item(message: ObjectVar[dict[str, str]]) -> rx.Component:
    is_user = message["role"] == "user"
    return rx.vstack(
        rx.hstack(
            rx.badge(
                rx.cond(is_user, "Usuario", "Asistente"),
                color_scheme=rx.cond(is_user, "amber", "gray"),
            ),
            rx.text(message["time"], size="1", color_scheme="gray"),
            rx.cond(message["note"] != "", rx.badge(message["status"], color_scheme="red")),
            spacing="2",
            align="center",
        ),
        rx.box(
            rx.cond(
                is_user,
                rx.text(message["content"], white_space="pre-wrap", size="2"),
                safe_markdown(message["content"]),
            ),
            padding="8px 10px",
            border_radius="10px",
            width="100%",
            background=rx.cond(is_user, rx.color("accent", 3), rx.color("gray", 3)),
        ),
        spacing="1",
        width="100%",
        class_name="admin-message",
    )


def messages_column() -> rx.Component:
    has_conversation = AdminState.selected_conversation_id > 0
    return _column(
        rx.heading(
            rx.cond(has_conversation, AdminState.selected_conversation["title"], "Mensajes"),
            size="3",
        ),
        rx.cond(
            has_conversation,
            rx.cond(
                AdminState.messages_loading,
                rx.center(rx.spinner(), padding="1rem"),
                rx.vstack(
                    rx.foreach(AdminState.messages, _transcript_item), spacing="3", width="100%"
                ),
            ),
            _empty("Elige una conversación para leerla. Abrirla queda registrado."),
        ),
        rx.cond(
            has_conversation,
            _confirm_dialog(
                rx.button(rx.icon("arrow_right_left", size=14), "Reasignar", size="1"),
                "Reasignar conversación",
                "La conversación pasará al usuario que elijas. Ambos lo verán en su próxima carga.",
                "Reasignar",
                AdminState.reassign,
            ),
        ),
        column_id="admin-messages",
    )


# --- audit ------------------------------------------------------------------------------------
def audit_view() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.vstack(
                rx.text("Acción", size="1"),
                rx.select.root(
                    rx.select.trigger(aria_label="Acción"),
                    rx.select.content(
                        rx.foreach(
                            AdminState.audit_actions,
                            lambda a: rx.select.item(a["label"], value=a["value"]),
                        )
                    ),
                    value=AdminState.audit_action,
                    on_change=AdminState.set_audit_action,
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.text("Usuario (quién)", size="1"),
                rx.select.root(
                    rx.select.trigger(placeholder="Todos", aria_label="Usuario (quién)"),
                    rx.select.content(
                        rx.foreach(
                            AdminState.targets, lambda t: rx.select.item(t["label"], value=t["id"])
                        )
                    ),
                    value=AdminState.audit_actor,
                    on_change=AdminState.set_audit_actor,
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.text("Desde", size="1"),
                rx.input(
                    type="date",
                    value=AdminState.audit_from,
                    on_change=AdminState.set_audit_from,
                    aria_label="Desde",
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.text("Hasta", size="1"),
                rx.input(
                    type="date",
                    value=AdminState.audit_to,
                    on_change=AdminState.set_audit_to,
                    aria_label="Hasta",
                ),
                spacing="1",
            ),
            rx.button("Filtrar", on_click=AdminState.load_audit(False)),
            align="end",
            spacing="3",
            wrap="wrap",
        ),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Fecha", "Quién", "Acción", "Objeto", "Detalles", "IP")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        AdminState.audit_rows,
                        lambda row: rx.table.row(
                            rx.table.cell(row["time"], white_space="nowrap"),
                            rx.table.cell(row["actor"]),
                            rx.table.cell(row["action"]),
                            rx.table.cell(row["target"]),
                            rx.table.cell(row["details"]),
                            rx.table.cell(row["ip"]),
                            class_name="audit-row",
                        ),
                    )
                ),
                size="1",
                variant="surface",
                # as wide as its columns: the box below scrolls, not Radix's inner scroll area
                width="max-content",
                min_width="100%",
            ),
            overflow_x="auto",
            width="100%",
            # a scrolling region must be reachable with the keyboard (WCAG 2.1.1)
            tab_index=0,
            role="region",
            aria_label="Eventos de auditoría",
        ),
        rx.cond(AdminState.audit_rows.length() == 0, _empty("No hay eventos con esos filtros.")),
        _more(AdminState.audit_more, AdminState.more_audit),
        spacing="3",
        width="100%",
        padding="1rem",
        overflow_y="auto",
        flex="1",
    )


@rx.page(
    route="/admin",
    title="Administración · EnergyApp",
    on_load=[AuthState.guard_staff, AdminState.load],
)
def admin_page() -> rx.Component:
    return signed_in_page(
        rx.vstack(
            rx.hstack(
                rx.heading("Administración", size="5"),
                rx.spacer(),
                rx.segmented_control.root(
                    rx.segmented_control.item("Supervisión", value="oversight"),
                    rx.segmented_control.item("Auditoría", value="audit"),
                    value=AdminState.tab,
                    on_change=AdminState.show_tab,
                ),
                width="100%",
                align="center",
                padding="0.75rem 1rem 0",
                wrap="wrap",
            ),
            rx.cond(
                AdminState.error != "",
                rx.box(
                    rx.callout(
                        AdminState.error, icon="triangle_alert", color_scheme="red", role="alert"
                    ),
                    padding_x="1rem",
                    width="100%",
                ),
            ),
            rx.cond(
                AdminState.tab == "audit",
                audit_view(),
                rx.grid(
                    users_column(),
                    conversations_column(),
                    messages_column(),
                    columns=rx.breakpoints(initial="1", md="3"),
                    gap="3",
                    padding="1rem",
                    width="100%",
                    flex="1",
                    min_height="0",
                    style={
                        "grid_template_columns": [
                            "1fr",
                            "1fr",
                            "minmax(240px, 1fr) minmax(240px, 1fr) minmax(320px, 1.6fr)",
                        ]
                    },
                ),
            ),
            spacing="2",
            width="100%",
            flex="1",
            min_height="0",
        )
    )

"""/settings (password, two-step verification, sessions) and /setup-2fa (forced setup)."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from energyapp.components.layout import brand, centered_card, form_error, labeled_input
from energyapp.components.shell import role_badge, signed_in_page
from energyapp.domain.roles import Role
from energyapp.states.auth import AuthState
from energyapp.states.settings import SettingsState


def _section(title: str, icon: str, *children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.icon(icon, size=18), rx.heading(title, size="4"), align="center"),
            *children,
            spacing="3",
            width="100%",
        ),
        width="100%",
        size="3",
    )


def _success(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="check", color_scheme="green", width="100%", role="status"),
    )


def _account() -> rx.Component:
    return _section(
        "Cuenta",
        "user",
        rx.hstack(
            rx.text(AuthState.user_name, weight="bold"),
            role_badge(AuthState.user_role, AuthState.role_label),
            align="center",
        ),
        rx.text(AuthState.user_email, color_scheme="gray", size="2"),
        rx.cond(
            AuthState.user_role == Role.trabajador.value,
            rx.callout(
                "Los administradores y supervisores de la empresa pueden revisar tus "
                "conversaciones. Cada revisión queda registrada.",
                icon="eye",
                color_scheme="gray",
                size="1",
                width="100%",
            ),
        ),
    )


def _password() -> rx.Component:
    form = rx.form(
        rx.vstack(
            labeled_input(
                "Contraseña actual",
                "current_password",
                type="password",
                auto_complete="current-password",
                required=True,
            ),
            labeled_input(
                "Nueva contraseña",
                "new_password",
                type="password",
                auto_complete="new-password",
                required=True,
                hint=SettingsState.password_rule,
            ),
            labeled_input(
                "Repite la nueva contraseña",
                "new_confirmation",
                type="password",
                auto_complete="new-password",
                required=True,
            ),
            rx.button("Cambiar contraseña", type="submit", loading=SettingsState.password_busy),
            spacing="3",
            width="100%",
            align="start",
        ),
        on_submit=SettingsState.change_password,
        width="100%",
    )
    return _section(
        "Contraseña",
        "key_round",
        form_error(SettingsState.password_error),
        _success(SettingsState.change_notice),
        rx.cond(
            AuthState.can_change_password,
            form,
            rx.text(
                rx.cond(
                    AuthState.is_demo,
                    "Las cuentas de demostración no pueden cambiar su contraseña.",
                    "El cambio de contraseña no está disponible para el dominio de tu "
                    "correo. Pide ayuda a un administrador.",
                ),
                color_scheme="gray",
                size="2",
            ),
        ),
    )


def totp_setup_flow() -> rx.Component:
    """Scan the QR, confirm a code, then see the recovery codes once. Shared with /setup-2fa."""
    scan = rx.vstack(
        rx.text(
            "1. Escanea este código con tu aplicación de autenticación (Google "
            "Authenticator, Microsoft Authenticator, FreeOTP…).",
            size="2",
        ),
        rx.center(
            rx.image(
                src=SettingsState.qr_data_uri,
                alt="Código QR para la aplicación",
                width="200px",
                height="200px",
                border_radius="8px",
            ),
            width="100%",
        ),
        rx.text(
            "¿No puedes escanear? Escribe esta clave: ",
            rx.code(SettingsState.manual_secret),
            size="1",
            color_scheme="gray",
        ),
        rx.form(
            rx.vstack(
                labeled_input(
                    "2. Escribe el código de 6 dígitos",
                    "setup_code",
                    input_mode="numeric",
                    auto_complete="one-time-code",
                    placeholder="123456",
                    max_length=20,
                ),
                rx.hstack(
                    rx.button("Activar", type="submit", loading=SettingsState.totp_busy),
                    rx.button(
                        "Cancelar",
                        type="button",
                        variant="soft",
                        color_scheme="gray",
                        on_click=SettingsState.cancel_totp_setup,
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=SettingsState.confirm_totp_setup,
            width="100%",
        ),
        spacing="3",
        width="100%",
        on_unmount=SettingsState.forget_secrets,
    )
    codes = rx.vstack(
        rx.callout(
            "Guarda estos códigos de recuperación en un lugar seguro. Cada uno sirve una "
            "sola vez si pierdes tu teléfono. No volveremos a mostrarlos.",
            icon="triangle_alert",
            color_scheme="amber",
            width="100%",
        ),
        rx.grid(
            rx.foreach(
                SettingsState.recovery_codes,
                lambda code: rx.code(code, size="3", variant="outline"),
            ),
            columns="2",
            gap="2",
            width="100%",
            id="recovery-codes",
        ),
        rx.button("Ya los guardé", on_click=SettingsState.codes_saved),
        spacing="3",
        width="100%",
        on_unmount=SettingsState.forget_secrets,
    )
    return rx.match(
        SettingsState.totp_stage,
        ("scan", scan),
        ("codes", codes),
        rx.button("Activar verificación en dos pasos", on_click=SettingsState.start_totp_setup),
    )


def _two_factor() -> rx.Component:
    disable_form = rx.form(
        rx.vstack(
            rx.text(
                "Para desactivarla confirma tu contraseña y un código actual.",
                size="2",
                color_scheme="gray",
            ),
            labeled_input(
                "Contraseña",
                "disable_password",
                type="password",
                auto_complete="current-password",
                required=True,
            ),
            labeled_input(
                "Código de verificación",
                "disable_code",
                input_mode="numeric",
                auto_complete="one-time-code",
                required=True,
                max_length=20,
            ),
            rx.button(
                "Desactivar",
                type="submit",
                color_scheme="red",
                variant="soft",
                loading=SettingsState.totp_busy,
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        on_submit=SettingsState.disable_totp,
        width="100%",
    )
    return _section(
        "Verificación en dos pasos",
        "shield_check",
        form_error(SettingsState.totp_error),
        _success(SettingsState.totp_done),
        rx.cond(
            AuthState.totp_enabled & (SettingsState.totp_stage != "codes"),
            rx.vstack(
                rx.badge("Activada", color_scheme="green", size="2"),
                disable_form,
                spacing="3",
                width="100%",
            ),
            rx.vstack(
                rx.text(
                    "Protege tu cuenta con un código de tu teléfono además de la contraseña.",
                    size="2",
                    color_scheme="gray",
                ),
                totp_setup_flow(),
                spacing="3",
                width="100%",
            ),
        ),
    )


def _session_item(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.hstack(
        rx.icon("monitor_smartphone", size=20, color=rx.color("gray", 10)),
        rx.vstack(
            rx.hstack(
                rx.text(row["browser"], weight="medium", size="2"),
                rx.cond(row["current"] != "", rx.badge("Esta sesión", color_scheme="green")),
                rx.cond(row["api"] != "", rx.badge("API", color_scheme="blue")),
                align="center",
            ),
            rx.text(
                "IP ",
                row["ip"],
                " · última actividad ",
                row["last_seen"],
                size="1",
                color_scheme="gray",
            ),
            spacing="0",
            flex="1",
            min_width="0",
        ),
        rx.button(
            rx.cond(row["current"] != "", "Cerrar sesión", "Revocar"),
            size="1",
            variant="soft",
            color_scheme="red",
            on_click=SettingsState.revoke_session(row["id"]),
        ),
        align="center",
        width="100%",
        padding_y="6px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def _sessions() -> rx.Component:
    return _section(
        "Sesiones activas",
        "monitor_smartphone",
        form_error(SettingsState.sessions_error),
        rx.cond(
            SettingsState.sessions_loaded,
            rx.vstack(
                rx.foreach(SettingsState.session_rows, _session_item),
                spacing="0",
                width="100%",
                id="session-list",
            ),
            rx.spinner(),
        ),
        rx.cond(
            SettingsState.session_rows.length() > 1,
            rx.button(
                "Cerrar todas las demás sesiones",
                variant="outline",
                color_scheme="red",
                on_click=SettingsState.revoke_other_sessions,
            ),
        ),
    )


@rx.page(
    route="/settings",
    title="Ajustes · EnergyApp",
    on_load=[AuthState.guard_user, SettingsState.load],
)
def settings_page() -> rx.Component:
    return signed_in_page(
        rx.box(
            rx.vstack(
                rx.heading("Ajustes", size="6"),
                _account(),
                _password(),
                _two_factor(),
                _sessions(),
                spacing="4",
                width="100%",
                max_width="720px",
                margin_x="auto",
                padding="1rem",
            ),
            width="100%",
            overflow_y="auto",
            flex="1",
        )
    )


@rx.page(
    route="/setup-2fa",
    title="Activa la verificación en dos pasos · EnergyApp",
    on_load=[AuthState.guard_setup, SettingsState.resume_totp_setup],
)
def setup_two_factor_page() -> rx.Component:
    return rx.cond(
        AuthState.checked,
        centered_card(
            brand(),
            rx.heading("Activa la verificación en dos pasos", size="5"),
            rx.text("Tu cuenta la requiere antes de continuar.", color_scheme="gray", size="2"),
            form_error(SettingsState.totp_error),
            totp_setup_flow(),
            rx.button(
                "Cerrar sesión", variant="ghost", color_scheme="gray", on_click=AuthState.logout
            ),
            max_width="480px",
        ),
        rx.center(rx.spinner(size="3"), height="100dvh"),
    )

"""Operator commands: `python -m energyapp <command>` (see `--help`). Exit codes: 0 success,
1 the operation failed, 2 bad usage or configuration."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from energyapp.domain.roles import Role
from energyapp.file_modes import private_umask
from energyapp.settings import SettingsError, get_settings

if TYPE_CHECKING:
    from energyapp.services.admin import UserRow

Command = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A clear, one-line reason the command could not do its job (exit code 1)."""


def _password(args: argparse.Namespace) -> str:
    """From --password-env (an environment variable's name) or asked twice on the terminal."""
    if args.password_env:
        value = os.environ.get(args.password_env, "")
        if not value:
            raise CommandError(f"environment variable {args.password_env} is empty or unset")
        return value
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask the password: use --password-env VAR")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        raise CommandError("the passwords do not match")
    return first


def _find_user(email: str) -> UserRow:
    from energyapp.services import operations

    user = operations.find_user(email)
    if user is None:
        raise CommandError(f"no user with email {email}")
    return user


# --- commands --------------------------------------------------------------------------------
def cmd_check_config(_args: argparse.Namespace) -> int:
    settings = get_settings()
    print(
        f"OK: env={settings.env} db={settings.db_url.split('://')[0]} "
        f"ollama={', '.join(settings.ollama_endpoints())} model={settings.ollama_model} "
        f"workers={'redis' if settings.redis_url else 'single'}"
    )
    return 0


def cmd_check_ollama(_args: argparse.Namespace) -> int:
    from energyapp.services.health import check_ollama

    settings = get_settings()
    part = asyncio.run(check_ollama(settings, timeout=max(settings.health_timeout, 3.0)))
    for endpoint in part.extra.get("endpoints", []):
        state = "ok" if endpoint["ok"] else endpoint["detail"]
        print(f"  {endpoint['url']}: {state}")
    if part.ok:
        print(f"Ollama OK: model {settings.ollama_model} available")
        return 0
    print(f"Ollama NOT ready: {part.detail} (model {settings.ollama_model})", file=sys.stderr)
    return 1


def cmd_migrate(_args: argparse.Namespace) -> int:
    from energyapp.db.migrate import upgrade_to_head

    upgrade_to_head()
    print("Database schema is up to date.")
    return 0


def cmd_seed(_args: argparse.Namespace) -> int:
    from energyapp.services.seed import seed_demo_accounts

    created = seed_demo_accounts(get_settings())
    print(f"Demo accounts created: {', '.join(created)}" if created else "Nothing to seed.")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    return cmd_migrate(args) or cmd_seed(args)


def cmd_create_admin(args: argparse.Namespace) -> int:
    from energyapp.domain.errors import Conflict
    from energyapp.services import operations
    from energyapp.services.accounts import EMAIL_PATTERN, password_problem
    from energyapp.services.users import normalize_email

    email = normalize_email(args.email)
    if not EMAIL_PATTERN.fullmatch(email):
        raise CommandError(f"not a valid email: {args.email}")
    password = _password(args)
    if problem := password_problem(password, password):
        raise CommandError(problem)
    try:
        user = operations.create_admin(email, args.name, password)
    except Conflict:
        raise CommandError(f"a user with email {email} already exists") from None
    print(f"Admin {email} created (id {user.id}).")
    return 0


def cmd_reset_password(args: argparse.Namespace) -> int:
    from energyapp.services import operations
    from energyapp.services.accounts import password_problem

    user = _find_user(args.email)
    password = _password(args)
    if problem := password_problem(password, password):
        raise CommandError(problem)
    operations.reset_password(user.id, password)
    print(f"Password of {user.email} reset; all its sessions were closed.")
    return 0


def cmd_reset_2fa(args: argparse.Namespace) -> int:
    from energyapp.services import operations

    user = _find_user(args.email)
    operations.reset_two_factor(user.id)
    print(f"Two-step verification of {user.email} turned off.")
    return 0


def cmd_deactivate(args: argparse.Namespace) -> int:
    from energyapp.domain.errors import Conflict
    from energyapp.services import operations

    user = _find_user(args.email)
    try:
        operations.deactivate(user.id)
    except Conflict:
        raise CommandError("refusing to deactivate the last active admin") from None
    print(f"{user.email} deactivated and signed out everywhere.")
    return 0


def cmd_revoke_sessions(args: argparse.Namespace) -> int:
    from energyapp.services import operations

    user = _find_user(args.email)
    count = operations.revoke_sessions(user.id)
    print(f"{count} session(s) of {user.email} revoked, and every API token.")
    return 0


def cmd_list_users(args: argparse.Namespace) -> int:
    from energyapp.services import operations

    users = operations.list_users(args.role)
    print(f"{'id':>6}  {'role':<11} {'active':<6} {'2fa':<4} email")
    for user in users:
        print(
            f"{user.id:>6}  {user.role:<11} {'yes' if user.is_active else 'no':<6} "
            f"{'on' if user.totp_enabled else 'off':<4} {user.email}"
        )
    return 0


def cmd_reencrypt_secrets(_args: argparse.Namespace) -> int:
    """Rewrite every encrypted value under the current secret_key (after a rotation)."""
    from energyapp.services import operations

    done = operations.reencrypt_totp_secrets()
    print(f"{done.rotated} TOTP secret(s) re-encrypted with the current secret_key.")
    if done.failed:
        raise CommandError(
            f"{done.failed} TOTP secret(s) open with no configured key: add the key "
            "they were encrypted with to previous_secret_keys and run again"
        )
    return 0


def cmd_verify_audit(_args: argparse.Namespace) -> int:
    from energyapp.services import operations

    report = operations.verify_audit()
    if not report.intact:
        raise CommandError(
            f"audit chain broken at row {report.broken_id}: {report.problem} "
            f"({report.rows} row(s) before it are intact)"
        )
    if report.last_id is None:
        print("Audit chain intact: no rows yet.")
    else:
        print(
            f"Audit chain intact: {report.rows} row(s), last id {report.last_id}, "
            f"last row_hash {report.last_hash}."
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m energyapp", description="EnergyApp operator commands."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def add(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    add("check-config", cmd_check_config, "validate the settings and print a summary")
    add("check-ollama", cmd_check_ollama, "check Ollama and the configured model")
    add("migrate", cmd_migrate, "apply database migrations (alembic upgrade head)")
    add("seed", cmd_seed, "create the demo accounts when enabled")
    add("setup", cmd_setup, "migrate, then seed")
    for name, handler, help_text in (
        ("create-admin", cmd_create_admin, "create an admin account"),
        ("reset-password", cmd_reset_password, "set a user's password; closes its sessions"),
    ):
        command = add(name, handler, help_text)
        command.add_argument("email")
        if name == "create-admin":
            command.add_argument("--name", default="Administrador")
        command.add_argument(
            "--password-env", metavar="VAR", help="read the password from this environment variable"
        )
    for name, handler, help_text in (
        ("reset-2fa", cmd_reset_2fa, "turn a user's two-step verification off"),
        ("deactivate", cmd_deactivate, "deactivate a user and sign it out everywhere"),
        ("revoke-sessions", cmd_revoke_sessions, "sign a user out everywhere"),
    ):
        add(name, handler, help_text).add_argument("email")
    add("list-users", cmd_list_users, "list users").add_argument(
        "--role", choices=[role.value for role in Role]
    )
    add(
        "reencrypt-secrets",
        cmd_reencrypt_secrets,
        "re-encrypt stored TOTP secrets with the current secret_key (after rotating it)",
    )
    add(
        "verify-audit",
        cmd_verify_audit,
        "check the audit trail's hash chain; exit code 1 names the first broken row",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    private_umask()  # before anything creates a file (the dev secret, the database, logs)
    try:
        settings = get_settings()
        from energyapp.logging_setup import configure_logging

        configure_logging(settings, to_stdout=False)
        return args.handler(args)
    except SettingsError as error:
        print(f"EnergyApp: invalid configuration: {error}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - e.g. the database is down: one clear line
        print(f"error: {type(error).__name__}: {str(error).splitlines()[0][:300]}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

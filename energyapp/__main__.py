"""Operator commands: `python -m energyapp <command>`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from energyapp.settings import SettingsError, get_settings


def _cmd_check_config(_args: argparse.Namespace) -> int:
    settings = get_settings()
    print(f"OK: env={settings.env} db={settings.db_url.split('://')[0]} "
          f"ollama={settings.ollama_url} model={settings.ollama_model}")
    return 0


def _cmd_migrate(_args: argparse.Namespace) -> int:
    from energyapp.db.migrate import upgrade_to_head

    upgrade_to_head()
    print("Database schema is up to date.")
    return 0


def _cmd_seed(_args: argparse.Namespace) -> int:
    from energyapp.services.seed import seed_demo_accounts

    created = seed_demo_accounts(get_settings())
    print(f"Demo accounts created: {', '.join(created)}" if created else "Nothing to seed.")
    return 0


def _cmd_setup(args: argparse.Namespace) -> int:
    return _cmd_migrate(args) or _cmd_seed(args)


def _cmd_check_ollama(_args: argparse.Namespace) -> int:
    from energyapp.services.health import check_ollama

    settings = get_settings()
    part = asyncio.run(check_ollama(settings, timeout=max(settings.health_timeout, 3.0)))
    if part.ok:
        print(f"Ollama OK at {settings.ollama_url}: version {part.extra.get('version')}, "
              f"model {settings.ollama_model} present")
        return 0
    print(f"Ollama NOT ready at {settings.ollama_url}: {part.detail} "
          f"(model {settings.ollama_model})", file=sys.stderr)
    return 1


COMMANDS = {
    "check-config": (_cmd_check_config, "validate the settings and print a summary"),
    "check-ollama": (_cmd_check_ollama, "check the Ollama connection and the configured model"),
    "migrate": (_cmd_migrate, "apply database migrations (alembic upgrade head)"),
    "seed": (_cmd_seed, "create the demo accounts when enabled"),
    "setup": (_cmd_setup, "migrate, then seed"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m energyapp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (handler, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text).set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        get_settings()
        from energyapp.logging_setup import configure_logging

        configure_logging(get_settings())
        return args.handler(args)
    except SettingsError as error:
        print(f"EnergyApp: invalid configuration: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

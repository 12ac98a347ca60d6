"""Reflex configuration, derived from EnergyApp's settings (config/settings.yaml + ENERGYAPP_*)."""

import os
import sys

# No data leaves the server: no telemetry, no update checks (also when run without `make`).
os.environ.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
os.environ.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
# With several workers (Redis), a worker keeps the lock on a tab's state for a few seconds and
# updates its own copy, instead of a Redis lock, read and write at every flush of a streaming
# answer (the CPU it saves: docs/benchmarks.md, Targets, "UI per 1,000 tokens").
# Another worker that needs the state asks for it and gets it flushed.
os.environ.setdefault("REFLEX_OPLOCK_ENABLED", "true")

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

from energyapp.settings import SettingsError, get_settings

try:
    settings = get_settings()
except SettingsError as error:
    print(f"EnergyApp: invalid configuration: {error}", file=sys.stderr)
    raise SystemExit(2) from None

config = rx.Config(
    app_name="energyapp",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    disable_plugins=[SitemapPlugin],
    api_url=str(settings.public_url).rstrip("/"),
    deploy_url=str(settings.public_url).rstrip("/"),
    # Loopback by default: in production only Caddy reaches the app (docs/deployment.md).
    backend_host=settings.bind_host,
    backend_port=settings.port,
    frontend_port=settings.port,
    cors_allowed_origins=settings.allowed_origins,
    # Reflex would believe X-Forwarded-For from any peer; states get the client address from
    # energyapp.auth.client_address instead, which trusts only `trusted_proxies`.
    trusted_proxy_hops=0,
    # With Redis, Reflex keeps UI state there and runs several workers (GRANIAN_WORKERS).
    redis_url=settings.redis_url or None,
    default_color_mode="system",
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(
                appearance="inherit",
                accent_color="amber",
                gray_color="sand",
                radius="medium",
                has_background=True,
            )
        )
    ],
)

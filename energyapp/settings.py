"""Typed settings: `config/settings.yaml`, then `.env`, then `ENERGYAPP_*` environment variables.

Every business rule (domains, demo accounts, limits) lives here, never as a literal in code.
A bad value raises `SettingsError` with one line naming the setting; entry points print that
line and exit instead of showing a traceback.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from energyapp.domain.roles import Role

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_DIR / "config" / "settings.yaml"
SAMPLE_SECRET = "cambia_esto_tambien"  # noqa: S105 - the value we refuse
MIN_SECRET_LENGTH = 32
SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


class DemoAccount(BaseModel):
    model_config = {"extra": "forbid"}

    email: str
    password: str
    name: str
    role: Role


def _comma_list(value: Any) -> Any:
    """Accept `a,b` from the environment as well as YAML/JSON lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return yaml.safe_load(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENERGYAPP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",  # .env also holds REFLEX_* and other tools' variables
        validate_default=True,
    )

    # --- runtime -------------------------------------------------------------------------
    env: Literal["development", "production"] = "development"
    public_url: AnyHttpUrl = AnyHttpUrl("http://localhost:8000")
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = PROJECT_DIR / "data"
    db_url: str = ""  # empty: SQLite file under data_dir
    # Used only by `python -m energyapp migrate`: the same database as a role that owns the
    # tables, while db_url's role only reads and writes rows (docs/deployment.md). Empty: db_url.
    migrate_db_url: str = ""
    # Longest wait for the database (connect, one statement, a lock, a pool slot); past it the
    # request fails as "database unavailable" (503), never hangs (docs/operations.md).
    db_timeout_seconds: float = Field(10.0, gt=0, le=300)
    db_retry_after_seconds: int = Field(5, ge=1, le=3600)  # Retry-After of those 503s
    # An answer whose final save failed is kept in memory and saved again this long.
    answer_repair_seconds: int = Field(600, ge=1)
    secret_key: SecretStr | None = None
    # After a rotation: the old secret_key value(s), so secrets encrypted at rest still open
    # (comma list, newest first); drop them once `reencrypt-secrets` has run.
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = []
    allowed_origins: CommaList = []  # empty: only public_url
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    # X-Forwarded-For/-Proto count only from a direct peer in this list (addresses or CIDRs).
    trusted_proxies: CommaList = ["127.0.0.1", "::1"]
    # Listening address. Loopback: only Caddy (or a browser on this machine) reaches the app.
    bind_host: str = "127.0.0.1"
    # OpenAPI pages (/api/docs, /api/redoc, /api/openapi.json); "auto": on except in production.
    api_docs: bool | Literal["auto"] = "auto"
    redis_url: str = ""  # set: several workers share state through Redis
    # Threads for blocking work (database, bcrypt) per worker. Python's default is
    # cpu_count + 4 (6 on 2 cores), which queues database calls behind each other under load.
    blocking_threads: int = Field(32, ge=4, le=256)
    timezone: str = "America/Santiago"  # how times are shown to users

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (e.g. America/Santiago, UTC)") from None
        return value

    # --- logging -------------------------------------------------------------------------
    log_dir: Path = PROJECT_DIR / "logs"
    log_to_file: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_max_bytes: int = Field(10 * 1024 * 1024, ge=10_000)
    log_backup_count: int = Field(5, ge=1, le=100)
    # "auto": rotate in-process with one worker; with several (redis_url set) every worker
    # appends and logrotate rotates (deploy/logrotate.conf), so no line is lost or split.
    log_rotation: Literal["auto", "internal", "external"] = "auto"

    # --- Ollama --------------------------------------------------------------------------
    ollama_url: AnyHttpUrl = AnyHttpUrl("http://localhost:11434")
    ollama_extra_urls: Annotated[list[AnyHttpUrl], NoDecode] = []  # more servers, same model
    ollama_retry_dead_seconds: float = Field(30.0, gt=0)  # a refused server rests this long
    ollama_model: str = Field("qwen2.5:3b-instruct", min_length=1)
    ollama_connect_timeout: float = Field(5.0, gt=0)
    ollama_read_timeout: float = Field(120.0, gt=0)
    health_timeout: float = Field(1.5, gt=0, le=10)
    allow_model_choice: bool = False
    system_prompt: str = (
        "Eres un asistente útil para el personal de la empresa. Responde siempre en "
        "español, de forma clara y concisa."
    )
    context_max_messages: int = Field(20, ge=1)  # the user's message always goes
    context_max_chars: int = Field(12_000, ge=0)
    max_message_chars: int = Field(8_000, ge=1)
    max_answer_seconds: int = Field(600, ge=1)  # a stream nobody stops ends by itself
    stream_flush_ms: int = Field(50, ge=10, le=1000)  # UI updates batched this often
    stream_save_seconds: float = Field(1.5, gt=0)  # partial answer saved this often
    stream_stale_seconds: int = Field(90, ge=10)  # "streaming" older than this = interrupted
    conversations_page_size: int = Field(50, ge=5, le=500)

    # --- accounts and business rules --------------------------------------------------------
    seed_demo_accounts: bool = True
    demo_accounts: list[DemoAccount] = []
    password_change_domains: CommaList = ["inacapmail.cl"]
    totp_autosetup_domains: CommaList = ["inacapmail.cl"]
    totp_required_roles: list[Role] = []
    password_min_length: int = Field(8, ge=6, le=72)
    bcrypt_rounds: int = Field(12, ge=4, le=16)
    # New passwords containing it (ignoring case, spaces, punctuation) are refused; "": no rule.
    company_name: str = Field("EnergyApp", max_length=100)

    # --- sessions and tokens ---------------------------------------------------------------
    session_cookie_name: str = "energyapp_session"
    session_idle_minutes: int = Field(8 * 60, ge=1)
    session_absolute_hours: int = Field(7 * 24, ge=1)
    access_token_minutes: int = Field(15, ge=1)
    refresh_token_days: int = Field(14, ge=1)
    login_ticket_seconds: int = Field(60, ge=5, le=600)

    # --- two-factor authentication -----------------------------------------------------------
    totp_issuer: str = "EnergyApp"
    totp_pending_minutes: int = Field(5, ge=1, le=30)  # the half-logged-in step after password
    recovery_code_count: int = Field(10, ge=4, le=20)

    # --- abuse limits (failed attempts within the window, per account and per IP) --------------
    login_max_failures_per_account: int = Field(5, ge=1)
    # Loose on purpose: many people share one office NAT address, and each of them may mistype;
    # the per-account limit is what protects a password, this one stops a spray from one address.
    login_max_failures_per_ip: int = Field(100, ge=1)
    totp_max_failures: int = Field(5, ge=1)
    lockout_minutes: int = Field(15, ge=1)
    register_max_per_ip: int = Field(30, ge=1)  # new accounts per IP per hour
    # Password hashes (logins, registrations, changes) that may wait for a core per worker;
    # past it the request is refused at once with 503 + Retry-After. Default: 4 × cores.
    password_hash_queue: int = Field(default_factory=lambda: 4 * (os.cpu_count() or 1), ge=0)
    rate_limit_storage_url: str = "memory://"  # redis://host:6379/1 with several workers

    @field_validator(
        "allowed_origins",
        "password_change_domains",
        "totp_autosetup_domains",
        "ollama_extra_urls",
        "previous_secret_keys",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _check_proxies(cls, value: Any) -> Any:
        import ipaddress

        value = _comma_list(value)
        for entry in value if isinstance(value, list) else []:
            try:
                ipaddress.ip_network(str(entry).strip(), strict=False)
            except ValueError:
                raise ValueError(f"'{entry}' is not an IP address or CIDR") from None
        return value

    @field_validator("api_docs", mode="before")
    @classmethod
    def _check_api_docs(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if isinstance(value, bool) or text == "auto":
            return value if isinstance(value, bool) else "auto"
        if text in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return text in ("true", "1", "yes", "on")
        raise ValueError("must be true, false or auto")

    @field_validator("bind_host")
    @classmethod
    def _check_bind_host(cls, value: str) -> str:
        import ipaddress

        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("must be an IP address (127.0.0.1, 0.0.0.0, ::)") from None

    @field_validator("password_change_domains", "totp_autosetup_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.lower().lstrip("@") for d in value]

    @field_validator("db_url", "migrate_db_url")
    @classmethod
    def _check_db_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg2:")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return normalize_db_url(value)

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if not self.db_url:
            self.db_url = f"sqlite:///{self.data_dir / 'energyapp.db'}"
        if not self.allowed_origins:
            self.allowed_origins = [_origin(str(self.public_url))]
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Later sources lose: environment beats .env, which beats the YAML file.
        return (init_settings, env_settings, dotenv_settings, YamlFileSource(settings_cls))

    # --- derived values ----------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_https(self) -> bool:
        return str(self.public_url).startswith("https://")

    @property
    def session_cookie(self) -> str:
        """The session cookie's name as sent: `__Host-` + name over https (the browser then
        demands Secure, Path=/ and no Domain, so no subdomain can plant or shadow it)."""
        return f"__Host-{self.session_cookie_name}" if self.uses_https else self.session_cookie_name

    @property
    def api_docs_enabled(self) -> bool:
        return (not self.is_production) if self.api_docs == "auto" else bool(self.api_docs)

    @property
    def external_log_rotation(self) -> bool:
        return self.log_rotation == "external" or (
            self.log_rotation == "auto" and bool(self.redis_url)
        )

    def ollama_endpoints(self) -> list[str]:
        """Every configured Ollama base URL, the main one first, without duplicates."""
        urls = [str(u).rstrip("/") for u in (self.ollama_url, *self.ollama_extra_urls)]
        return list(dict.fromkeys(urls))

    def secret(self) -> str:
        assert self.secret_key is not None, "load_settings() resolves the secret"
        return self.secret_key.get_secret_value()


def normalize_db_url(url: str) -> str:
    """SQLAlchemy 2.1 maps `postgresql://` to psycopg 3; EnergyApp ships psycopg2."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def _origin(url: str) -> str:
    return url.rstrip("/")


class YamlFileSource(PydanticBaseSettingsSource):
    """Reads `config/settings.yaml` (or `ENERGYAPP_CONFIG_FILE`) and rejects unknown keys."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = Path(os.environ.get("ENERGYAPP_CONFIG_FILE") or DEFAULT_CONFIG_FILE)
        self.data = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise SettingsError(f"{self.path}{where}: malformed YAML") from None
        if not isinstance(data, dict):
            raise SettingsError(f"{self.path}: must be a mapping of setting: value")
        unknown = sorted(set(data) - set(self.settings_cls.model_fields))
        if unknown:
            raise SettingsError(f"{self.path}: unknown setting '{unknown[0]}'")
        return data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def _resolve_secret(settings: Settings) -> None:
    """Production demands a real secret; development keeps a generated one in a 0600 file."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if settings.is_production:
        if not secret:
            raise SettingsError("secret_key: required in production (ENERGYAPP_SECRET_KEY)")
        if secret == SAMPLE_SECRET:
            raise SettingsError("secret_key: still the sample value; generate a real one")
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"secret_key: must be at least {MIN_SECRET_LENGTH} characters")
        return
    if secret:
        return
    path = settings.data_dir / SECRET_FILE_NAME
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    settings.secret_key = SecretStr(path.read_text().strip())


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "settings"
    return f"{name}: {first['msg']} (ENERGYAPP_{str(first['loc'][0]).upper()} or settings.yaml)"


def load_settings(**overrides: Any) -> Settings:
    """Build and check the settings; raises `SettingsError` with one line on any problem."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    _resolve_secret(settings)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()

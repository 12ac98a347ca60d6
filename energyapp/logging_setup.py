"""Logs: `auth.log`, `audit.log` and `app.log` with size-based rotation, plus stdout for journald.

One event per line: `time level logger event key=value ...`. Secrets never reach a log: fields
with sensitive names are masked and token-shaped text is scrubbed by a filter on every handler.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from logging.handlers import RotatingFileHandler, WatchedFileHandler
from typing import Any, TextIO

from energyapp.file_modes import private_dir, private_file, protect_runtime_files, tighten
from energyapp.settings import Settings

AUTH_LOGGER = "energyapp.auth"
AUDIT_LOGGER = "energyapp.audit"
APP_LOGGER = "energyapp"

# Field names whose values are credentials: "password", "refresh_token", "totp_code", ...
# but not measurements such as "first_token_ms".
_SENSITIVE_KEY = re.compile(
    r"(pass(word)?|passwd|token|secret|cookie|code|hash|authorization|credentials?)$|^totp", re.I
)
_SECRET_PATTERNS = [
    re.compile(r"eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]*"),  # JWTs
    re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+"),
    re.compile(
        r"(?i)((?:password|passwd|secret|token|totp|cookie)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
    ),
]
_REDACTED = "[redacted]"
_configured_for: tuple | None = None


# Every control character (C0, DEL, C1) and the Unicode line/paragraph separators: written raw,
# they would forge lines or drive a terminal reading the log (ESC sequences, BEL).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """Control characters as visible escapes: \\n, \\r, \\t, else \\uXXXX."""
    return _CONTROL.sub(lambda m: _SHORT_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def scrub(text: str) -> str:
    """Mask anything that looks like a credential inside free text."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + _REDACTED, text)
    return text


def _format_value(key: str, value: Any) -> str:
    if _SENSITIVE_KEY.search(key):
        return _REDACTED
    text = escape_controls(scrub(str(value)).replace("\\", "\\\\"))
    if not text or any(c in text for c in ' "='):
        text = '"' + text.replace('"', '\\"') + '"'
    return text


def format_event(event: str, fields: dict[str, Any]) -> str:
    parts = [event] + [f"{k}={_format_value(k, v)}" for k, v in fields.items() if v is not None]
    return " ".join(parts)


def log_event(logger_name: str, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event, e.g. `log_event(AUTH_LOGGER, "login_failed", email=e, ip=ip)`."""
    logging.getLogger(logger_name).log(level, format_event(event, fields))


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = escape_controls(scrub(message))
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class _OnlyApp(logging.Filter):
    """app.log gets everything except what auth.log and audit.log already hold."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith((AUTH_LOGGER, AUDIT_LOGGER))


class _Formatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        self.converter = time.gmtime  # UTC timestamps (the "Z" above)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is now (journald under systemd; captured in tests)."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class _TracksWriteFailures(logging.Handler):
    """Remembers whether its last write failed (disk full, permissions, a removed directory),
    for /api/health (`write_failures`); the next write that works clears it."""

    write_failure: str | None = None
    _failed = False
    baseFilename: str  # noqa: N815 - from the FileHandler this is mixed into

    def handle(self, record: logging.LogRecord) -> bool:  # 3.12+: the record for True
        lock = self.lock
        assert lock is not None  # Handler.__init__ created it
        with lock:  # an RLock: Handler.handle takes it again around emit()
            self._failed = False
            emitted = super().handle(record)
            if emitted and not self._failed:
                self.write_failure = None
        return emitted

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self._failed = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or str(error)[:100]
        self.write_failure = f"{type(error).__name__}: {reason}" if error else "write failed"
        super().handleError(record)


class _RotatingFileHandler(_TracksWriteFailures, RotatingFileHandler):
    pass


class _LineWatchedFileHandler(_TracksWriteFailures, WatchedFileHandler):
    """Appends each record with a single write() (O_APPEND: lines from several processes
    never interleave) and reopens the file when logrotate has moved it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record) + self.terminator).encode("utf-8", "replace")
            self.reopenIfNeeded()
            if self.stream is None:
                self.stream = self._open()
            self.stream.flush()
            os.write(self.stream.fileno(), line)
        except Exception:  # noqa: BLE001 - logging must never raise into the app
            self.handleError(record)


def _file_handler(settings: Settings, file_name: str) -> logging.Handler:
    path = private_file(settings.log_dir / file_name)  # 0600; rotation renames keep the mode
    for backup in settings.log_dir.glob(f"{file_name}.*"):
        tighten(backup, 0o600)
    if settings.external_log_rotation:
        return _LineWatchedFileHandler(path, encoding="utf-8")
    return _RotatingFileHandler(
        path,
        maxBytes=settings.log_max_bytes,
        backupCount=settings.log_backup_count,
        encoding="utf-8",
    )


def write_failures() -> dict[str, str]:
    """Log files whose last write failed, with the reason; empty when every write works."""
    failures = {}
    for name in (APP_LOGGER, AUTH_LOGGER, AUDIT_LOGGER):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, _TracksWriteFailures) and handler.write_failure:
                failures[os.path.basename(handler.baseFilename)] = handler.write_failure
    return failures


def configure_logging(settings: Settings, *, to_stdout: bool = True) -> None:
    """Idempotent per process and settings; safe to call from every entry point."""
    global _configured_for
    key = (
        settings.log_to_file,
        str(settings.log_dir),
        settings.log_level,
        settings.log_max_bytes,
        settings.log_backup_count,
        settings.external_log_rotation,
        to_stdout,
    )
    if _configured_for == key:
        return
    # Every entry point (server, CLI) starts here: from now on the process creates private
    # files only (database side files, Reflex's .states, logs).
    protect_runtime_files(settings.data_dir, settings.log_dir if settings.log_to_file else None)
    formatter, scrubber = _Formatter(), _ScrubFilter()
    root = logging.getLogger(APP_LOGGER)
    for name in (APP_LOGGER, AUTH_LOGGER, AUDIT_LOGGER):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
    root.setLevel(settings.log_level)
    root.propagate = False

    if to_stdout:
        stdout = _StdoutHandler()
        stdout.setFormatter(formatter)
        stdout.addFilter(scrubber)
        root.addHandler(stdout)

    if settings.log_to_file:
        private_dir(settings.log_dir)
        for logger_name, file_name in (
            (APP_LOGGER, "app.log"),
            (AUTH_LOGGER, "auth.log"),
            (AUDIT_LOGGER, "audit.log"),
        ):
            handler = _file_handler(settings, file_name)
            handler.setFormatter(formatter)
            handler.addFilter(scrubber)
            if logger_name == APP_LOGGER:
                handler.addFilter(_OnlyApp())
            logging.getLogger(logger_name).addHandler(handler)
    _configured_for = key

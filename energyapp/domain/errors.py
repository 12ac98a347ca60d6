"""Domain errors. Each carries a Spanish message for the user and an HTTP status for the API;
the UI shows the message, the API answers `{"detail": message}` with the status."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidInput(ServiceError):  # noqa: N818 - reads as a domain outcome
    status = 422


class NotAuthenticated(ServiceError):  # noqa: N818
    status = 401


class Forbidden(ServiceError):  # noqa: N818
    status = 403


class NotFound(ServiceError):  # noqa: N818
    status = 404


class Conflict(ServiceError):  # noqa: N818
    status = 409


class Throttled(ServiceError):  # noqa: N818
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, code="throttled")
        self.retry_after = max(1, retry_after)


BUSY = "El servidor está ocupado; inténtalo de nuevo en unos segundos."


class Busy(ServiceError):  # noqa: N818
    """Too much work of this kind is already queued (password hashing); refused at once so
    the caller's thread and connection are not held, with the seconds to wait."""

    status = 503

    def __init__(self, message: str = BUSY, *, retry_after: int) -> None:
        super().__init__(message, code="busy")
        self.retry_after = max(1, retry_after)


DATABASE_UNAVAILABLE = (
    "La base de datos no está disponible en este momento. Inténtalo de nuevo en unos segundos."
)


class DatabaseUnavailable(ServiceError):  # noqa: N818
    """The database is unreachable, stalled, read-only, locked or full (energyapp.db.failures):
    nothing the caller did wrong, worth retrying after `retry_after` seconds."""

    status = 503

    def __init__(self, message: str = DATABASE_UNAVAILABLE, *, retry_after: int = 5) -> None:
        super().__init__(message, code="database_unavailable")
        self.retry_after = max(1, retry_after)

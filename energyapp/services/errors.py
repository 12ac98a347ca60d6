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

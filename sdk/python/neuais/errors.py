"""Typed errors: every error answer of the API is a NeuaisError carrying the
contract's code, message, details and the HTTP status."""

from __future__ import annotations

from typing import Any


class NeuaisError(Exception):
    """An error answer of the API (or, as ConnectionError, no answer)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, status: int = 0) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.status = status

    @property
    def field(self) -> str | None:
        """The request field the error is about, when it names one."""
        f = self.details.get("field")
        return f if isinstance(f, str) else None


class InvalidRequestError(NeuaisError):
    pass


class UnauthorizedError(NeuaisError):
    pass


class ForbiddenError(NeuaisError):
    pass


class NotFoundError(NeuaisError):
    pass


class WaitTimeoutError(NeuaisError):
    """A wait ended at its timeout; details["status"] is where the agent is."""


class ConflictError(NeuaisError):
    pass


class PreconditionFailedError(NeuaisError):
    """A stale If-Match."""


class RateLimitError(NeuaisError):
    @property
    def retry_after(self) -> int | None:
        r = self.details.get("retry_after")
        return r if isinstance(r, int) else None


class InternalError(NeuaisError):
    pass


class ServiceUnavailableError(NeuaisError):
    pass


class ConnectionError(NeuaisError):
    """The server could not be reached, or the connection broke."""

    def __init__(self, message: str) -> None:
        super().__init__("connection_error", message)


_BY_CODE: dict[str, type[NeuaisError]] = {
    "invalid_request": InvalidRequestError,
    "unauthorized": UnauthorizedError,
    "forbidden": ForbiddenError,
    "not_found": NotFoundError,
    "timeout": WaitTimeoutError,
    "conflict": ConflictError,
    "precondition_failed": PreconditionFailedError,
    "rate_limit_exceeded": RateLimitError,
    "internal_error": InternalError,
    "service_unavailable": ServiceUnavailableError,
}


def from_envelope(status: int, body: Any) -> NeuaisError:
    """The error of an answer with this status and decoded JSON body; a body
    that is not the contract's envelope is an internal_error."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("code"), str):
        return InternalError("internal_error", f"HTTP {status} without an error envelope", {}, status)
    details = err.get("details")
    cls = _BY_CODE.get(err["code"], NeuaisError)
    return cls(err["code"], str(err.get("message", "")), details if isinstance(details, dict) else {}, status)

"""The aidmp error tree.

Every error a user can cause is an :class:`AidmpError`. Each one also subclasses the matching
builtin (``ValueError``, ``KeyError``, ...) so ordinary ``except`` clauses keep working, and
carries the HTTP status the REST API answers with.

Example:
    >>> from aidmp.errors import ValidationError
    >>> err = ValidationError("must be a string", field="userId")
    >>> str(err)
    'userId: must be a string'
    >>> err.http_status
    400
"""

from __future__ import annotations


class AidmpError(Exception):
    """Base of every aidmp error; ``http_status`` is what the REST API answers with."""

    http_status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)

    def to_dict(self) -> dict[str, str]:
        """The JSON body the API returns for this error."""
        # "code" too: the Segment SDKs read {"code", "message"} from error answers.
        body = {"error": self.code, "code": self.code, "message": str(self)}
        if self.field:
            body["field"] = self.field
        return body


class ValidationError(AidmpError, ValueError):
    """Input that does not follow the rules: names the field and the problem."""

    http_status = 400
    code = "invalid_input"


class PayloadTooLarge(ValidationError):
    """A request body or a single event above the configured limit."""

    http_status = 413
    code = "payload_too_large"


class AuthError(AidmpError, PermissionError):
    """A missing, unknown or revoked key."""

    http_status = 401
    code = "unauthorized"


class RateLimitedError(AidmpError):
    """A key sent more requests than its rate limit allows; retry after ``retry_after`` s."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ForbiddenError(AidmpError, PermissionError):
    """A valid key whose scope does not allow the action."""

    http_status = 403
    code = "forbidden"


class NotFoundError(AidmpError, KeyError):
    """An object (table, key, quarantine record, file...) that does not exist."""

    http_status = 404
    code = "not_found"

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0] if self.args else self.message


class ConfigError(AidmpError, ValueError):
    """A configuration value that is not valid."""

    http_status = 400
    code = "invalid_config"


class EngineError(AidmpError, RuntimeError):
    """A failure inside the storage engine, wrapped with the step that ran."""

    http_status = 500
    code = "engine_error"

    def __init__(self, step: str, detail: str) -> None:
        self.step = step
        super().__init__(f"{step} failed: {detail}")


class BrokerError(AidmpError, ConnectionError):
    """The broker (Kafka, Redis) or a source database could not be reached or refused a write;
    nothing was acknowledged."""

    http_status = 503
    code = "unavailable"

"""The roots of every algovisor error.

    AlgovisorError
    ├── InvalidInputError      the caller sent something wrong      (HTTP 400/422, CLI exit 2)
    ├── NotFoundError          the thing asked for does not exist   (HTTP 404)
    ├── ConflictError          not allowed in the current state     (HTTP 409)
    ├── UnavailableError       a dependency (database...) is down   (HTTP 503)
    ├── AuthError              missing or wrong credentials         (HTTP 401)
    ├── ForbiddenError         known caller, request not allowed    (HTTP 403)
    └── RateLimitedError       too many attempts; retry later       (HTTP 429)

Each package subclasses these for its own errors; the API maps them to
status codes in one place (`algovisor.api.errors`). Every error carries a
message saying what was wrong and, where it helps, what to do.
"""

from __future__ import annotations


class AlgovisorError(Exception):
    """Base of all errors algovisor raises on purpose."""

    def __init__(
        self, message: str, *, detail: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        # The request field that was wrong (a form shows the message beside it), if one was.
        self.field = field


class InvalidInputError(AlgovisorError):
    """The request itself is wrong; repeating it unchanged will fail again."""


class NotFoundError(AlgovisorError):
    """The strategy, run, version or key named does not exist."""


class ConflictError(AlgovisorError):
    """The request is valid but not allowed in the current state."""


class UnavailableError(AlgovisorError):
    """A dependency is unreachable or busy; retrying later may succeed."""


class AuthError(AlgovisorError):
    """Credentials are missing or wrong."""


class ForbiddenError(AlgovisorError):
    """The caller is known but this request is refused (a write without its CSRF token)."""


class RateLimitedError(AlgovisorError):
    """Too many attempts (failed logins); the same request succeeds after a wait."""

    def __init__(self, message: str, *, retry_after_secs: int, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after_secs = retry_after_secs

"""The error tree. Whether an error is worth retrying is decided by its class.

    TrackerError
    ├── ConfigurationError          a setting is missing or malformed (names the variable)
    ├── ValidationError             input rejected (names the field); nothing is stored
    │   └── InvalidTrackingNumber
    ├── NotFoundError               an id that is not in the store
    ├── SecretUnreadable            a stored webhook secret no key of ours opens    retryable
    └── SourceError                 a tracking source failed (names the source)
        ├── SourceUnavailable       timeout, connection error, 5xx        retryable
        │   ├── RateLimited         429 / quota; carries retry_after        retryable
        │   └── CircuitOpen         the source's breaker is open            retryable
        ├── SourceAuthError         401/403: credentials wrong or missing
        ├── SourceRequestRejected   other 4xx: our request is wrong
        └── UnparseableResponse     a body we cannot read; keeps the raw body and the field

Foreign exceptions (requests, json, XML) are translated once, at the edge, with
`raise ... from exc`. A number a source does not know is *not* an error: it is a
`NumberResult` with outcome `not_found`.
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error this package raises on purpose."""

    retryable: bool = False


class ConfigurationError(TrackerError):
    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class ValidationError(TrackerError):
    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class InvalidTrackingNumber(ValidationError):
    def __init__(self, number: str, problem: str, field: str = "tracking_number") -> None:
        self.number = number
        super().__init__(field, f"{number!r} {problem}")


class NotFoundError(TrackerError):
    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!r} not found")


class SecretUnreadable(TrackerError):
    """An endpoint's signing secret is stored encrypted and TRACKER_SECRET_KEY cannot open it.

    Retryable: the row is intact, so once the operator sets the key that sealed it, signing
    works again. Never a reason to send unsigned, nor to blame the endpoint.
    """

    retryable = True

    def __init__(self, endpoint_id: str, problem: str) -> None:
        self.endpoint_id = endpoint_id
        self.problem = problem
        super().__init__(f"endpoint {endpoint_id}: {problem}")


class SourceError(TrackerError):
    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


class SourceUnavailable(SourceError):
    retryable = True


class RateLimited(SourceUnavailable):
    def __init__(self, source: str, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        suffix = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
        super().__init__(source, message + suffix)


class CircuitOpen(SourceUnavailable):
    def __init__(self, source: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(source, "circuit open after repeated failures")


class SourceAuthError(SourceError):
    pass


class SourceRequestRejected(SourceError):
    def __init__(self, source: str, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(source, message)


class UnparseableResponse(SourceError):
    """The source answered with something we cannot read. `raw` keeps the body."""

    def __init__(
        self,
        source: str,
        problem: str,
        raw: str | bytes | bytearray | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.raw = raw
        self.field = field
        where = f" at {field}" if field else ""
        super().__init__(source, f"unparseable response{where}: {problem}")

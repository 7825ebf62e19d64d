"""Structured logs for every process: one JSON object a line, with the context it was logged in.

    logs.configure(settings)                 # once, at process start (api, worker, beat, CLI)
    with logs.bind(order_id="A-1", source="cainiao"):
        log.info("polled")                   # {"ts": ..., "level": "INFO", "logger": ...,
                                             #  "message": "polled", "order_id": "A-1", ...}

Context lives in a `contextvars.ContextVar`, so it follows the code that bound it (a Celery task,
an API request) and never leaks into another thread's or task's lines. `extra={...}` fields of a
call are added too.

Secrets never reach the output: every rendered line (message, arguments, extra fields, context,
tracebacks) goes through a `Redactor` that removes the values of the settings' `Secret`s, bearer
tokens, `whsec_` webhook secrets and the values of credential headers (`17token`, `as-api-key`,
`Authorization`). Redacting the rendered line, not the record, is what makes it total: nothing
can be formatted into the line after the redactor ran.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any, Final

import orjson

from tracker.settings import Secret, Settings

REDACTED: Final = "[redacted]"
HANDLER_NAME: Final = "tracker"

# The default is shared by every context, so it is read-only; `push` always builds a new dict.
_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "tracker_log_context", default=MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

# Order matters: a bearer token inside an Authorization header is caught by the first pattern,
# and the header pattern then finds only "[redacted]" left to hide.
_PATTERNS: Final = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"whsec_[A-Za-z0-9+/=_-]*"),
    re.compile(
        r"""(?ix)
        # in a JSON line the quotes around a dict's repr arrive escaped: \"
        ((?:17token|as-api-key|authorization|x-api-key|api[-_]?key)
         \\?["']?\s*[:=]\s*\\?["']?)
        (?!\[redacted\])[^"'\\,\s}\]]+
        """
    ),
)
_MIN_SECRET_LENGTH: Final = 4  # shorter values would redact ordinary words


# ----------------------------------------------------------------------------- context


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside the block (nested blocks add to the outer)."""
    token = push(**fields)
    try:
        yield
    finally:
        reset(token)


def push(**fields: Any) -> Token[Mapping[str, Any]]:
    """`bind` for callers that can't use a with-block (signal handlers); undo with `reset`."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def reset(token: Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


def clear() -> None:
    """Forget all context (a pool process starting a task must not inherit a stale one)."""
    _context.set({})


def current() -> dict[str, Any]:
    return dict(_context.get())


# ----------------------------------------------------------------------------- redaction


class Redactor:
    """Removes secrets from text: known secret values first, then secret-shaped strings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret containing another is removed whole
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, values))) if values else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        return cls(secret_values(settings))

    def __call__(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(REDACTED, text)
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_prefix, text)
        return text


def _keep_prefix(match: re.Match[str]) -> str:
    prefix = match.group(1) if match.re.groups else ""
    return f"{prefix}{REDACTED}"


def secret_values(settings: Settings) -> list[str]:
    """Every `Secret` the settings hold, revealed (only to be hidden)."""
    found = [t.reveal() for t in settings.api_tokens]
    found += [s.key.reveal() for s in settings.sources.values() if isinstance(s.key, Secret)]
    found += [k.reveal() for k in settings.secret_keys]
    return found


# ----------------------------------------------------------------------------- formatting


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context bound when the record was made, then the call's `extra=` fields."""
    extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    return {**_context.get(), **extra}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, context and extra fields, exc."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        line = orjson.dumps(doc, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
        return self.redactor(line)


class TextFormatter(logging.Formatter):
    """`ts LEVEL logger: message key=value ...` for people reading a terminal."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if pairs:
            line = f"{line}  {pairs}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return self.redactor(line)


def formatter(settings: Settings) -> logging.Formatter:
    redactor = Redactor.from_settings(settings)
    if settings.log_format == "text":
        return TextFormatter(redactor)
    return JsonFormatter(redactor)


# ----------------------------------------------------------------------------- set-up


def configure(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records to `stream` (stderr) in the configured format and level.

    Idempotent: a second call replaces our handler instead of adding one, so a process that
    configures twice (Celery's setup signal, then a pool child) never prints a line twice.
    Handlers installed by others (uvicorn's, Celery's) are removed from the root logger so the
    stream has one format.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in ("urllib3", "kombu", "amqp", "asyncio", "multipart"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return handler

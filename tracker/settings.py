"""One Settings object, built from an injected environment mapping.

    settings = Settings.from_env(os.environ)

Every variable is read here and nowhere else. A bad value raises `ConfigurationError` naming
the variable, so a misconfigured process stops at start-up with one line, not a traceback deep
inside a task. Secrets (source keys, API tokens, TRACKER_SECRET_KEY) are `Secret`s: hidden from
`repr`, `str` and logs; `.reveal()` is the one way to read them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from tracker.deadlines import POLICIES, Policy, read_policies
from tracker.errors import ConfigurationError, ValidationError
from tracker.model import SOURCE_NAMES
from tracker.sources.base import RateLimit

PREFIX: Final = "TRACKER_"
DEFAULT_DATABASE_URL: Final = "sqlite:///./tracker.db"
DEFAULT_REDIS_URL: Final = "redis://localhost:6379/0"
DEFAULT_SOURCES: Final = ("cainiao", "17track")

# Variables that are not per-source. Anything else starting with TRACKER_ must be
# TRACKER_<SOURCE>_URL or TRACKER_<SOURCE>_KEY for a known source, or it is a typo.
_GENERAL: Final = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "WEBHOOK_ALLOW_PRIVATE",
        "API_TOKENS",
        "API_HOST",
        "API_PORT",
        "SOURCES",
        "DEADLINE_NEAR_DAYS",
        "STALLED_DAYS",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "LOOKUP_CACHE_SECONDS",
        "TEST_POSTGRES_URL",
        "REGEN_FIXTURES",
        "WORKER_CONCURRENCY",
        "VISIBILITY_TIMEOUT",
        "DEADLINE_SWEEP_SECONDS",
        "ANALYZE_WORKERS",
        "TEST_REDIS",
        "API_RATE_LIMIT",
        "SECRET_KEY",
        "SERVE_CHILD",
        "POLICIES_FILE",
    }
)
_SOURCE_VAR = re.compile(r"^(?P<source>[A-Z0-9]+)_(?P<kind>URL|KEY|RATE)$")
# What Kubernetes injects into every pod for each Service (service links): for a Service named
# `tracker` or `tracker-api`, TRACKER_SERVICE_HOST, TRACKER_API_SERVICE_PORT_HTTP,
# TRACKER_API_PORT=tcp://10.0.0.1:8000, TRACKER_API_PORT_8000_TCP_ADDR, ... Not settings of
# ours; refusing them would stop every pod of such a deployment.
_SERVICE_LINK_NAME = re.compile(
    r"^(?:[A-Z0-9_]+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?"
    r"|PORT_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)$"
)
_SERVICE_LINK_VALUE = re.compile(r"^(?:tcp|udp|sctp)://")  # TRACKER_<NAME>_PORT's value


def _service_link(name: str, value: str) -> bool:
    if _SERVICE_LINK_NAME.match(name):
        return True
    return (name == "PORT" or name.endswith("_PORT")) and bool(_SERVICE_LINK_VALUE.match(value))


_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


class Secret:
    """A value that never shows itself by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def env_name(source: str) -> str:
    """The environment infix of a source: `17track` -> `17TRACK`."""
    return source.upper()


@dataclass(frozen=True, slots=True)
class SourceSettings:
    url: str | None = None
    key: Secret | None = None
    rate: tuple[RateLimit, ...] | None = None  # overrides every window of the published quota


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    sources: Mapping[str, SourceSettings] = field(default_factory=dict)
    enabled_sources: tuple[str, ...] = DEFAULT_SOURCES
    webhook_allow_private: bool = False
    api_tokens: tuple[Secret, ...] = ()
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    deadline_near_days: int = 3
    stalled_days: int = 10
    lookup_cache_seconds: int = 300
    log_level: str = "INFO"
    log_format: str = "json"
    visibility_timeout: int = 3600
    api_rate_limit: str = "20/second"
    deadline_sweep_seconds: int = 60
    # Fernet keys for webhook secrets at rest (tracker.secretbox): the first seals, all open
    secret_keys: tuple[Secret, ...] = ()
    # set by `tracker serve` on its children: start-up notices are its to say, once
    serve_child: bool = False
    # protection policies by name: the built-in ones plus TRACKER_POLICIES_FILE's
    policies: Mapping[str, Policy] = field(default_factory=lambda: dict(POLICIES))

    def source(self, name: str) -> SourceSettings:
        return self.sources.get(name, SourceSettings())

    @property
    def rate_limits(self) -> dict[str, tuple[RateLimit, ...]]:
        """Quotas set in the environment (TRACKER_<SOURCE>_RATE), by source: each a tuple of
        windows, every one of which must grant a call."""
        return {name: s.rate for name, s in self.sources.items() if s.rate is not None}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        ours = {
            k[len(PREFIX) :]: v
            for k, v in env.items()
            if k.startswith(PREFIX) and not _service_link(k[len(PREFIX) :], v)
        }
        return cls(
            database_url=_database_url(ours.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
            redis_url=_redis_url(ours.get("REDIS_URL", DEFAULT_REDIS_URL)),
            sources=_source_settings(ours),
            enabled_sources=_source_list("SOURCES", ours.get("SOURCES"), DEFAULT_SOURCES),
            webhook_allow_private=_bool(
                "WEBHOOK_ALLOW_PRIVATE", ours.get("WEBHOOK_ALLOW_PRIVATE", "0")
            ),
            api_tokens=tuple(Secret(t) for t in _csv(ours.get("API_TOKENS", ""))),
            api_host=ours.get("API_HOST", "127.0.0.1"),
            api_port=_int("API_PORT", ours.get("API_PORT", "8000"), 1, 65535),
            deadline_near_days=_int(
                "DEADLINE_NEAR_DAYS", ours.get("DEADLINE_NEAR_DAYS", "3"), 0, 365
            ),
            stalled_days=_int("STALLED_DAYS", ours.get("STALLED_DAYS", "10"), 1, 365),
            lookup_cache_seconds=_int(
                "LOOKUP_CACHE_SECONDS", ours.get("LOOKUP_CACHE_SECONDS", "300"), 0, 86400
            ),
            log_level=_choice("LOG_LEVEL", ours.get("LOG_LEVEL", "INFO").upper(), _LOG_LEVELS),
            log_format=_choice(
                "LOG_FORMAT", ours.get("LOG_FORMAT", "json").lower(), ("json", "text")
            ),
            visibility_timeout=_int(
                "VISIBILITY_TIMEOUT", ours.get("VISIBILITY_TIMEOUT", "3600"), 5, 86400
            ),
            deadline_sweep_seconds=_int(
                "DEADLINE_SWEEP_SECONDS", ours.get("DEADLINE_SWEEP_SECONDS", "60"), 1, 86400
            ),
            api_rate_limit=_rate_limit("API_RATE_LIMIT", ours.get("API_RATE_LIMIT", "20/second")),
            secret_keys=_fernet_keys("SECRET_KEY", ours.get("SECRET_KEY", "")),
            serve_child=_bool("SERVE_CHILD", ours.get("SERVE_CHILD", "0")),
            policies=_policies("POLICIES_FILE", ours.get("POLICIES_FILE")),
        )


# ----------------------------------------------------------------------------- validators


def _fail(name: str, problem: str) -> ConfigurationError:
    return ConfigurationError(PREFIX + name, problem)


def _policies(name: str, path: str | None) -> dict[str, Policy]:
    if not path:
        return dict(POLICIES)
    try:
        return read_policies(path)
    except ValidationError as exc:
        raise _fail(name, str(exc).removeprefix("policies: ")) from None


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _database_url(value: str) -> str:
    from sqlalchemy.engine import make_url  # a URL grammar we should not re-implement
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise _fail("DATABASE_URL", f"not a database URL: {value!r}") from exc
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise _fail(
            "DATABASE_URL",
            f"unsupported database {url.get_backend_name()!r} "
            "(use sqlite:///path or postgresql+psycopg://user@host/db)",
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise _fail(
            "DATABASE_URL", "PostgreSQL URLs must use the psycopg driver: postgresql+psycopg://..."
        )
    return value


def _redis_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise _fail("REDIS_URL", f"not a Redis URL: {value!r} (expected redis://host:port/db)")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise _fail("REDIS_URL", f"bad port in {value!r}") from exc
    return value


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(name, f"not an http(s) URL: {value!r}")
    return value.rstrip("/")


def _source_settings(ours: Mapping[str, str]) -> dict[str, SourceSettings]:
    by_infix = {env_name(s): s for s in SOURCE_NAMES}
    found: dict[str, dict[str, str]] = {}
    for name, value in sorted(ours.items()):
        if name in _GENERAL:
            continue
        match = _SOURCE_VAR.match(name)
        close = difflib.get_close_matches(name, _GENERAL, n=1, cutoff=0.85)
        if close:
            raise _fail(name, f"unknown setting (did you mean {PREFIX}{close[0]}?)")
        if match is None:
            raise _fail(name, "unknown setting (see the README's configuration table)")
        infix = match["source"]
        if infix not in by_infix:
            raise _fail(
                name, f"unknown source {infix.lower()!r} (known: {', '.join(SOURCE_NAMES)})"
            )
        found.setdefault(by_infix[infix], {})[match["kind"]] = value
    return {
        source: SourceSettings(
            url=_http_url(f"{env_name(source)}_URL", kv["URL"]) if "URL" in kv else None,
            key=Secret(kv["KEY"]) if kv.get("KEY") else None,
            rate=_rate(f"{env_name(source)}_RATE", kv["RATE"]) if "RATE" in kv else None,
        )
        for source, kv in found.items()
    }


def _rate(name: str, value: str) -> tuple[RateLimit, ...]:
    """CALLS/SECONDS, or several such windows separated by commas (`1/1,250/86400`)."""
    windows = []
    for part in value.split(","):
        calls, _, period = part.strip().partition("/")
        try:
            limit = RateLimit(int(calls), float(period or "1"))
        except ValueError as exc:
            raise _fail(
                name, f"expected CALLS/SECONDS such as 3/1 or 1/1,250/86400, got {value!r}"
            ) from exc
        if limit.calls < 1 or limit.period <= 0:
            raise _fail(name, f"expected a positive quota such as 3/1, got {value!r}")
        windows.append(limit)
    return tuple(windows)


def _rate_limit(name: str, value: str) -> str:
    """A per-token API quota in `limits` notation ("20/second", "600/minute")."""
    from limits import parse

    try:
        parse(value)
    except ValueError as exc:
        raise _fail(
            name, f"expected a quota such as 20/second or 600/minute, got {value!r}"
        ) from exc
    return value


def _fernet_keys(name: str, value: str) -> tuple[Secret, ...]:
    """Comma-separated Fernet keys (32 bytes, url-safe base64). A bad one is named by its
    position, never echoed: it is a secret, and the error line goes to logs and terminals."""
    from cryptography.fernet import Fernet  # the format is Fernet's to check

    keys = _csv(value)
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError as exc:  # binascii.Error is a ValueError
            raise _fail(
                name,
                f"key {position} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded "
                "bytes, 44 characters; make one with `tracker webhooks new-secret-key`)",
            ) from exc
    return tuple(Secret(key) for key in keys)


def _source_list(name: str, value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    names = _csv(value)
    if not names:
        raise _fail(name, "empty list of sources")
    for source in names:
        if source not in SOURCE_NAMES:
            raise _fail(name, f"unknown source {source!r} (known: {', '.join(SOURCE_NAMES)})")
    return tuple(dict.fromkeys(names))


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise _fail(name, f"expected a boolean (1/0, true/false), got {value!r}")


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise _fail(name, f"expected an integer, got {value!r}") from exc
    if not low <= number <= high:
        raise _fail(name, f"must be between {low} and {high}, got {number}")
    return number


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(name, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value

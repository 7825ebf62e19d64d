"""Field readers for scenario files: each checks one value and names its JSON path on error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tracker.errors import ValidationError


class ScenarioError(ValidationError):
    """A scenario file that can't be used; `field` is the JSON path of the problem."""


def _obj(value: Any, path: str, keys: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(path, f"expected an object, got {_kind(value)}")
    unknown = sorted(set(value) - keys) if keys is not None else []
    if unknown:
        raise ScenarioError(
            _join(path, unknown[0]), f"unknown key (known: {', '.join(sorted(keys or ()))})"
        )
    return value


def _list(doc: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ScenarioError(_join(path, key), f"expected a list, got {_kind(value)}")
    return value


def _str_list(doc: Mapping[str, Any], key: str, path: str) -> list[str]:
    items = _list(doc, key, path)
    for i, item in enumerate(items):
        _need_str(item, f"{_join(path, key)}[{i}]")
    return list(items)


def _str(
    doc: Mapping[str, Any],
    key: str,
    path: str,
    *,
    required: bool = False,
    default: str | None = None,
) -> str | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise ScenarioError(_join(path, key), "required")
        return default
    return _need_str(value, _join(path, key))


def _need_str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(path, f"expected a non-empty string, got {_kind(value)}")
    return value


def _num(
    doc: Mapping[str, Any], key: str, path: str, *, required: bool = False, default: Any = 0.0
) -> Any:
    value = doc.get(key)
    if value is None:
        if required:
            raise ScenarioError(_join(path, key), "required")
        return default
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ScenarioError(_join(path, key), f"expected a number, got {_kind(value)}")
    return float(value)


def _choice(value: str, allowed: Mapping[str, Any] | Sequence[str], path: str) -> bool:
    if value not in allowed:
        raise ScenarioError(path, f"unknown value {value!r} (known: {', '.join(allowed)})")
    return True


def _instant(value: Any, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_need_str(value, path).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ScenarioError(path, f"not an ISO-8601 instant: {value!r}") from exc
    if moment.tzinfo is None:
        raise ScenarioError(path, f"needs a UTC offset: {value!r}")
    return moment.astimezone(UTC)


def _check_zone(name: str, path: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScenarioError(path, f"unknown time zone {name!r}") from exc


def _join(path: str, key: str) -> str:
    return key if path == "$" else f"{path}.{key}"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__

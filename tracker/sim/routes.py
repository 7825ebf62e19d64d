"""Which request is which: each source's real paths, mapped to the numbers asked for and the
renderer that answers them. Routing is by the prefix `/<source>/`; after it only the path's
tail is matched, so a base URL with or without the version segment both work
(`/17track/gettrackinfo` and `/17track/track/v2.4/gettrackinfo`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson

from tracker.sim import render, render_carriers
from tracker.sim.view import SourceView

Renderer = Callable[[Sequence[tuple[str, SourceView | None]]], render.Rendered]


@dataclass(frozen=True, slots=True)
class Route:
    numbers: tuple[str, ...]
    answer: Renderer
    registers: bool = False  # a call that registers its numbers (17TRACK `register`)


class BadRequest(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


Query = Mapping[str, list[str]]


def route(source: str, method: str, tail: str, query: Query, body: bytes) -> Route:
    """The route for a request to `/<source>/<tail>` (BadRequest if the source has no such
    call)."""
    handler = _ROUTERS.get(source)
    if handler is None:
        raise BadRequest(404, {"error": f"the simulator does not speak {source!r}"})
    return handler(method, tail, query, body)


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(n.strip() for v in values or () for n in v.split(",") if n.strip())


def _not_found(source: str, method: str, tail: str) -> BadRequest:
    return BadRequest(404, {"error": f"{source}: no route for {method} /{tail}"})


# ----------------------------------------------------------------------------- per source


def _seventeentrack(method: str, tail: str, query: Query, body: bytes) -> Route:
    match = re.fullmatch(r"(?:.*/)?(gettrackinfo|register|stoptrack|retrack)", tail)
    if method != "POST" or match is None:
        raise _not_found("17track", method, tail)
    try:
        items = orjson.loads(body or b"null")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            400,
            {
                "code": -18010001,
                "data": {"errors": [{"code": -18010001, "message": f"body is not JSON: {exc}"}]},
            },
        ) from exc
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("number"), str) for i in items
    ):
        raise BadRequest(
            400,
            {
                "code": -18010001,
                "data": {
                    "errors": [
                        {"code": -18010001, "message": "body must be a JSON array of {number}"}
                    ]
                },
            },
        )
    if len(items) > 40:
        raise BadRequest(
            200,
            {
                "code": 0,
                "data": {
                    "errors": [{"code": -18010014, "message": "more than 40 numbers in one call"}]
                },
            },
        )
    numbers = tuple(i["number"] for i in items)
    if match.group(1) == "register":
        return Route(numbers, render.seventeentrack_register, registers=True)
    return Route(numbers, render.seventeentrack)


def _cainiao(method: str, tail: str, query: Query, body: bytes) -> Route:
    if method != "GET" or not re.fullmatch(r"(?:.*/)?detail\.json", tail):
        raise _not_found("cainiao", method, tail)
    return Route(_split(query.get("mailNos")), render.cainiao)


def _aftership(method: str, tail: str, query: Query, body: bytes) -> Route:
    # the dated API (`/tracking/2024-04/...`) unless the path names the legacy `v4`
    versioned = not re.match(r"(?:.*/)?v4/", tail)
    one = re.fullmatch(r"(?:.*/)?trackings/([^/]+)(?:/([^/]+))?", tail)
    if method == "GET" and one is not None:
        number = unquote(one.group(2) or one.group(1))
        number = _from_id(number)
        return Route((number,), lambda b: render.aftership_one(b[0][1], b[0][0], versioned))
    if method == "GET" and re.fullmatch(r"(?:.*/)?trackings", tail):
        numbers = _split(query.get("tracking_numbers")) or _split(query.get("keyword"))
        return Route(numbers, lambda b: render.aftership_list(b, versioned))
    if method == "POST" and re.fullmatch(r"(?:.*/)?trackings", tail):
        number = _created_number(body)
        return Route((number,), lambda b: _created(b[0], versioned), registers=True)
    raise _not_found("aftership", method, tail)


def _from_id(ident: str) -> str:
    """A versioned-API tracking id back to its number (ids are the number, hex-encoded)."""
    if ident.startswith("sim") and len(ident) > 3:
        try:
            return bytes.fromhex(ident[3:]).decode()
        except (ValueError, UnicodeDecodeError):
            return ident
    return ident


def _created_number(body: bytes) -> str:
    try:
        doc = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            400, {"meta": {"code": 4001, "message": "Invalid JSON data."}, "data": {}}
        ) from exc
    tracking = doc.get("tracking", doc) if isinstance(doc, dict) else None
    number = tracking.get("tracking_number") if isinstance(tracking, dict) else None
    if not isinstance(number, str) or not number:
        raise BadRequest(
            400, {"meta": {"code": 4005, "message": "tracking_number is required"}, "data": {}}
        )
    return number


def _created(item: tuple[str, SourceView | None], versioned: bool) -> render.Rendered:
    requested, sview = item
    if sview is None:
        tracking = {
            "id": "sim" + requested.encode().hex(),
            "tracking_number": requested,
            "tag": "Pending",
            "subtag": "Pending_001",
            "checkpoints": [],
        }
    else:
        tracking = render.aftership_tracking(sview, versioned)
    return 201, {"meta": {"code": 201}, "data": tracking if versioned else {"tracking": tracking}}


def _usps(method: str, tail: str, query: Query, body: bytes) -> Route:
    if method == "POST" and re.fullmatch(r"(?:.*/)?oauth2/v3/token", tail):
        return Route(
            (),
            lambda b: (
                200,
                {
                    "access_token": "sim-usps-token",
                    "token_type": "Bearer",
                    "expires_in": 28799,
                    "scope": "tracking",
                },
            ),
        )
    one = re.fullmatch(r"(?:.*/)?tracking/([^/]+)", tail)
    if method != "GET" or one is None:
        raise _not_found("usps", method, tail)
    return Route((unquote(one.group(1)),), lambda b: render_carriers.usps(b[0][1], b[0][0]))


def _dhl(method: str, tail: str, query: Query, body: bytes) -> Route:
    if method != "GET" or not re.fullmatch(r"(?:.*/)?shipments", tail):
        raise _not_found("dhl", method, tail)
    numbers = _split(query.get("trackingNumber"))[:1]
    if not numbers:
        raise BadRequest(
            400, {"title": "Bad request", "status": 400, "detail": "trackingNumber is required"}
        )
    return Route(numbers, lambda b: render_carriers.dhl(b[0][1], b[0][0]))


_ROUTERS: dict[str, Callable[[str, str, Query, bytes], Route]] = {
    "17track": _seventeentrack,
    "cainiao": _cainiao,
    "aftership": _aftership,
    "usps": _usps,
    "dhl": _dhl,
}

"""Tracking numbers: normalise, validate, and guess which sources know a number.

- `normalise(raw)` folds a number into one spelling: Unicode NFKC (full-width "ＲＢ１２３"
  becomes "RB123"), whitespace and dashes removed, upper-case. It never refuses anything and
  is idempotent, so stored numbers and numbers read back from carrier payloads compare equal.
- `validate(raw)` is the gate for numbers that come from users and payloads (reliability.md
  SEC-5: reject, do not fix). It refuses NUL and control characters, and any non-ASCII
  character other than spacing or dashes, *before* folding: "ＲＢ１２３…" is refused although
  `normalise` would read it. What remains must match `^[A-Z0-9]{6,40}$`. A failed carrier
  check digit is never a reason to refuse: formats are hints, never a veto.
- `recognise(number)` lists `Hint`s, best first: which source is likely to know the number,
  by which format, how sure we are, and whether the format's check digit holds. A UPU S10
  item with a good check digit and a known country is near-certain; a bare 10-digit number
  that passes DHL's mod 7 is a weak hint (one in seven random numbers does). The aggregators
  (17track, aftership, ship24) follow every format at lower confidence, and are the only
  hint for a number no format describes.

Check digits as in carriers.md §6.1 (verified on jkeen/tracking_number_data test numbers).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tracker import countries
from tracker.errors import InvalidTrackingNumber
from tracker.model import SOURCE_NAMES

MIN_LENGTH = 6
MAX_LENGTH = 40
_RAW_LIMIT = 200  # spacing allowed around a 40-character number; bounds the work on junk
_SHOWN = 48  # characters of a refused number quoted in its error message
# Controls that are ordinary spacing in pasted text; others (\x1c-\x1f and \x85 count as
# whitespace to Python) are refused.
_SPACING_CONTROLS = frozenset("\t\n\r")


@dataclass(frozen=True, slots=True)
class Hint:
    source: str  # one of tracker.model.SOURCE_NAMES
    format: str  # e.g. "s10", "ups_1z", "usps_impb"; "unrecognised" for aggregator guesses
    confidence: float  # 0..1
    check_digit_ok: bool | None  # None: the format has no check digit


# -- normalise and validate --------------------------------------------------------------------


def _is_separator(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Pd"


def _fold_once(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if not _is_separator(ch))


def normalise(raw: str) -> str:
    """One spelling of a number: NFKC, no whitespace or dashes, upper-case."""
    # Upper-casing or removing a separator can leave text that NFKC changes again (a space
    # between a letter and a combining accent); repeat until nothing changes so that
    # normalise(normalise(x)) == normalise(x) for any text, not only for valid numbers.
    current = raw
    for _ in range(8):
        folded = _fold_once(current)
        if folded == current:
            break
        current = folded
    return current


def _refuse(raw: str, problem: str) -> InvalidTrackingNumber:
    shown = raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "…"
    return InvalidTrackingNumber(shown, problem)


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def _raw_problem(raw: str) -> str | None:
    """Problems seen before folding: the input would be changed, not just read."""
    if "\x00" in raw:
        return "contains a NUL character"
    if len(raw) > _RAW_LIMIT:
        return f"is too long ({len(raw)} characters; at most {MAX_LENGTH})"
    for ch in raw:
        if unicodedata.category(ch) in ("Cc", "Cf") and ch not in _SPACING_CONTROLS:
            return f"contains a control character ({_describe(ch)})"
        if not ch.isascii() and not _is_separator(ch):
            return f"contains a non-ASCII character ({_describe(ch)}); type it in plain A-Z and 0-9"
    return None


def _shape_problem(number: str) -> str | None:
    if not number:
        return "is empty"
    if len(number) > MAX_LENGTH:
        return f"is too long ({len(number)} characters; at most {MAX_LENGTH})"
    if len(number) < MIN_LENGTH:
        return f"is too short ({len(number)} characters; at least {MIN_LENGTH})"
    bad = sorted({ch for ch in number if not ("A" <= ch <= "Z" or "0" <= ch <= "9")})
    if bad:
        return "contains characters other than A-Z and 0-9: " + " ".join(repr(c) for c in bad)
    return None


def validate(number: str) -> str:
    """The normalised number, or InvalidTrackingNumber naming the problem."""
    if not isinstance(number, str):
        raise InvalidTrackingNumber(repr(number)[:_SHOWN], f"is a {type(number).__name__}")
    problem = _raw_problem(number)
    normal = normalise(number) if problem is None else number
    problem = problem or _shape_problem(normal)
    if problem is not None:
        raise _refuse(number, problem)
    return normal


# -- check digits ------------------------------------------------------------------------------


def _mod10_from_right(body: str) -> int:
    """GS1-style: weight 3 on the digit next to the check digit, then 1, 3, 1 ..."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _weighted_mod11(body: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(body, weights, strict=False)) % 11 % 10


def _s10_ok(number: str) -> bool:
    c = (
        11
        - sum(int(d) * w for d, w in zip(number[2:10], (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
    )
    return {10: 0, 11: 5}.get(c, c) == int(number[10])


def _ups_ok(number: str) -> bool:
    # Letters count as (ord - 3) mod 10 (A=2, B=3 ...); every second character doubles.
    body = number[2:17]
    values = (int(ch) if ch.isdigit() else (ord(ch) - 3) % 10 for ch in body)
    total = sum(v * (2 if i % 2 else 1) for i, v in enumerate(values))
    return (10 - total % 10) % 10 == int(number[17])


def _gs1_ok(body: str, check: str) -> bool:
    return _mod10_from_right(body) == int(check)


_IMPB_BODY = re.compile(r"9[1-5]\d{18,24}", re.ASCII)


def _impb_ok(number: str) -> bool:
    # Strip a "420" + ZIP5 or ZIP9 routing prefix; where both leave an IMpb body, either may be
    # meant, so the number passes if one of them does.
    bodies = [number] if number.startswith("9") else [number[8:], number[12:]]
    bodies = [b for b in bodies if _IMPB_BODY.fullmatch(b)]
    return any(_gs1_ok(b[:-1], b[-1]) for b in bodies)


def _usps20_ok(number: str) -> bool:
    # Legacy 20-digit labels; some carry an implied "91" application id in the check.
    return _gs1_ok(number[:-1], number[-1]) or _gs1_ok("91" + number[:-1], number[-1])


def _smartpost_ok(number: str) -> bool:
    full = number if len(number) == 22 else "92" + number
    return _gs1_ok(full[:-1], full[-1])


CHECKS: dict[str, Callable[[str], bool]] = {
    "s10": _s10_ok,
    "ups_1z": _ups_ok,
    "fedex_12": lambda n: _weighted_mod11(n[:11], (3, 1, 7) * 4) == int(n[11]),
    "fedex_15": lambda n: _gs1_ok(n[:-1], n[-1]),
    "fedex_96": lambda n: _gs1_ok(n[7:-1], n[-1]),
    "fedex_34": lambda n: _weighted_mod11(n[-14:-1], (1, 7, 3) * 5) == int(n[-1]),
    "fedex_smartpost": _smartpost_ok,
    "usps_impb": _impb_ok,
    "usps_20": _usps20_ok,
    "canadapost_16": lambda n: _gs1_ok(n[:-1], n[-1]),
    "dhl_express": lambda n: int(n[:-1]) % 7 == int(n[-1]),
    "dhl_paket_sscc": lambda n: _gs1_ok(n[2:-1], n[-1]),
}
"""Format -> check-digit test, for formats that have one (the number is already matched)."""


# -- recognise ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    pattern: re.Pattern[str]
    sources: Mapping[str, float]  # source -> confidence when the check digit holds (or none)
    # Digits-only shapes that many numbers have by chance: a failed check means "not this
    # format", so no hint; distinctive shapes (1Z, S10, 420+IMpb) keep a weak hint instead.
    generic: bool = False


def _fmt(name: str, regex: str, sources: Mapping[str, float], generic: bool = False) -> _Format:
    return _Format(name, re.compile(regex, re.ASCII), sources, generic)


FORMATS: tuple[_Format, ...] = (
    _fmt("ups_1z", r"1Z[A-Z0-9]{15}\d", {"ups": 0.95}),
    _fmt("usps_impb", r"(?:420(?:\d{5}|\d{9}))?9[1-5]\d{18,24}", {"usps": 0.9}),
    _fmt("usps_20", r"\d{20}", {"usps": 0.5}, generic=True),
    _fmt("fedex_12", r"\d{12}", {"fedex": 0.6}, generic=True),
    _fmt("fedex_15", r"\d{15}", {"fedex": 0.55}, generic=True),
    _fmt("fedex_96", r"96\d{20}", {"fedex": 0.8}),
    _fmt("fedex_34", r"100\d{31}|96\d{32}", {"fedex": 0.8}),
    # SmartPost numbers are IMpb labels (92...) that USPS delivers; FedEx is the weaker guess.
    _fmt("fedex_smartpost", r"92\d{20}|\d{20}", {"fedex": 0.4}, generic=True),
    _fmt("canadapost_16", r"\d{16}", {"canadapost": 0.5}, generic=True),
    _fmt("dhl_express", r"\d{10,11}", {"dhl": 0.5}, generic=True),
    _fmt("dhl_piece", r"J[A-Z]{2,3}\d{9,10}", {"dhl": 0.8}),  # JJD..., JVGL...
    _fmt("dhl_paket_sscc", r"00340434\d{12}", {"dhl": 0.9}),  # DHL Paket's GS1 prefix
    _fmt("dhl_ecommerce", r"(?:GM|LX|RX|UV|CN|SG|TH|IN|HK|MY)\d{10,38}", {"dhl": 0.5}),
    _fmt("postnl_3s", r"3S[A-Z0-9]{9,30}", {"postnl": 0.85}),
    _fmt("cainiao_lp", r"LP\d{14}", {"cainiao": 0.9}),
    _fmt("cainiao_named", r"CAINIAO[A-Z0-9]{4,33}", {"cainiao": 0.9}),
    _fmt("cainiao_cn", r"CN\d{10,38}", {"cainiao": 0.6}),
    _fmt("yunexpress", r"YT\d{16}", {"17track": 0.75, "cainiao": 0.4}),
)

_S10 = re.compile(r"[A-Z]{2}\d{9}([A-Z]{2})", re.ASCII)
# The post of the country an S10 item was issued in (origin) or is addressed to (destination)
# tracks it under the same number. Cainiao relays China Post's AliExpress items.
S10_POSTS: dict[str, str] = {
    "US": "usps",
    "CA": "canadapost",
    "AU": "australiapost",
    "GB": "royalmail",
    "NL": "postnl",
    "DE": "dhl",
    "CN": "cainiao",
}
_S10_ORIGIN = 0.95
_S10_ORIGIN_VIA_CAINIAO = 0.85
_S10_DESTINATION = 0.85
_BAD_CHECK = 0.3  # a matched shape whose check digit fails: a typo, or not this format
_AGGREGATORS: dict[str, float] = {"17track": 0.75, "aftership": 0.65, "ship24": 0.6}
_UNRECOGNISED: dict[str, float] = {"17track": 0.2, "aftership": 0.15, "ship24": 0.15}
_ORDER = {name: i for i, name in enumerate(SOURCE_NAMES)}


def _hints_for(name: str, sources: Mapping[str, float], ok: bool | None) -> list[Hint]:
    factor = _BAD_CHECK if ok is False else 1.0
    return [Hint(s, name, round(c * factor, 3), ok) for s, c in sources.items()]


def _format_hints(number: str) -> list[Hint]:
    hints: list[Hint] = []
    for fmt in FORMATS:
        if not fmt.pattern.fullmatch(number):
            continue
        check = CHECKS.get(fmt.name)
        ok = check(number) if check else None
        if ok is False and fmt.generic:
            continue
        hints += _hints_for(fmt.name, fmt.sources, ok)
    return hints


def _s10_hints(number: str, destination: str | None) -> list[Hint]:
    match = _S10.fullmatch(number)
    if match is None or match[1] not in countries.CODES:
        return []
    origin = match[1]
    sources: dict[str, float] = {}
    if destination in S10_POSTS:
        sources[S10_POSTS[destination]] = _S10_DESTINATION
    if origin in S10_POSTS:
        best = _S10_ORIGIN_VIA_CAINIAO if origin == "CN" else _S10_ORIGIN
        post = S10_POSTS[origin]
        sources[post] = max(best, sources.get(post, 0.0))
    if not sources:  # a post we have no adapter for: only the aggregators follow it
        sources["17track"] = _S10_DESTINATION
    return _hints_for("s10", sources, _s10_ok(number))


def _with_aggregators(hints: list[Hint]) -> list[Hint]:
    if not hints:
        return [Hint(s, "unrecognised", c, None) for s, c in _UNRECOGNISED.items()]
    best = max(hints, key=lambda h: h.confidence)
    extra = [
        Hint(s, best.format, round(best.confidence * f, 3), best.check_digit_ok)
        for s, f in _AGGREGATORS.items()
    ]
    return hints + extra


def _best_per_source(hints: list[Hint]) -> list[Hint]:
    best: dict[str, Hint] = {}
    for hint in hints:
        if hint.source not in best or hint.confidence > best[hint.source].confidence:
            best[hint.source] = hint
    return sorted(best.values(), key=lambda h: (-h.confidence, _ORDER[h.source], h.format))


def recognise(number: str, destination: str | None = None) -> list[Hint]:
    """Sources likely to know `number`, best first; one hint per source, never raises.

    `destination` (a country code or name, optional) adds the destination post for UPU S10
    items. A number `validate` refuses gets no hints.
    """
    try:
        normal = validate(number)
    except InvalidTrackingNumber:
        return []
    dest = countries.iso2(destination) if isinstance(destination, str) else None
    hints = _format_hints(normal) + _s10_hints(normal, dest)
    return _best_per_source(_with_aggregators(hints))

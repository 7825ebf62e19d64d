"""`tracker analyze FILE [--now ISO]`: the pipeline offline, on saved payloads.

FILE holds one case (a JSON document, pretty-printed or not) or JSON Lines (one case per line:
a shop's order book). One case prints one report; JSON Lines print one compact report per line,
in input order, read and written line by line so memory stays flat however long the file.

`now` is `--now`, else the case's own `now`, else the current time.

Exit status, as a script would want it:
  0  every case analysed;
  1  JSON Lines where some lines were not cases: each such line is answered, in its place, by
     `{"line": n, "error": "..."}` (blank lines are skipped), and the other lines by reports;
  2  nothing could be analysed: the file is missing or unreadable, is not JSON, the single
     case in it is not a valid case, or `--now` is malformed. One line on stderr names the
     problem; no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

import orjson

from tracker.errors import TrackerError, ValidationError
from tracker.pipeline import Case, parse_instant, run_case

EXIT_OK, EXIT_PARTIAL, EXIT_UNREADABLE = 0, 1, 2


def main(path: str, now: str | None, stdout: TextIO, stderr: TextIO) -> int:
    """Analyse the case(s) in `path`; the exit status is documented in the module docstring."""
    try:
        fixed_now = parse_instant(now, "--now") if now is not None else None
    except ValidationError as exc:
        return _fail(stderr, str(exc))
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after streaming
    except OSError as exc:
        return _fail(stderr, f"{path}: {exc.strerror or exc}")
    with handle:
        try:
            return _analyse(handle, path, fixed_now, stdout, stderr)
        except OSError as exc:
            return _fail(stderr, f"{path}: {exc.strerror or exc}")


def _fail(stderr: TextIO, message: str) -> int:
    stderr.write(f"tracker analyze: {' '.join(message.split())}\n")
    return EXIT_UNREADABLE


def _analyse(
    handle: BinaryIO, path: str, now: datetime | None, stdout: TextIO, stderr: TextIO
) -> int:
    lines = _content_lines(handle)
    first = next(lines, None)
    if first is None:
        return _fail(stderr, f"{path}: empty file, expected a JSON case")
    try:
        value: Any = orjson.loads(first[1])
    except orjson.JSONDecodeError:
        # Not one JSON value per line: the file is one (pretty-printed) document.
        rest = b"".join(line for _, line in lines)
        try:
            value = orjson.loads(first[1] + rest)
        except orjson.JSONDecodeError as exc:
            return _fail(stderr, f"{path}: not JSON: {exc}")
        return _single(value, path, now, stdout, stderr)
    second = next(lines, None)
    if second is None:
        return _single(value, path, now, stdout, stderr)
    return _json_lines(_chain(first[0], value, second, lines), now, stdout)


def _content_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield number, line


def _chain(
    number: int, value: Any, second: tuple[int, bytes], rest: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value or the DecodeError) for every non-blank line."""
    yield number, value
    yield from _decoded(second, rest)


def _decoded(
    second: tuple[int, bytes], rest: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, Any]]:
    for n, line in _prepend(second, rest):
        try:
            yield n, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield n, exc


def _prepend(
    head: tuple[int, bytes], rest: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, bytes]]:
    yield head
    yield from rest


def _single(value: Any, path: str, now: datetime | None, stdout: TextIO, stderr: TextIO) -> int:
    try:
        case = Case.from_json(value)
    except ValidationError as exc:
        return _fail(stderr, f"{path}: not a case: {exc}")
    report = run_case(case, _now_for(case, now))
    stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    stdout.write("\n")
    return EXIT_OK


def _json_lines(values: Iterator[tuple[int, Any]], now: datetime | None, stdout: TextIO) -> int:
    status = EXIT_OK
    write = stdout.write
    for number, value in values:
        try:
            out = _line_report(value, now)
        except (TrackerError, orjson.JSONDecodeError) as exc:
            out = _error_line(number, value, f"not a case: {exc}")
            status = EXIT_PARTIAL
        except Exception as exc:  # one bad order must not stop a whole order book
            out = _error_line(number, value, f"internal error: {type(exc).__name__}: {exc}")
            status = EXIT_PARTIAL
        write(out)
    return status


def _line_report(value: Any, now: datetime | None) -> str:
    if isinstance(value, orjson.JSONDecodeError):
        raise value
    case = Case.from_json(value)
    report = run_case(case, _now_for(case, now))
    return orjson.dumps(report, option=orjson.OPT_APPEND_NEWLINE).decode()


def _error_line(number: int, value: Any, message: str) -> str:
    error: dict[str, Any] = {"line": number, "error": " ".join(message.split())}
    order = value.get("order") if isinstance(value, dict) else None
    if isinstance(order, dict) and isinstance(order.get("id"), str):
        error["order_id"] = order["id"]
    return orjson.dumps(error, option=orjson.OPT_APPEND_NEWLINE).decode()


def _now_for(case: Case, now: datetime | None) -> datetime:
    return now or case.now or datetime.now(UTC)


def _cli(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tracker.analyze",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file")
    parser.add_argument("--now", default=None, help="ISO-8601 instant (default: the case's)")
    args = parser.parse_args(argv)
    return main(args.file, args.now, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))

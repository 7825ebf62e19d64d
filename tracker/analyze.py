"""`tracker analyze FILE [--now ISO]`: the pipeline offline, on saved payloads.

FILE holds one case (a JSON document, pretty-printed or not) or JSON Lines (one case per line:
a shop's order book). One case prints one report; JSON Lines print one compact report per line,
in input order, read and written line by line so memory stays flat however long the file.

`now` is `--now`, else the case's own `now`, else the current time. A long JSON Lines file is
spread over one worker process per CPU, in batches, so output order and flat memory hold.

Exit status, as a script would want it:
  0  every case analysed;
  1  JSON Lines where some lines were not cases: each such line is answered, in its place, by
     `{"line": n, "error": "..."}` (blank lines are skipped), and the other lines by reports;
  2  nothing could be analysed: the file is missing or unreadable, is not JSON, the single
     case in it is not a valid case, or `--now` is malformed. One line on stderr names the
     problem; no traceback.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from multiprocessing.pool import Pool
from typing import Any, BinaryIO, TextIO

import orjson

from tracker.errors import TrackerError, ValidationError
from tracker.pipeline import Case, parse_instant, run_case

EXIT_OK, EXIT_PARTIAL, EXIT_UNREADABLE = 0, 1, 2
_BATCH = 512  # lines read ahead at most: bounds memory whatever the file's length
_CHUNK = 16  # lines per task handed to a worker process


def main(
    path: str, now: str | None, stdout: TextIO, stderr: TextIO, workers: int | None = None
) -> int:
    """Analyse the case(s) in `path`; the exit status is documented in the module docstring.
    `workers` processes share a long JSON Lines file (default: the CPUs this process may use,
    or `TRACKER_ANALYZE_WORKERS`); 1 analyses in this process only."""
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
            return _analyse(handle, path, fixed_now, stdout, stderr, workers)
        except OSError as exc:
            return _fail(stderr, f"{path}: {exc.strerror or exc}")


def _fail(stderr: TextIO, message: str) -> int:
    stderr.write(f"tracker analyze: {' '.join(message.split())}\n")
    return EXIT_UNREADABLE


def _analyse(
    handle: BinaryIO,
    path: str,
    now: datetime | None,
    stdout: TextIO,
    stderr: TextIO,
    workers: int | None,
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
    book = _prepend(first, _prepend(second, lines))
    return _json_lines(book, now, stdout, _workers() if workers is None else workers)


def _content_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield number, line


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


def _json_lines(
    lines: Iterator[tuple[int, bytes]], now: datetime | None, stdout: TextIO, workers: int
) -> int:
    """Answer every line, in order. A full batch is spread over worker processes; batches keep
    memory bounded (a Pool fed the whole iterator would read the file ahead of the output)."""
    status = EXIT_OK
    pool: Pool | None = None
    try:
        while batch := [(n, line, now) for n, line in islice(lines, _BATCH)]:
            if pool is None and workers > 1 and len(batch) == _BATCH:
                pool = multiprocessing.get_context("fork").Pool(workers)
            answers = pool.map(_answer_line, batch, _CHUNK) if pool else map(_answer_line, batch)
            for out, ok in answers:
                stdout.write(out)
                status = status if ok else EXIT_PARTIAL
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return status


def _answer_line(item: tuple[int, bytes, datetime | None]) -> tuple[str, bool]:
    """(the report line or an error line, whether it is a report) for one JSON Lines line."""
    number, line, now = item
    value: Any = None
    try:
        value = orjson.loads(line)
        case = Case.from_json(value)
        report = run_case(case, _now_for(case, now))
        return orjson.dumps(report, option=orjson.OPT_APPEND_NEWLINE).decode(), True
    except (TrackerError, orjson.JSONDecodeError) as exc:
        return _error_line(number, value, f"not a case: {exc}"), False
    except Exception as exc:  # one bad order must not stop a whole order book
        return _error_line(number, value, f"internal error: {type(exc).__name__}: {exc}"), False


def _error_line(number: int, value: Any, message: str) -> str:
    error: dict[str, Any] = {"line": number, "error": " ".join(message.split())}
    order = value.get("order") if isinstance(value, dict) else None
    if isinstance(order, dict) and isinstance(order.get("id"), str):
        error["order_id"] = order["id"]
    return orjson.dumps(error, option=orjson.OPT_APPEND_NEWLINE).decode()


def _workers() -> int:
    configured = os.environ.get("TRACKER_ANALYZE_WORKERS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


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

"""`tracker analyze FILE [--now ISO]`: the pipeline offline, on saved payloads.

FILE holds one case (a JSON document, pretty-printed or not) or JSON Lines (one case per line:
a shop's order book). One case prints one report; JSON Lines print one compact report per line,
in input order, read and written line by line so memory stays flat however long the file.

`now` is `--now`, else the case's own `now`, else the current time. A long JSON Lines file is
spread over one worker process per CPU, in batches, so output order and flat memory hold.

Evidence (`evidence="markdown"` or `"html"`): beside the JSON report(s) on stdout, which do not
change, every analysed order's dispute summary (`tracker.evidence`) is written to a file named
after the order, `<order id>.md` or `.html`, in `evidence_dir` (default: the directory holding
FILE), ready to attach to a dispute. Characters of the id other than letters, digits, `.`, `-`
and `_` become `_`; a second case with the same id in one run gets `-2`, `-3`...; an existing
file is replaced. An error line (below) writes no summary.

FILE `-` is standard input. A UTF-8 byte order mark at the start is ignored. A file whose first
line is not JSON but whose second line is a case on its own is JSON Lines with a bad first line
(answered in place, as below), not one broken document.

Exit status, as a script would want it:
  0  every case analysed;
  1  JSON Lines where some lines were not cases: each such line is answered, in its place, by
     `{"line": n, "error": "..."}` (blank lines are skipped), and the other lines by reports;
     one line on stderr counts them and names the first;
  2  nothing could be analysed: the file is missing or unreadable, is not JSON, the single
     case in it is not a valid case, `--now` is malformed, the evidence format is unknown or
     its directory does not exist, or a summary cannot be written. One line on stderr names
     the problem; no traceback.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

from tracker import deadlines
from tracker import evidence as _evidence
from tracker.errors import TrackerError, ValidationError
from tracker.pipeline import Case, parse_instant, run_case

EXIT_OK, EXIT_PARTIAL, EXIT_UNREADABLE = 0, 1, 2
_BATCH = 512  # lines read ahead at most: bounds memory whatever the file's length
_CHUNK = 16  # lines per task handed to a worker process
EVIDENCE_SUFFIXES = {"markdown": ".md", "html": ".html"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_BOM = b"\xef\xbb\xbf"


def main(
    path: str,
    now: str | None,
    stdout: TextIO,
    stderr: TextIO,
    workers: int | None = None,
    *,
    evidence: str | None = None,
    evidence_dir: str | None = None,
    policies: str | None = None,
) -> int:
    """Analyse the case(s) in `path`; the exit status is documented in the module docstring.
    `workers` processes share a long JSON Lines file (default: the CPUs this process may use,
    or `TRACKER_ANALYZE_WORKERS`); 1 analyses in this process only. `evidence` ("markdown" or
    "html") also writes each order's dispute summary into `evidence_dir` (module docstring).
    `policies` is a JSON file of protection policies beside the built-in ones."""
    try:
        fixed_now = parse_instant(now, "--now") if now is not None else None
        summaries = _Evidence.of(evidence, evidence_dir, path)
        rules = deadlines.read_policies(policies) if policies else deadlines.POLICIES
    except ValidationError as exc:
        return _fail(stderr, str(exc))
    run = _Run(fixed_now, summaries.kind if summaries is not None else None, rules)
    try:
        # closed below, after streaming; "-" is standard input (not closed)
        handle = os.fdopen(os.dup(0), "rb") if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        return _fail(stderr, f"{path}: {exc.strerror or exc}")
    with handle:
        try:
            return _analyse(handle, path, run, stdout, stderr, workers, summaries)
        except OSError as exc:
            return _fail(stderr, f"{exc.filename or path}: {exc.strerror or exc}")


class _Evidence:
    """Where and how dispute summaries are written (one file per order)."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self.seen: dict[str, int] = {}

    @classmethod
    def of(cls, kind: str | None, directory: str | None, path: str) -> _Evidence | None:
        if kind is None:
            return None
        if kind not in EVIDENCE_SUFFIXES:
            known = ", ".join(EVIDENCE_SUFFIXES)
            raise ValidationError("--evidence", f"format {kind!r} is not one of: {known}")
        folder = Path(directory) if directory is not None else Path(path).parent
        if not folder.is_dir():
            raise ValidationError("--evidence-dir", f"{str(folder)!r} is not a directory")
        return cls(kind, folder)

    def write(self, order_id: str, summary: str) -> None:
        name = _UNSAFE.sub("_", order_id).lstrip(".") or "order"
        count = self.seen[name] = self.seen.get(name, 0) + 1
        stem = name if count == 1 else f"{name}-{count}"
        target = self.directory / f"{stem}{EVIDENCE_SUFFIXES[self.kind]}"
        target.write_text(summary, encoding="utf-8")


def render(kind: str, report: dict[str, Any], now: datetime) -> str:
    """The dispute summary of `report` at `now` in `kind` ("markdown" or "html")."""
    return (_evidence.markdown if kind == "markdown" else _evidence.html)(report, now=now)


def _fail(stderr: TextIO, message: str) -> int:
    stderr.write(f"tracker analyze: {' '.join(message.split())}\n")
    return EXIT_UNREADABLE


def _analyse(
    handle: BinaryIO,
    path: str,
    run: _Run,
    stdout: TextIO,
    stderr: TextIO,
    workers: int | None,
    summaries: _Evidence | None,
) -> int:
    lines = _content_lines(handle)
    first = next(lines, None)
    if first is None:
        return _fail(stderr, f"{path}: empty file, expected a JSON case")
    try:
        value: Any = orjson.loads(first[1])
    except orjson.JSONDecodeError:
        second = next(lines, None)
        if second is not None and _is_case_line(second[1]):
            # JSON Lines whose first line is broken: answer it in place, like any other line
            book = _prepend(first, _prepend(second, lines))
            return _json_lines(book, run, stdout, stderr, _workers_for(workers), summaries)
        # Not one JSON value per line: the file is one (pretty-printed) document.
        tail = _prepend(second, lines) if second is not None else lines
        rest = b"".join(line for _, line in tail)
        try:
            value = orjson.loads(first[1] + rest)
        except orjson.JSONDecodeError as exc:
            return _fail(stderr, f"{path}: not JSON: {exc}")
        return _single(value, path, run, stdout, stderr, summaries)
    second = next(lines, None)
    if second is None:
        return _single(value, path, run, stdout, stderr, summaries)
    book = _prepend(first, _prepend(second, lines))
    return _json_lines(book, run, stdout, stderr, _workers_for(workers), summaries)


def _content_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(handle, start=1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]  # a file saved by an editor that marks UTF-8
        if line.strip():
            yield number, line


def _is_case_line(line: bytes) -> bool:
    """Whether `line` is a whole JSON object on its own: what JSON Lines lines are, and what
    the lines of one pretty-printed document never are."""
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _prepend(
    head: tuple[int, bytes], rest: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, bytes]]:
    yield head
    yield from rest


def _single(
    value: Any,
    path: str,
    run: _Run,
    stdout: TextIO,
    stderr: TextIO,
    summaries: _Evidence | None,
) -> int:
    try:
        case = Case.from_json(value)
        when = _now_for(case, run.now)
        report = run_case(case, when, run.policies)
    except TrackerError as exc:
        return _fail(stderr, f"{path}: not a case: {exc}")
    stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    stdout.write("\n")
    if summaries is not None:
        summaries.write(case.order.id, render(summaries.kind, report, when))
    return EXIT_OK


def _json_lines(
    lines: Iterator[tuple[int, bytes]],
    run: _Run,
    stdout: TextIO,
    stderr: TextIO,
    workers: int,
    summaries: _Evidence | None,
) -> int:
    """Answer every line, in order. A full batch is spread over worker processes; batches keep
    memory bounded (a Pool fed the whole iterator would read the file ahead of the output).
    Lines that are not cases are answered in place; stderr gets one line counting them."""
    status = EXIT_OK
    bad, first_bad, total = 0, 0, 0
    pool: Pool | None = None
    try:
        while batch := [(n, line, run) for n, line in islice(lines, _BATCH)]:
            if pool is None and workers > 1 and len(batch) == _BATCH:
                pool = multiprocessing.get_context("fork").Pool(workers)
            answers = pool.map(_answer_line, batch, _CHUNK) if pool else map(_answer_line, batch)
            for (number, *_), (out, ok, summary) in zip(batch, answers, strict=True):
                stdout.write(out)
                total += 1
                if not ok:
                    status, bad, first_bad = EXIT_PARTIAL, bad + 1, first_bad or number
                if summaries is not None and summary is not None:
                    summaries.write(*summary)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    if bad:
        stderr.write(
            f"tracker analyze: {bad} of {total} lines are not cases (the first: line "
            f'{first_bad}); each is answered in place by {{"line": n, "error": ...}}\n'
        )
    return status


_Answer = tuple[str, bool, tuple[str, str] | None]


@dataclass(frozen=True, slots=True)
class _Run:
    """What every case of one run is analysed with (sent to the worker processes)."""

    now: datetime | None  # --now
    kind: str | None  # the summaries' format, if any are written
    policies: Mapping[str, deadlines.Policy]


def _answer_line(item: tuple[int, bytes, _Run]) -> _Answer:
    """(the report line or an error line, whether it is a report, and (order id, summary) when
    summaries are wanted) for one JSON Lines line."""
    number, line, run = item
    value: Any = None
    try:
        value = orjson.loads(line)
        case = Case.from_json(value)
        when = _now_for(case, run.now)
        report = run_case(case, when, run.policies)
        kind = run.kind
        summary = (case.order.id, render(kind, report, when)) if kind is not None else None
        return orjson.dumps(report, option=orjson.OPT_APPEND_NEWLINE).decode(), True, summary
    except (TrackerError, orjson.JSONDecodeError) as exc:
        return _error_line(number, value, f"not a case: {exc}"), False, None
    except Exception as exc:  # one bad order must not stop a whole order book
        error = f"internal error: {type(exc).__name__}: {exc}"
        return _error_line(number, value, error), False, None


def _error_line(number: int, value: Any, message: str) -> str:
    error: dict[str, Any] = {"line": number, "error": " ".join(message.split())}
    order = value.get("order") if isinstance(value, dict) else None
    if isinstance(order, dict) and isinstance(order.get("id"), str):
        error["order_id"] = order["id"]
    return orjson.dumps(error, option=orjson.OPT_APPEND_NEWLINE).decode()


def _workers_for(workers: int | None) -> int:
    return _workers() if workers is None else workers


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
    parser.add_argument("--evidence", choices=sorted(EVIDENCE_SUFFIXES), default=None,
                        help="also write each order's dispute summary in this format")  # fmt: skip
    parser.add_argument("--evidence-dir", default=None, help="where (default: FILE's directory)")
    parser.add_argument(
        "--policies",
        default=os.environ.get("TRACKER_POLICIES_FILE") or None,
        help="JSON file of protection policies (default: TRACKER_POLICIES_FILE)",
    )
    args = parser.parse_args(argv)
    return main(args.file, args.now, sys.stdout, sys.stderr, evidence=args.evidence,
                evidence_dir=args.evidence_dir, policies=args.policies)  # fmt: skip


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))

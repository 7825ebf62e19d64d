"""`tracker analyze`: the whole pipeline offline, via `tracker.analyze.main` and as a process."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tracker.analyze import main

CASES = Path(__file__).parent / "cases"
CLEAN = CASES / "clean-delivery-3-sources.json"
REQUIRED = {"order_id", "status", "substatus", "delivery", "timeline", "protection", "alerts",
            "warnings"}  # fmt: skip
EVENT_KEYS = {"id", "occurred_at", "occurred_local", "utc_offset", "tz_provenance", "status",
              "substatus", "description", "location", "sources"}  # fmt: skip


def clean_case() -> dict[str, Any]:
    return json.loads(CLEAN.read_text())  # type: ignore[no-any-return]


def analyze(path: Path, now: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(str(path), now, out, err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, case: Any, name: str = "case.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(case) if not isinstance(case, str) else case)
    return path


def test_clean_delivery_seen_by_three_sources_merges_to_one_timeline() -> None:
    code, out, err = analyze(CLEAN)
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report.keys() >= REQUIRED
    assert report["order_id"] == "A-1001"
    assert (report["status"], report["delivery"]["verdict"]) == ("delivered", "delivered")
    assert report["delivery"]["delivered_at"].endswith("Z")
    timeline = report["timeline"]
    case = clean_case()
    cainiao = next(o for o in case["observations"] if o["source"] == "cainiao")
    assert len(timeline) == len(cainiao["payload"]["module"][0]["detailList"])
    for event in timeline:
        assert event.keys() >= EVENT_KEYS
        assert event["sources"] == ["17track", "aftership", "cainiao"]
        assert event["occurred_at"].endswith("Z")
    instants = [e["occurred_at"] for e in timeline]
    assert instants == sorted(instants)
    assert timeline[-1]["status"] == "delivered"
    assert report["warnings"] == []
    assert [a["type"] for a in report["alerts"]] == ["delivery.confirmed"]
    assert report["protection"]["policy"] == "aliexpress"
    assert "parcels" not in report


def test_report_is_deterministic(tmp_path: Path) -> None:
    case = clean_case()
    case["observations"].reverse()
    _, first, _ = analyze(CLEAN)
    _, second, _ = analyze(write(tmp_path, case))
    assert json.loads(first)["timeline"] == json.loads(second)["timeline"]


def test_unparseable_observation_becomes_a_warning_naming_its_source(tmp_path: Path) -> None:
    case = clean_case()
    case["observations"].append(
        {"source": "usps", "fetched_at": "2026-10-20T00:00:00Z",
         "payload": "<html><body>502 Bad Gateway</body></html>"}
    )  # fmt: skip
    case["observations"][0]["payload"] = '{"success": true, "module": [{"mailNo": '  # truncated
    code, out, _ = analyze(write(tmp_path, case))
    assert code == 0
    report = json.loads(out)
    sources = [w["source"] for w in report["warnings"]]
    assert "usps" in sources
    assert case["observations"][0]["source"] in sources
    assert report["delivery"]["verdict"] == "delivered"  # the two other sources still count
    assert len(report["timeline"][0]["sources"]) == 2


def test_now_overrides_the_case_now(tmp_path: Path) -> None:
    _, out, _ = analyze(CLEAN, now="2027-06-01T00:00:00Z")
    assert json.loads(out)["protection"]["state"] == "closed"
    _, out, _ = analyze(CLEAN)
    assert json.loads(out)["protection"]["state"] == "open"


def test_json_lines_many_orders_in_order_with_a_bad_line(tmp_path: Path) -> None:
    base = clean_case()
    lines = []
    for i in range(40):
        case = copy.deepcopy(base)
        case["order"]["id"] = f"A-{i}"
        lines.append(json.dumps(case))
    lines.insert(10, '{"order": {"id": "A-bad"}, "parcels": []}')
    lines.insert(20, "")  # blank lines are skipped but counted
    lines.insert(30, "{not json")
    path = write(tmp_path, "\n".join(lines) + "\n", "book.jsonl")
    code, out, err = analyze(path)
    assert code == 1
    assert err == (
        "tracker analyze: 2 of 42 lines are not cases (the first: line 11); each is answered "
        'in place by {"line": n, "error": ...}\n'
    )
    reports = [json.loads(line) for line in out.splitlines()]
    assert len(reports) == 42
    assert reports[10] == {"line": 11, "order_id": "A-bad", "error": reports[10]["error"]}
    assert "order.destination" in reports[10]["error"]
    assert reports[29]["line"] == 31 and "not a case" in reports[29]["error"]
    ids = [r["order_id"] for r in reports if "error" not in r]
    assert ids == [f"A-{i}" for i in range(40)]


def test_json_lines_with_a_broken_first_line_answers_it_in_place(tmp_path: Path) -> None:
    good = json.dumps(clean_case())
    path = write(tmp_path, "{not json\n" + good + "\n" + good + "\n", "book.jsonl")
    code, out, err = analyze(path)
    assert code == 1
    reports = [json.loads(line) for line in out.splitlines()]
    assert reports[0]["line"] == 1 and "not a case" in reports[0]["error"]
    assert [r["order_id"] for r in reports[1:]] == ["A-1001", "A-1001"]
    assert "1 of 3 lines" in err


def test_a_broken_pretty_printed_case_is_still_one_error(tmp_path: Path) -> None:
    broken = json.dumps(clean_case(), indent=2).replace('"order"', "order", 1)
    code, out, err = analyze(write(tmp_path, broken))
    assert (code, out) == (2, "")
    assert err.startswith("tracker analyze: ") and "not JSON" in err and err.count("\n") == 1


def test_a_utf8_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(clean_case(), indent=2).encode())
    code, out, err = analyze(path)
    assert (code, err) == (0, "")
    assert json.loads(out)["order_id"] == "A-1001"


def test_cli_reads_standard_input_and_names_a_directory_in_one_line(tmp_path: Path) -> None:
    case = json.dumps(clean_case())
    tracker = [sys.executable, "-m", "tracker.cli", "analyze"]
    piped = subprocess.run([*tracker, "-"], input=case, capture_output=True, text=True,
                           check=False, timeout=60)  # fmt: skip
    assert (piped.returncode, piped.stderr) == (0, "")
    assert json.loads(piped.stdout)["order_id"] == "A-1001"
    folder = subprocess.run([*tracker, str(tmp_path)], capture_output=True, text=True,
                            check=False, timeout=60)  # fmt: skip
    assert folder.returncode == 2 and folder.stdout == ""
    assert folder.stderr == f"tracker analyze: {tmp_path}: Is a directory\n"


def test_json_lines_all_good_exit_zero(tmp_path: Path) -> None:
    line = json.dumps(clean_case())
    code, out, _ = analyze(write(tmp_path, f"{line}\n{line}\n", "two.jsonl"))
    assert code == 0
    assert len(out.splitlines()) == 2


def test_several_parcels_describe_the_order_as_a_whole(tmp_path: Path) -> None:
    case = clean_case()
    case["parcels"].append({"tracking_number": "LP99999999999999"})
    code, out, _ = analyze(write(tmp_path, case))
    report = json.loads(out)
    assert code == 0
    assert [p["status"] for p in report["parcels"]] == ["delivered", "unknown"]
    assert report["status"] == "unknown"  # the slowest parcel
    assert report["delivery"]["verdict"] == "none"  # not every parcel is delivered
    assert {e["parcel"] for e in report["timeline"]} == {case["parcels"][0]["tracking_number"]}


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c["order"].pop("id"), "order.id"),
        (lambda c: c["order"].update(shipped_at="yesterday"), "order.shipped_at"),
        (lambda c: c["order"].update(promised_by="2026-13-45"), "order.promised_by"),
        (lambda c: c["order"]["destination"].update(country="Atlantis"), "country"),
        (lambda c: c["observations"][0].update(source="fedup"), "observations[0].source"),
        (lambda c: c["order"].update(timezone="Mars/Olympus"), "order.timezone"),
        (lambda c: c.pop("parcels"), "parcels"),
        (lambda c: c["order"].update(marketplace="temu"), "order.marketplace"),
    ],
)
def test_invalid_case_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, mutate: Any, needle: str
) -> None:
    case = clean_case()
    mutate(case)
    code, out, err = analyze(write(tmp_path, case))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and needle in err


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "No such file"), ("{\n not json", "not JSON"), ("", "empty"), ("[1, 2]", "case")],
)
def test_unreadable_file_exits_2_with_one_line(
    tmp_path: Path, content: str | None, needle: str
) -> None:
    path = tmp_path / "case.json"
    if content is not None:
        path.write_text(content)
    code, out, err = analyze(path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and needle in err


def test_bad_now_exits_2() -> None:
    code, _, err = analyze(CLEAN, now="tomorrow-ish")
    assert code == 2 and "--now" in err


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker.analyze", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_module_entry_point_prints_the_report() -> None:
    done = run_module(str(CLEAN), "--now", "2026-10-20T00:00:00Z")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["order_id"] == "A-1001"


def test_module_entry_point_unreadable_case_has_no_traceback(tmp_path: Path) -> None:
    done = run_module(str(tmp_path / "missing.json"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_pure_modules_import_no_io_libraries() -> None:
    pure = "tracker.normalise, tracker.merge, tracker.judge, tracker.deadlines, tracker.alerts"
    code = (
        f"import {pure}, tracker.pipeline, tracker.analyze; import sys; "
        "print([m for m in ('requests', 'redis', 'celery', 'sqlalchemy') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_json_lines_over_worker_processes_keep_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracker.analyze as analyze_module

    monkeypatch.setattr(analyze_module, "_BATCH", 4)
    base = clean_case()
    lines = []
    for i in range(11):
        case = copy.deepcopy(base)
        case["order"]["id"] = f"A-{i}"
        lines.append(json.dumps(case) if i != 5 else "[]")
    path = write(tmp_path, "\n".join(lines), "book.jsonl")
    out, err = io.StringIO(), io.StringIO()
    assert main(str(path), None, out, err, workers=2) == 1
    reports = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("order_id") for r in reports] == [f"A-{i}" if i != 5 else None for i in range(11)]
    assert reports[5]["line"] == 6
    serial = io.StringIO()
    main(str(path), None, serial, err, workers=1)
    assert serial.getvalue() == out.getvalue()


# ----------------------------------------------------------------------------- evidence


def test_evidence_writes_a_markdown_summary_beside_the_case_and_leaves_stdout_alone(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, clean_case())
    plain = analyze(path)
    out, err = io.StringIO(), io.StringIO()
    code = main(str(path), None, out, err, evidence="markdown")
    assert (code, out.getvalue(), err.getvalue()) == plain
    summary = (tmp_path / "A-1001.md").read_text()
    assert summary.startswith("# Delivery evidence for order A\\-1001")
    assert "## Buyer protection" in summary
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".md"] == ["A-1001.md"]


def test_evidence_for_json_lines_goes_to_the_given_directory_one_file_per_order(
    tmp_path: Path,
) -> None:
    case = clean_case()
    other = copy.deepcopy(case)
    other["order"]["id"] = "../shop/B 7"
    lines = [json.dumps(case), json.dumps(case), "not json", json.dumps(other)]
    path = write(tmp_path, "\n".join(lines) + "\n", "book.jsonl")
    folder = tmp_path / "evidence"
    folder.mkdir()
    out, err = io.StringIO(), io.StringIO()
    code = main(str(path), None, out, err, workers=1, evidence="html", evidence_dir=str(folder))
    assert code == 1  # the bad line is answered in its place; the orders still get summaries
    assert len(out.getvalue().splitlines()) == 4
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["A-1001-2.html", "A-1001.html", "_shop_B_7.html"]
    page = (folder / "A-1001.html").read_text()
    assert page.startswith("<!doctype html>") and "A-1001" in page
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.parametrize(
    ("kind", "folder", "problem"),
    [("pdf", None, "--evidence: format 'pdf'"), ("markdown", "missing", "is not a directory")],
)
def test_evidence_refuses_an_unknown_format_or_a_missing_directory(
    tmp_path: Path, kind: str, folder: str | None, problem: str
) -> None:
    path = write(tmp_path, clean_case())
    out, err = io.StringIO(), io.StringIO()
    directory = str(tmp_path / folder) if folder else None
    code = main(str(path), None, out, err, evidence=kind, evidence_dir=directory)
    assert (code, out.getvalue()) == (2, "")
    assert problem in err.getvalue() and err.getvalue().count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".md", ".html")]


def test_policies_file_gives_a_marketplace_its_own_window(tmp_path: Path) -> None:
    case = clean_case()
    case["order"]["marketplace"] = "temu"
    path = write(tmp_path, case)
    code, out, err = analyze(path)
    assert out == ""
    assert code == 2 and "order.marketplace" in err and "'temu'" in err
    policies = write(tmp_path, {"temu-v1": {"version": 1, "marketplace": "temu",
                                            "opens_after_days": 0,
                                            "closes_after_promised_days": 90}},
                     "policies.json")  # fmt: skip
    out_, err_ = io.StringIO(), io.StringIO()
    assert main(str(path), None, out_, err_, policies=str(policies)) == 0, err_.getvalue()
    assert json.loads(out_.getvalue())["protection"]["policy"] == "temu-v1"
    bad = write(tmp_path, {"temu-v1": {"version": 1}}, "bad.json")
    err_ = io.StringIO()
    assert main(str(path), None, io.StringIO(), err_, policies=str(bad)) == 2
    assert err_.getvalue().count("\n") == 1 and "policies.temu-v1.marketplace" in err_.getvalue()

"""`tracker orders|webhooks|tokens|api` as a user runs them: subprocesses on a temporary SQLite
file. Exit codes: 0 ok, 2 bad input (one line, no traceback), 3 unavailable, 4 not found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.test_cli import run
from tracker.store import access, orders
from tracker.store.db import make_engine, upgrade

ADD = (
    "orders",
    "add",
    "--id",
    "A-1",
    "--tracking-number",
    "LP00512345678901",
    "--destination-country",
    "DE",
    "--shipped-at",
    "2026-11-01T09:00:00+08:00",
    "--promised-by",
    "2026-12-10",
    "--timezone",
    "Europe/Berlin",
)

ALIEXPRESS_CSV = """Order ID,Tracking Number,Ship To Country,Shipping Time,Delivery Deadline
8190001,LP00512345678901,Germany,2026-11-01 09:00:00,2026-12-10
8190002,LP00512345678902,FR,2026-11-02 10:00:00,2026-12-11
8190002,LP00512345678903,FR,2026-11-02 10:00:00,2026-12-11
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def _engine(env: dict[str, str]) -> sa.engine.Engine:
    return make_engine(env["TRACKER_DATABASE_URL"])


def _one_line_failure(result: object, code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    # A progress bar's label may come first when stderr is not a terminal.
    lines = [
        line
        for line in result.stderr.strip().splitlines()  # type: ignore[attr-defined]
        if line not in ("Checking", "Storing")
    ]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def test_orders_add_then_show(env: dict[str, str]) -> None:
    added = run(*ADD, env=env)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "A-1"
    engine = _engine(env)
    with engine.connect() as conn:
        [parcel] = orders.parcels_of(conn, "A-1")
    engine.dispose()
    assert parcel.next_poll_at is not None  # due for a poll at once
    shown = run("orders", "show", "A-1", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["order_id"] == "A-1"
    assert report["protection"]["policy"] == "aliexpress"
    human = run("orders", "show", "A-1", env=env)
    assert "verdict    none" in human.stdout
    evidence = run("orders", "show", "A-1", "--evidence", "markdown", env=env)
    assert evidence.stdout.startswith("# Delivery evidence for order A\\-1")


def test_orders_add_json_prints_the_ids(env: dict[str, str]) -> None:
    result = run(*ADD, "--json", env=env)
    assert json.loads(result.stdout) == {"ids": ["A-1"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("--destination-country", "Atlantis"), "destination.country"),
        (("--promised-by", "2030-01-01"), "promised_by"),
        (("--shipped-at", "soon"), "shipped_at"),
        (("--timezone", "Mars/Base"), "timezone"),
        (("--tracking-number", "NOT A NUMBER!"), "tracking_number"),
    ],
)
def test_orders_add_bad_input_is_one_line_exit_2(
    env: dict[str, str], change: tuple[str, str], field: str
) -> None:
    args = list(ADD)
    args[args.index(change[0]) + 1] = change[1]
    line = _one_line_failure(run(*args, env=env), 2)
    assert field in line


def test_orders_show_unknown_is_exit_4(env: dict[str, str]) -> None:
    line = _one_line_failure(run("orders", "show", "nope", env=env), 4)
    assert "nope" in line


def test_an_unreachable_database_is_exit_3() -> None:
    env = {"TRACKER_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nothing"}
    line = _one_line_failure(run("orders", "show", "A-1", env=env), 3)
    assert "database" in line


def test_import_an_aliexpress_csv(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(ALIEXPRESS_CSV)
    result = run("orders", "import", str(path), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ids": ["8190001", "8190002"]}
    assert "Storing" in result.stderr  # the progress bar
    engine = _engine(env)
    with engine.connect() as conn:
        assert orders.get_order(conn, "8190001").destination_country == "DE"  # type: ignore[union-attr]
        assert len(orders.parcels_of(conn, "8190002")) == 2  # two rows, one order
    engine.dispose()


def test_import_json_lines(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    rows = [
        {
            "id": f"J-{i}",
            "tracking_number": f"LP0051234567890{i}",
            "destination_country": "DE",
            "shipped_at": "2026-11-01T00:00:00Z",
            "promised_by": "2026-12-10",
        }
        for i in range(3)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = run("orders", "import", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 3 orders"


def test_a_bad_row_names_its_line_and_field_and_nothing_is_stored(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    rows = ALIEXPRESS_CSV.splitlines()
    rows[3] = "8190003,LP00512345678903,FR,2026-11-02 10:00:00,someday"
    path.write_text("\n".join(rows) + "\n")
    line = _one_line_failure(run("orders", "import", str(path), env=env), 2)
    assert "export.csv line 4" in line
    assert "promised_by" in line
    engine = _engine(env)
    upgrade(engine)  # the failed import may not even have created the schema
    with engine.connect() as conn:
        assert orders.list_orders(conn) == []
    engine.dispose()


def test_webhooks_add_and_list(env: dict[str, str]) -> None:
    added = run("webhooks", "add", "https://example.com/hook", "--type", "order.overdue", env=env)
    assert added.returncode == 0, added.stderr
    endpoint_id = added.stdout.split()[1]
    assert "secret  whsec_" in added.stdout
    listed = run("webhooks", "list", "--json", env=env)
    [found] = json.loads(listed.stdout)
    assert found["id"] == endpoint_id
    assert found["types"] == ["order.overdue"]
    assert "secret" not in found


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("http://127.0.0.1/hook",), "url"),
        (("https://example.com/hook", "--secret", "nope"), "secret"),
        (("https://example.com/hook", "--type", "order.lost_in_space"), "--type"),
    ],
)
def test_webhooks_add_refuses_bad_input(
    env: dict[str, str], args: tuple[str, ...], field: str
) -> None:
    line = _one_line_failure(run("webhooks", "add", *args, env=env), 2)
    assert field in line


def test_tokens_create_prints_a_token_that_verifies(env: dict[str, str]) -> None:
    result = run("tokens", "create", "ci", env=env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("trk_")
    engine = _engine(env)
    with engine.connect() as conn:
        assert access.verify_token(conn, token) is not None
    engine.dispose()


def test_api_without_redis_says_what_to_start_and_exits_3(env: dict[str, str]) -> None:
    line = _one_line_failure(
        run("api", env={**env, "TRACKER_REDIS_URL": "redis://127.0.0.1:1/0"}), 3
    )
    assert "redis-server" in line


TEMU = {"temu-v1": {"version": 1, "marketplace": "temu", "opens_after_days": 0,
                    "closes_after_promised_days": 90, "note": "a rule of our own, for the test"}}


def test_a_marketplace_rule_comes_from_the_policies_file_not_from_code(
    env: dict[str, str], tmp_path: Path
) -> None:
    policies = tmp_path / "policies.json"
    policies.write_text(json.dumps(TEMU))
    path = tmp_path / "orders.jsonl"
    row = {"id": "T-1", "tracking_number": "LP00512345678901", "destination_country": "DE",
           "shipped_at": "2026-11-01T00:00:00Z", "promised_by": "2026-12-10",
           "marketplace": "temu"}  # fmt: skip
    path.write_text(json.dumps(row) + "\n")
    refused = _one_line_failure(run("orders", "import", str(path), env=env), 2)
    assert "marketplace" in refused and "'temu'" in refused and "aliexpress" in refused
    configured = {**env, "TRACKER_POLICIES_FILE": str(policies)}
    assert run("orders", "import", str(path), env=configured).returncode == 0
    shown = run("orders", "show", "T-1", "--json", env=configured)
    assert shown.returncode == 0, shown.stderr
    protection = json.loads(shown.stdout)["protection"]
    assert (protection["policy"], protection["dispute_closes_at"]) == (
        "temu-v1", "2027-03-11T00:00:00Z")  # fmt: skip: the day after promised_by, + 90 days
    broken = {**env, "TRACKER_POLICIES_FILE": str(tmp_path / "missing.json")}
    line = _one_line_failure(run("orders", "show", "T-1", env=broken), 2)
    assert "TRACKER_POLICIES_FILE" in line

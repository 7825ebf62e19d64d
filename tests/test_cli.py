"""The command line as a user meets it: a real subprocess of the installed `tracker` script."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests import redis_server

DESIGN_COMMANDS = ("serve", "api", "orders", "webhooks", "lookup", "analyze", "sim")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command_of_the_design() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in DESIGN_COMMANDS:
        assert f"  {command} " in result.stdout, command


def test_orders_help_lists_add_import_show() -> None:
    result = run("orders", "--help")
    for command in ("add", "import", "show"):
        assert f"  {command} " in result.stdout


def test_lookup_without_a_worker_says_what_to_start(tmp_path: Path) -> None:
    env = {
        "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "TRACKER_REDIS_URL": redis_server.url(6),
    }
    result = run("lookup", "LP00512345678901", "--wait", "1", env=env)
    assert result.returncode == 3
    assert "not answered within 1s: is a worker running?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_lookup_with_redis_down_says_so(tmp_path: Path) -> None:
    env = {
        "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "TRACKER_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = run("lookup", "LP00512345678901", env=env)
    assert result.returncode == 3
    assert "Redis is not reachable" in result.stderr


def test_lookup_of_a_bad_number_names_the_field(tmp_path: Path) -> None:
    env = {
        "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "TRACKER_REDIS_URL": redis_server.url(6),
    }
    result = run("lookup", "LP 12", env=env)
    assert result.returncode == 2
    assert "tracking_number" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TRACKER_DATABASE_URL": "sqlite+nope:/x"}, "TRACKER_DATABASE_URL"),
        ({"TRACKER_DATABASE_URL": "::::"}, "TRACKER_DATABASE_URL"),
        ({"TRACKER_BOGUS_KEY": "x"}, "TRACKER_BOGUS_KEY"),
        ({"TRACKER_SECRET_KEY": "not-a-fernet-key"}, "TRACKER_SECRET_KEY"),
    ],
)
def test_bad_settings_give_one_line_naming_the_variable(env: dict[str, str], variable: str) -> None:
    result = run("serve", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    result = run("db", "upgrade", env={"TRACKER_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()
    again = run("db", "upgrade", env={"TRACKER_DATABASE_URL": f"sqlite:///{db}"})
    assert again.returncode == 0, again.stderr


def stored_secrets(db: Path) -> dict[str, str]:
    """The secret column as a dump of the database would show it."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, secret FROM webhook_endpoints").fetchall())


def test_webhook_secrets_are_encrypted_in_place_once(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    plain = {"TRACKER_DATABASE_URL": f"sqlite:///{db}"}
    before = json.loads(
        run("webhooks", "add", "https://hooks.example/a", "--json", env=plain).stdout
    )
    assert stored_secrets(db) == {before["id"]: before["secret"]}  # no key: as before
    key = run("webhooks", "new-secret-key").stdout.strip()
    keyed = {**plain, "TRACKER_SECRET_KEY": key}
    after = json.loads(
        run("webhooks", "add", "https://hooks.example/b", "--json", env=keyed).stdout
    )
    assert after["secret"].startswith("whsec_")  # shown once, in the clear
    listed = {e["id"]: e for e in json.loads(run("webhooks", "list", "--json", env=keyed).stdout)}
    assert {i: e["secret_encrypted"] for i, e in listed.items()} == {
        before["id"]: False,
        after["id"]: True,
    }
    assert "secret NOT encrypted" in run("webhooks", "list", env=keyed).stdout
    first = run("webhooks", "encrypt-secrets", "--json", env=keyed)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "encrypted": [before["id"]],
        "reencrypted": [],
        "unchanged": [after["id"]],
    }
    sealed = stored_secrets(db)
    assert all(v.startswith("enc:v1:") and "whsec_" not in v for v in sealed.values())
    again = run("webhooks", "encrypt-secrets", env=keyed)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (
        "encrypted 0, re-encrypted under the first key 0, already encrypted under it 2"
    )
    assert stored_secrets(db) == sealed
    assert "NOT encrypted" not in run("webhooks", "list", env=keyed).stdout


@pytest.mark.parametrize("wrong_key", [False, True], ids=["no-key", "wrong-key"])
def test_encrypt_secrets_refuses_with_one_line_and_writes_nothing(
    tmp_path: Path, wrong_key: bool
) -> None:
    db = tmp_path / "t.db"
    env = {"TRACKER_DATABASE_URL": f"sqlite:///{db}"}
    sealing = {**env, "TRACKER_SECRET_KEY": run("webhooks", "new-secret-key").stdout.strip()}
    hook = json.loads(
        run("webhooks", "add", "https://hooks.example/a", "--json", env=sealing).stdout
    )
    if wrong_key:
        env["TRACKER_SECRET_KEY"] = run("webhooks", "new-secret-key").stdout.strip()
    before = stored_secrets(db)
    result = run("webhooks", "encrypt-secrets", env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    if not wrong_key:
        assert line.startswith("tracker: TRACKER_SECRET_KEY: is not set: there is no key")
    else:
        assert line.startswith(f"tracker: endpoint {hook['id']}: webhook secret is encrypted but ")
        assert "TRACKER_SECRET_KEY does not match" in line
    assert stored_secrets(db) == before


def test_rotating_a_webhook_secret_keeps_both_sealed_and_prints_the_new_one(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    plain = {"TRACKER_DATABASE_URL": f"sqlite:///{db}"}
    hook = json.loads(run("webhooks", "add", "https://hooks.example/a", "--json", env=plain).stdout)
    rotated = run("webhooks", "rotate-secret", hook["id"], "--overlap-hours", "2", "--json",
                  env=plain)  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert new["secret"].startswith("whsec_") and new["secret"] != hook["secret"]
    keyed = {**plain, "TRACKER_SECRET_KEY": run("webhooks", "new-secret-key").stdout.strip()}
    assert run("webhooks", "encrypt-secrets", env=keyed).returncode == 0
    with sqlite3.connect(db) as conn:
        [(current, previous)] = conn.execute(
            "SELECT secret, previous_secret FROM webhook_endpoints"
        ).fetchall()
    assert current.startswith("enc:v1:") and previous.startswith("enc:v1:")  # both at rest
    unknown = run("webhooks", "rotate-secret", "ep_nope", env=plain)
    assert unknown.returncode == 4 and unknown.stderr.count("\n") == 1


def test_deliveries_and_recover_from_the_command_line(tmp_path: Path) -> None:
    env = {"TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"}
    hook = json.loads(run("webhooks", "add", "https://hooks.example/a", "--json", env=env).stdout)
    listed = run("webhooks", "deliveries", "--status", "failed", "--json", env=env)
    assert (listed.returncode, json.loads(listed.stdout)) == (0, [])
    done = run("webhooks", "recover", hook["id"], "--since", "2026-11-01T00:00:00Z", env=env)
    assert (done.returncode, done.stdout.strip()) == (0, "reopened 0 failed deliveries")
    bad = run("webhooks", "recover", hook["id"], "--since", "last week", env=env)
    assert bad.returncode == 2 and "--since" in bad.stderr and bad.stderr.count("\n") == 1
    unknown = run("webhooks", "recover", "ep_nope", "--since", "2026-11-01T00:00:00Z", env=env)
    assert unknown.returncode == 4 and unknown.stderr.count("\n") == 1

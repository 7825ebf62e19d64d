"""docker-compose.yml can't run here (no Docker engine): check its structure instead, and that
its commands are the ones the README gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parent.parent


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_services_are_the_designed_processes() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "api", "worker", "beat"} <= set(services)


def test_one_image_built_from_the_project() -> None:
    services = compose()["services"]
    images = {services[name]["image"] for name in ("api", "worker", "beat", "migrate")}
    assert images == {"tracker:latest"}
    assert all(services[name]["build"] == "." for name in ("api", "worker", "beat"))
    assert (ROOT / "Dockerfile").exists()


def test_redis_persists_its_queue_and_never_evicts() -> None:
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "postgres-data" in compose()["volumes"]


def test_processes_share_settings_pointing_at_the_compose_services() -> None:
    services = compose()["services"]
    for name in ("api", "worker", "beat"):
        env = services[name]["environment"]
        assert env["TRACKER_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["TRACKER_DATABASE_URL"]
        assert env["TRACKER_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully")


def test_every_command_is_the_one_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("api", "worker", "worker-fast", "beat", "migrate"):
        command = " ".join(compose()["services"][name]["command"])
        assert f"`{command}`" in readme, f"{name}: {command!r} is not in the README"


def test_health_checks_on_stateful_services_and_api() -> None:
    services = compose()["services"]
    for name in ("redis", "postgres", "api", "worker"):
        assert "healthcheck" in services[name], name

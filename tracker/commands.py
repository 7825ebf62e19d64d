"""What the `tracker` commands do, apart from parsing arguments (tracker.cli) and printing.

Exit codes (every command): 0 done; 2 bad input or settings (one line on stderr, no traceback);
3 a service (database, Redis) cannot be reached; 4 the id asked for does not exist.

`orders import` is all-or-nothing per file: every row is read and checked first (an error
names the line and the field, and nothing is stored), then all orders are written in one
transaction. Rows with the same order id are one order with several parcels.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from tracker import webhooks
from tracker.deadlines import POLICIES, Policy
from tracker.errors import ValidationError
from tracker.model import AlertType, Order
from tracker.service import importing
from tracker.service import orders as service
from tracker.settings import Settings

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_FOUND = 4


def now() -> datetime:
    return datetime.now(UTC)


def open_engine(settings: Settings) -> Engine:
    """The configured database; an empty one gets the schema first (a fresh SQLite file just
    works), while an existing schema is left to `tracker db upgrade`."""
    from tracker.store.db import current_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    if current_revision(engine) is None:
        upgrade(engine)
    return engine


def redis_problem(url: str, timeout: float = 1.0) -> str | None:
    """None if Redis answers at `url`, else one line saying what to start and how."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        return (
            f"Redis is not reachable at {url.split('@')[-1]} ({type(exc).__name__}): start it "
            "with `redis-server` (or `docker compose up -d redis`), or point TRACKER_REDIS_URL "
            "at a running one"
        )
    finally:
        client.close()
    return None


# ----------------------------------------------------------------------------- orders


def order_from_options(options: dict[str, Any]) -> Order:
    row = {
        "id": options["order_id"],
        "tracking_number": list(options["numbers"]),
        "destination_country": options["destination_country"],
        "destination_postal_code": options.get("destination_postal_code"),
        "destination_city": options.get("destination_city"),
        "shipped_at": options["shipped_at"],
        "promised_by": options["promised_by"],
        "timezone": options.get("timezone") or "UTC",
    }
    return importing.order_from_mapping(row)


def add_order(settings: Settings, order: Order, sources: Sequence[str]) -> list[str]:
    chosen = list(sources) or list(settings.enabled_sources)
    engine = open_engine(settings)
    try:
        return service.add_orders(engine, [order], chosen, now(), policies=settings.policies)
    finally:
        engine.dispose()


def read_orders(path: Path, at: datetime, policies: Mapping[str, Policy] = POLICIES) -> list[Order]:
    """Every order of the file, checked; ValidationError naming `FILE line N: field`."""
    found: list[tuple[int, Order]] = []
    rows = list(importing.read_rows(path))
    with click.progressbar(rows, label="Checking", file=sys.stderr) as bar:
        for line, row in bar:
            try:
                found.append((line, importing.order_from_mapping(row)))
            except ValidationError as exc:
                raise ValidationError(f"{path.name} line {line}: {exc.field}", exc.problem) from exc
    checked = []
    for line, order in importing.merge_rows(found):
        try:
            checked.append(service.validate_order(order, at, policies=policies))
        except ValidationError as exc:
            raise ValidationError(f"{path.name} line {line}: {exc.field}", exc.problem) from exc
    return checked


def import_orders(settings: Settings, path: Path) -> list[str]:
    at = now()
    orders = read_orders(path, at, settings.policies)
    if not orders:
        raise ValidationError(path.name, "holds no orders")
    engine = open_engine(settings)
    try:
        with click.progressbar(length=len(orders), label="Storing", file=sys.stderr) as bar:
            return service.add_orders(
                engine,
                orders,
                list(settings.enabled_sources),
                at,
                progress=bar.update,
                policies=settings.policies,
            )
    finally:
        engine.dispose()


def show_order(settings: Settings, order_id: str, evidence: str | None) -> dict[str, Any] | str:
    engine = open_engine(settings)
    try:
        if evidence is not None:
            kind: Any = evidence
            return service.evidence(engine, order_id, now(), kind, settings.policies)
        return service.order_report(engine, order_id, now(), settings.policies)
    finally:
        engine.dispose()


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few lines a person reads first; `--json` gives the whole report."""
    delivery, window = report["delivery"], report["protection"]
    lines = [
        f"order      {report['order_id']}",
        f"status     {report['status']} ({report['substatus']})",
        f"verdict    {delivery['verdict']}"
        + (f", delivered at {delivery['delivered_at']}" if delivery.get("delivered_at") else ""),
    ]
    lines += [f"  reason   {r['rule']}: {r['detail']}" for r in delivery["reasons"]]
    lines.append(
        f"dispute    {window['state']}: opens {window['dispute_opens_at']}, "
        f"closes {window['dispute_closes_at']}"
    )
    lines += [f"alert      {a['type']}" for a in report["alerts"]]
    for event in report["timeline"][-5:]:
        lines.append(
            f"  {event['occurred_at'] or '?':20}  {event['status']:18}  {event['description']}"
        )
    return lines


# ----------------------------------------------------------------------------- webhooks, tokens


def add_webhook(
    settings: Settings, url: str, secret: str | None, types: Sequence[str]
) -> dict[str, Any]:
    from tracker.secretbox import SecretBox
    from tracker.store import endpoints

    webhooks.check_url(url, settings.webhook_allow_private)
    secret = secret or webhooks.generate_secret()
    webhooks.secret_key(secret)
    known = {t.value for t in AlertType}
    for name in types:
        if name not in known:
            raise ValidationError(
                "--type", f"unknown alert type {name!r} (known: {', '.join(sorted(known))})"
            )
    stored = SecretBox.from_settings(settings).seal(secret)
    engine = open_engine(settings)
    try:
        with engine.begin() as conn:
            row = endpoints.create_endpoint(conn, url, stored, list(types), now=now())
    finally:
        engine.dispose()
    return {"id": row.id, "url": row.url, "types": row.types, "secret": secret}


def rotate_webhook_secret(
    settings: Settings, endpoint_id: str, secret: str | None, overlap_hours: float
) -> dict[str, Any]:
    from datetime import timedelta

    from tracker.secretbox import SecretBox
    from tracker.service import secrets

    engine = open_engine(settings)
    at = now()
    overlap = timedelta(hours=overlap_hours)
    try:
        new = secrets.rotate(engine, SecretBox.from_settings(settings), endpoint_id, at, secret,
                             overlap)  # fmt: skip
    finally:
        engine.dispose()
    return {"id": endpoint_id, "secret": new, "previous_until": (at + overlap).isoformat()}


def list_deliveries(
    settings: Settings, endpoint_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    from tracker.service import deliveries

    engine = open_engine(settings)
    try:
        found, _ = deliveries.listing(engine, endpoint_id=endpoint_id, status=status, limit=limit)
    finally:
        engine.dispose()
    return [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in d.items()} for d in found
    ]


def recover_webhook(settings: Settings, endpoint_id: str, since: str) -> int:
    from tracker.pipeline import parse_instant
    from tracker.service import deliveries

    start = parse_instant(since, "--since")
    engine = open_engine(settings)
    try:
        return deliveries.recover(engine, endpoint_id, start, now())
    finally:
        engine.dispose()


def list_webhooks(settings: Settings) -> list[dict[str, Any]]:
    from tracker.secretbox import is_sealed
    from tracker.store import endpoints

    engine = open_engine(settings)
    try:
        with engine.connect() as conn:
            rows = endpoints.list_endpoints(conn)
    finally:
        engine.dispose()
    return [
        {
            "id": r.id,
            "url": r.url,
            "types": r.types,
            "enabled": r.enabled,
            "disabled_reason": r.disabled_reason,
            "secret_encrypted": is_sealed(r.secret),  # whether, never what
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


def encrypt_secrets(settings: Settings) -> dict[str, list[str]]:
    """Seal every stored webhook secret under the first TRACKER_SECRET_KEY; endpoint ids by
    what happened (encrypted, reencrypted, unchanged). All or nothing."""
    from tracker.secretbox import SecretBox
    from tracker.service import secrets

    box = SecretBox.from_settings(settings)
    engine = open_engine(settings)
    try:
        return secrets.encrypt_secrets(engine, box).as_dict()
    finally:
        engine.dispose()


def new_secret_key() -> str:
    """A fresh key for TRACKER_SECRET_KEY (Fernet: 32 random bytes, url-safe base64)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def create_token(settings: Settings, name: str) -> tuple[int, str]:
    from tracker.store import access

    if not name.strip():
        raise ValidationError("NAME", "must not be empty")
    engine = open_engine(settings)
    try:
        with engine.begin() as conn:
            return access.create_token(conn, name.strip(), now=now())
    finally:
        engine.dispose()


def run_api(settings: Settings, echo: Callable[[str], None]) -> None:
    """Serve the API with uvicorn (the caller has checked Redis)."""
    import importlib
    import logging

    import uvicorn

    from tracker import logs
    from tracker.api import create_app
    from tracker.secretbox import startup_warning

    # By name: the library does not depend on the Celery shell (workers/), only this entry
    # point does, and it hands the queue in.
    queue = importlib.import_module("workers.queue").default_queue()
    open_engine(settings).dispose()  # a fresh database gets its schema before requests come
    app = create_app(settings, queue)
    logs.configure(settings)
    # the API is where new endpoint secrets are stored: say so here too (`tracker serve`
    # says it once for all its children)
    warning = None if settings.serve_child else startup_warning(settings)
    if warning is not None:
        logging.getLogger("tracker.api").warning(warning)
    echo(f"tracker api on http://{settings.api_host}:{settings.api_port} (docs at /docs)")
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # our JSON lines (tracker.logs), not uvicorn's own format
    )

"""The `tracker` command line. Thin: parse arguments, call into the library, print.

Every command of the design is listed by `tracker --help`. A `TrackerError` (bad settings, bad
input) ends the command with one line on stderr naming the problem and exit code 2; no
traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from tracker import __version__
from tracker.errors import NotFoundError, TrackerError
from tracker.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_FOUND = 4


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"tracker: {message}", err=True)
    sys.exit(code)


def _settings() -> Settings:
    return Settings.from_env(os.environ)


def clean_errors(func: F) -> F:
    """Turn our own errors into one line on stderr: exit 4 for an unknown id, 2 for bad input
    or settings, 3 when the database cannot be reached."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NotFoundError as exc:
            _fail(str(exc), EXIT_NOT_FOUND)
        except TrackerError as exc:
            _fail(str(exc))
        except Exception as exc:
            if type(exc).__module__.startswith("sqlalchemy") and type(exc).__name__ in (
                "OperationalError",
                "InterfaceError",
            ):
                _fail(f"the database is unavailable: {str(exc).splitlines()[0]}", EXIT_UNAVAILABLE)
            raise

    return wrapper  # type: ignore[return-value]


def _print_json(value: Any) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracker")
def cli() -> None:
    """Self-hosted parcel tracking: one honest timeline per parcel, fake-delivery detection,
    and buyer-protection deadlines."""


# ----------------------------------------------------------------------------- processes


@cli.command()
@clean_errors
def serve() -> None:
    """Run api + worker + beat for one machine (configured database and Redis)."""
    from tracker.serve import serve as run_serve

    sys.exit(run_serve(_settings()))


@cli.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def receiver(args: Sequence[str]) -> None:
    """A local webhook receiver that verifies and prints alerts (--port, --secret, --record)."""
    from tracker.receiver import main as receiver_main

    sys.exit(receiver_main(list(args)))


@cli.command()
@clean_errors
def api() -> None:
    """Run the HTTP API alone (workers: celery -A workers.app worker|beat)."""
    from tracker import commands

    settings = _settings()
    problem = commands.redis_problem(settings.redis_url)
    if problem is not None:
        _fail(problem, EXIT_UNAVAILABLE)
    commands.run_api(settings, lambda line: click.echo(line, err=True))


# ----------------------------------------------------------------------------- database


@cli.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@clean_errors
def db_upgrade() -> None:
    """Create or upgrade the schema of TRACKER_DATABASE_URL to the newest revision."""
    from tracker.store.db import make_engine, upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"database is at the newest schema: {engine.url.render_as_string()}")


# ----------------------------------------------------------------------------- orders


@cli.group()
def orders() -> None:
    """Add, import and show orders."""


@orders.command("add")
@click.option("--id", "order_id", required=True, help="Your order id (e.g. the AliExpress one).")
@click.option(
    "--tracking-number",
    "numbers",
    multiple=True,
    required=True,
    help="A parcel's tracking number; repeat for several parcels.",
)
@click.option("--destination-country", required=True, help="ISO 3166-1 alpha-2, e.g. DE.")
@click.option("--destination-postal-code", default=None)
@click.option("--shipped-at", required=True, help="ISO-8601 date-time the seller shipped.")
@click.option("--promised-by", required=True, help="Promised delivery: a date or a date-time.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the buyer.")
@click.option("--destination-city", default=None)
@click.option(
    "--source", "sources", multiple=True, help="Source to poll; repeat. Default: TRACKER_SOURCES."
)
@click.option("--json", "as_json", is_flag=True, help='Print {"ids": [...]} as JSON.')
@clean_errors
def orders_add(sources: Sequence[str], as_json: bool, **options: Any) -> None:
    """Add one order and schedule its parcels for polling at once."""
    from tracker import commands

    settings = _settings()
    ids = commands.add_order(settings, commands.order_from_options(options), sources)
    if as_json:
        _print_json({"ids": ids})
    else:
        click.echo(ids[0])


@orders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help='Print {"ids": [...]} as JSON.')
@clean_errors
def orders_import(file: str, as_json: bool) -> None:
    """Import orders from a CSV or JSON Lines FILE, with a progress bar.

    All or nothing: a bad row (named by line and field) stores nothing. See the README,
    "Importing orders", for the columns (AliExpress export names are accepted)."""
    from pathlib import Path

    from tracker import commands

    ids = commands.import_orders(_settings(), Path(file))
    if as_json:
        _print_json({"ids": ids})
    else:
        click.echo(f"imported {len(ids)} orders")


@orders.command("show")
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True, help="The whole report (as `tracker analyze`).")
@click.option(
    "--evidence",
    type=click.Choice(["markdown", "html"]),
    default=None,
    help="Print the dispute evidence summary instead.",
)
@clean_errors
def orders_show(order_id: str, as_json: bool, evidence: str | None) -> None:
    """Show a stored order: a summary, its report (--json) or its evidence (--evidence)."""
    from tracker import commands

    result = commands.show_order(_settings(), order_id, evidence)
    if isinstance(result, str):
        click.echo(result)
    elif as_json:
        _print_json(result)
    else:
        click.echo("\n".join(commands.summary_lines(result)))


# ----------------------------------------------------------------------------- webhooks, tokens


@cli.group()
def webhooks() -> None:
    """Webhook endpoints that receive signed alerts."""


@webhooks.command("add")
@click.argument("url")
@click.option("--secret", default=None, help="whsec_... secret (generated if omitted).")
@click.option("--type", "types", multiple=True, help="Alert type to send; repeat. Default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print the endpoint as JSON.")
@clean_errors
def webhooks_add(url: str, secret: str | None, types: Sequence[str], as_json: bool) -> None:
    """Register URL as a webhook endpoint; prints its id and secret."""
    from tracker import commands

    endpoint = commands.add_webhook(_settings(), url, secret, types)
    if as_json:
        _print_json(endpoint)
    else:
        click.echo(f"id      {endpoint['id']}\nsecret  {endpoint['secret']}")


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the endpoints as JSON.")
@clean_errors
def webhooks_list(as_json: bool) -> None:
    """List webhook endpoints (secrets are not shown)."""
    from tracker import commands

    found = commands.list_webhooks(_settings())
    if as_json:
        _print_json(found)
        return
    for e in found:
        state = "enabled" if e["enabled"] else f"disabled ({e['disabled_reason']})"
        secret = "secret encrypted" if e["secret_encrypted"] else "secret NOT encrypted"
        types = ",".join(e["types"]) or "all types"
        click.echo(f"{e['id']}  {state}  {secret}  {e['url']}  {types}")


@webhooks.command("rotate-secret")
@click.argument("endpoint_id")
@click.option("--secret", default=None, help="The new whsec_... secret (generated if omitted).")
@click.option(
    "--overlap-hours",
    default=24.0,
    show_default=True,
    type=click.FloatRange(0, 720),
    help="Hours during which webhooks are signed with both the old and the new secret.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new secret and overlap as JSON.")
@clean_errors
def webhooks_rotate_secret(
    endpoint_id: str, secret: str | None, overlap_hours: float, as_json: bool
) -> None:
    """Give an endpoint a new signing secret; prints it. Until the overlap ends, webhooks
    carry signatures by both secrets, so the receiver can switch to the new one at any time."""
    from tracker import commands

    rotated = commands.rotate_webhook_secret(_settings(), endpoint_id, secret, overlap_hours)
    if as_json:
        _print_json(rotated)
    else:
        click.echo(
            f"secret          {rotated['secret']}\nold signs until {rotated['previous_until']}"
        )


@webhooks.command("deliveries")
@click.option("--endpoint", "endpoint_id", default=None, help="Only this endpoint's.")
@click.option("--status", type=click.Choice(["pending", "succeeded", "failed"]), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print the deliveries as JSON.")
@clean_errors
def webhooks_deliveries(
    endpoint_id: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """List webhook deliveries, newest first (ids to replay, endpoints failing)."""
    from tracker import commands

    found = commands.list_deliveries(_settings(), endpoint_id, status, limit)
    if as_json:
        _print_json(found)
        return
    for d in found:
        code = d["last_status_code"] if d["last_status_code"] is not None else "-"
        click.echo(f"{d['id']:>8}  {d['status']:9}  {d['attempts']:>2} tries  last {code}  "
                   f"{d['endpoint_id']}  {d['alert_type']}  {d['created_at']}")  # fmt: skip


@webhooks.command("recover")
@click.argument("endpoint_id")
@click.option("--since", required=True, help="ISO-8601 instant: failed deliveries since then.")
@click.option("--json", "as_json", is_flag=True, help='Print {"reopened": n} as JSON.')
@clean_errors
def webhooks_recover(endpoint_id: str, since: str, as_json: bool) -> None:
    """Send again every delivery to an endpoint that failed since --since (after an outage,
    once the endpoint is fixed and enabled); the deadline sweep sends them."""
    from tracker import commands

    reopened = commands.recover_webhook(_settings(), endpoint_id, since)
    if as_json:
        _print_json({"reopened": reopened})
    else:
        click.echo(f"reopened {reopened} failed deliveries")


@webhooks.command("encrypt-secrets")
@click.option("--json", "as_json", is_flag=True, help="Print the endpoint ids by outcome as JSON.")
@clean_errors
def webhooks_encrypt_secrets(as_json: bool) -> None:
    """Encrypt every stored signing secret under the first TRACKER_SECRET_KEY.

    Plaintext secrets (stored before the key was set) are encrypted, secrets under an older key
    are re-encrypted (key rotation), the rest are left alone: running it again changes nothing.
    All or nothing: a secret no key opens is named and nothing is written (exit 2)."""
    from tracker import commands

    done = commands.encrypt_secrets(_settings())
    if as_json:
        _print_json(done)
        return
    click.echo(
        f"encrypted {len(done['encrypted'])}, re-encrypted under the first key "
        f"{len(done['reencrypted'])}, already encrypted under it {len(done['unchanged'])}"
    )


@webhooks.command("new-secret-key")
def webhooks_new_secret_key() -> None:
    """Print a new random key for TRACKER_SECRET_KEY (it is not stored anywhere)."""
    from tracker import commands

    click.echo(commands.new_secret_key())


@cli.group()
def tokens() -> None:
    """API bearer tokens (stored hashed)."""


@tokens.command("create")
@click.argument("name")
@clean_errors
def tokens_create(name: str) -> None:
    """Create an API token called NAME and print it once."""
    from tracker import commands

    _token_id, token = commands.create_token(_settings(), name)
    click.echo(token)
    click.echo("Keep it now: only its hash is stored, it cannot be shown again.", err=True)


# ----------------------------------------------------------------------------- lookups, analysis


@cli.command()
@click.argument("number")
@click.option("--source", default=None, help="Ask this source only.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@clean_errors
@click.option(
    "--wait",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="Seconds to wait for a worker's answer.",
)
def lookup(number: str, source: str | None, as_json: bool, wait: float) -> None:
    """Queue an on-demand lookup of NUMBER and wait for the answer."""
    import tracker
    from tracker import commands
    from tracker.service.lookups import LookupTimeout

    settings = _settings()
    problem = commands.redis_problem(settings.redis_url)
    if problem:
        _fail(problem, EXIT_UNAVAILABLE)
    try:
        report = tracker.lookup(number, source, wait=wait, settings=settings)
    except LookupTimeout as exc:
        _fail(str(exc), EXIT_UNAVAILABLE)
    if as_json:
        _print_json(report)
        return
    for line in _lookup_lines(report):
        click.echo(line)


def _lookup_lines(report: dict[str, Any]) -> list[str]:
    if "error" in report and "timeline" not in report:
        return [f"{report.get('id')}: {report.get('status')}: {report.get('error')}"]
    lines = [f"{report['tracking_number']}: {report['status']} ({report['substatus']})"]
    for event in report["timeline"][-10:]:
        where = (event.get("location") or {}).get("country") or ""
        lines.append(
            f"  {event['occurred_at'] or '?':<21} {where:<3} {event['description']}"
            f"  [{', '.join(event['sources'])}]"
        )
    for answer in report.get("sources", []):
        lines.append(f"  {answer['source']}: {answer['outcome']}")
    for warning in report.get("warnings", []):
        lines.append(f"  warning: {warning['source']}: {warning['message']}")
    return lines


@cli.command()
@click.argument("file")
@click.option(
    "--now",
    default=None,
    help="ISO-8601 instant to analyse at (default: the case's `now`, else the current time).",
)
@click.option(
    "--evidence",
    type=click.Choice(["markdown", "html"]),
    default=None,
    help="Also write each order's dispute summary as <order id>.md/.html (beside FILE).",
)
@click.option(
    "--evidence-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where --evidence writes the summaries (default: FILE's directory).",
)
@click.option(
    "--policies",
    default=None,
    envvar="TRACKER_POLICIES_FILE",
    help="JSON file of protection policies beside the built-in ones "
    "(default: TRACKER_POLICIES_FILE).",
)
def analyze(
    file: str,
    now: str | None,
    evidence: str | None,
    evidence_dir: str | None,
    policies: str | None,
) -> None:
    """Run the whole pipeline offline on a saved case FILE (JSON or JSON Lines; - reads
    standard input)."""
    from tracker.analyze import main as analyze_main

    sys.exit(
        analyze_main(
            file,
            now,
            sys.stdout,
            sys.stderr,
            evidence=evidence,
            evidence_dir=evidence_dir,
            policies=policies,
        )
    )


@cli.command()
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--scenario",
    default=None,
    help="Scenario JSON file, or synthetic:N[:SEED] for N generated parcels "
    "(default: the built-in demo scenario).",
)
@clean_errors
def sim(port: int, scenario: str | None) -> None:
    """Run a local simulated tracking service that speaks the sources' real formats."""
    from tracker.sim.server import run

    run(port, scenario)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="tracker")


if __name__ == "__main__":
    main()

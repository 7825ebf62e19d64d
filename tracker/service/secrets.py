"""Re-sealing stored webhook secrets under the first TRACKER_SECRET_KEY (`tracker webhooks
encrypt-secrets`): plaintext rows from before the key are encrypted, rows sealed under an older
key are moved to the first one, rows already under it are left alone (so a second run changes
nothing).

All or nothing: every new value is worked out before anything is written, so a row that no key
opens stops the command with that endpoint named and the database as it was. The writes are
compare-and-set, one transaction: a row changed meanwhile (deleted, or re-sealed by another
run) is left as it is and counted as unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from tracker import webhooks
from tracker.errors import ConfigurationError, NotFoundError, SecretUnreadable, ValidationError
from tracker.secretbox import SecretBox, is_sealed
from tracker.store import endpoints

DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Resealed:
    """Endpoint ids by what happened to their secret."""

    encrypted: list[str] = field(default_factory=list)  # was plaintext
    reencrypted: list[str] = field(default_factory=list)  # was sealed under another key
    unchanged: list[str] = field(default_factory=list)  # already under the first key

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "encrypted": self.encrypted,
            "reencrypted": self.reencrypted,
            "unchanged": self.unchanged,
        }


def plan(box: SecretBox, stored: list[tuple[str, str]]) -> list[tuple[str, str, str | None]]:
    """(endpoint id, stored value, value to store or None) for each row; SecretUnreadable
    (naming the endpoint) for the first one no key opens."""
    return [(ep, value, box.reseal(value, ep)) for ep, value in stored]


def encrypt_secrets(engine: Engine, box: SecretBox) -> Resealed:
    """Seal every endpoint's secret under the first key (see the module docstring)."""
    if not box.enabled:
        raise ConfigurationError(
            "TRACKER_SECRET_KEY", "is not set: there is no key to encrypt the secrets with"
        )
    done = Resealed()
    with engine.begin() as conn:
        current = plan(box, endpoints.stored_secrets(conn))
        previous = _plan_previous(box, endpoints.stored_previous_secrets(conn))
        for endpoint_id, old, new in current:
            if new is None or not endpoints.replace_secret(conn, endpoint_id, old, new):
                done.unchanged.append(endpoint_id)
            elif is_sealed(old):
                done.reencrypted.append(endpoint_id)
            else:
                done.encrypted.append(endpoint_id)
        for endpoint_id, old, new in previous:
            if new is None:
                continue
            if new == "":  # unreadable: it could never sign again
                endpoints.drop_previous_secret(conn, endpoint_id, old)
            else:
                endpoints.replace_secret(conn, endpoint_id, old, new, previous=True)
    return done


def _plan_previous(
    box: SecretBox, stored: list[tuple[str, str]]
) -> list[tuple[str, str, str | None]]:
    """`plan` for the secrets kept from rotations, except that one no key opens does not stop
    the run: it is dropped ("" below), since it could never sign again."""
    planned: list[tuple[str, str, str | None]] = []
    for endpoint_id, value in stored:
        try:
            planned.append((endpoint_id, value, box.reseal(value, endpoint_id)))
        except SecretUnreadable:
            planned.append((endpoint_id, value, ""))
    return planned


def rotate(
    engine: Engine,
    box: SecretBox,
    endpoint_id: str,
    now: datetime,
    secret: str | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
) -> str:
    """Give the endpoint a new signing secret (`secret`, or a generated one) and return it.
    Until `now + overlap` every webhook carries two signatures, by the new and the old
    secret, so a receiver verifies whichever it holds (reliability.md WH-4); then only the
    new one. A rotation during an overlap ends the older one: only the last two secrets sign."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise ValidationError("overlap", f"must be between 0 and {MAX_OVERLAP.days} days")
    secret = secret or webhooks.generate_secret()
    webhooks.secret_key(secret)  # a malformed secret is an error naming `secret`
    with engine.begin() as conn:
        current = endpoints.get_endpoint(conn, endpoint_id)
        if current is None:
            raise NotFoundError("webhook endpoint", endpoint_id)
        try:
            same = box.open(current.secret, endpoint_id) == secret
            readable = True
        except SecretUnreadable:  # no key opens it any more: rotating is how to recover
            same, readable = False, False
        if same:
            raise ValidationError("secret", "is the endpoint's current secret")
        # a secret nobody can open cannot sign during an overlap: it is not kept
        until = now + overlap if readable else None
        endpoints.rotate_secret(conn, endpoint_id, box.seal(secret), until)
    return secret

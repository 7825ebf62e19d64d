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

from sqlalchemy.engine import Engine

from tracker.errors import ConfigurationError
from tracker.secretbox import SecretBox, is_sealed
from tracker.store import endpoints


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
        for endpoint_id, old, new in plan(box, endpoints.stored_secrets(conn)):
            if new is None or not endpoints.replace_secret(conn, endpoint_id, old, new):
                done.unchanged.append(endpoint_id)
            elif is_sealed(old):
                done.reencrypted.append(endpoint_id)
            else:
                done.encrypted.append(endpoint_id)
    return done

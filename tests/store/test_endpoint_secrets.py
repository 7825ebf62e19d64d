"""Webhook secrets at rest, as the database holds them (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Connection

from tracker import webhooks
from tracker.secretbox import SEALED_PREFIX, SecretBox
from tracker.store import repo
from tracker.store.tables import webhook_endpoints

from ._helpers import NOW

KEY = Fernet.generate_key().decode()


def raw_secret(conn: Connection, endpoint_id: str) -> str:
    """The column itself, as a database dump would show it."""
    query = sa.select(webhook_endpoints.c.secret).where(webhook_endpoints.c.id == endpoint_id)
    return str(conn.execute(query).scalar_one())


def test_a_sealed_secret_is_not_plaintext_in_the_database(conn: Connection) -> None:
    box = SecretBox([KEY])
    secret = webhooks.generate_secret()
    ep = repo.create_endpoint(conn, "https://hooks.example/x", box.seal(secret), now=NOW)
    stored = raw_secret(conn, ep.id)
    assert stored.startswith(SEALED_PREFIX)
    assert "whsec_" not in stored and secret[len("whsec_") :] not in stored
    read = repo.get_endpoint(conn, ep.id)
    assert read is not None and box.open(read.secret, read.id) == secret


def test_stored_secrets_lists_every_endpoint_as_stored(conn: Connection) -> None:
    box = SecretBox([KEY])
    plain = repo.create_endpoint(conn, "https://a.example/", webhooks.generate_secret(), now=NOW)
    sealed = repo.create_endpoint(
        conn, "https://b.example/", box.seal(webhooks.generate_secret()), now=NOW
    )
    repo.disable_endpoint(conn, sealed.id, "410 Gone")  # disabled ones are re-sealed too
    assert repo.stored_secrets(conn) == sorted(
        [(plain.id, plain.secret), (sealed.id, sealed.secret)]
    )


def test_replace_secret_only_replaces_the_value_it_was_given(conn: Connection) -> None:
    secret = webhooks.generate_secret()
    ep = repo.create_endpoint(conn, "https://a.example/", secret, now=NOW)
    sealed = SecretBox([KEY]).seal(secret)
    assert not repo.replace_secret(conn, ep.id, "whsec_somethingelse", sealed)
    assert raw_secret(conn, ep.id) == secret
    assert repo.replace_secret(conn, ep.id, secret, sealed)
    assert raw_secret(conn, ep.id) == sealed
    assert not repo.replace_secret(conn, "ep_gone", secret, sealed)

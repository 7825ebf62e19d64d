"""`encrypt_secrets`: plaintext rows sealed, old keys rotated out, all or nothing, on both
databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from tests.store._helpers import NOW
from tracker import webhooks
from tracker.errors import ConfigurationError, SecretUnreadable
from tracker.secretbox import SEALED_PREFIX, SecretBox
from tracker.service.secrets import encrypt_secrets
from tracker.store import endpoints
from tracker.store.tables import webhook_endpoints

OLD, NEW, OTHER = (Fernet.generate_key().decode() for _ in range(3))


def add(engine: Engine, stored: str) -> str:
    with engine.begin() as conn:
        return endpoints.create_endpoint(conn, "https://hooks.example/x", stored, now=NOW).id


def raw(engine: Engine) -> dict[str, str]:
    query = sa.select(webhook_endpoints.c.id, webhook_endpoints.c.secret)
    with engine.connect() as conn:
        return {row.id: row.secret for row in conn.execute(query)}


def test_plaintext_rows_are_encrypted_and_a_second_run_changes_nothing(engine: Engine) -> None:
    secrets = [webhooks.generate_secret() for _ in range(3)]
    ids = [add(engine, s) for s in secrets]
    box = SecretBox([NEW])
    done = encrypt_secrets(engine, box)
    assert sorted(done.encrypted) == sorted(ids) and done.reencrypted == done.unchanged == []
    stored = raw(engine)
    for endpoint_id, secret in zip(ids, secrets, strict=True):
        assert stored[endpoint_id].startswith(SEALED_PREFIX) and "whsec_" not in stored[endpoint_id]
        assert box.open(stored[endpoint_id], endpoint_id) == secret
    again = encrypt_secrets(engine, box)
    assert sorted(again.unchanged) == sorted(ids) and again.encrypted == again.reencrypted == []
    assert raw(engine) == stored  # not even re-encrypted: the rows are byte for byte the same


def test_rotation_moves_every_row_to_the_first_key(engine: Engine) -> None:
    secret, plain = webhooks.generate_secret(), webhooks.generate_secret()
    under_old = add(engine, SecretBox([OLD]).seal(secret))
    under_new = add(engine, SecretBox([NEW]).seal(plain))
    done = encrypt_secrets(engine, SecretBox([NEW, OLD]))
    assert (done.reencrypted, done.unchanged) == ([under_old], [under_new])
    only_new = SecretBox([NEW])  # the old key can now be dropped
    stored = raw(engine)
    assert only_new.open(stored[under_old], under_old) == secret
    assert only_new.open(stored[under_new], under_new) == plain


def test_a_row_no_key_opens_stops_the_run_and_nothing_is_written(engine: Engine) -> None:
    add(engine, webhooks.generate_secret())
    lost = add(engine, SecretBox([OTHER]).seal(webhooks.generate_secret()))
    before = raw(engine)
    with pytest.raises(SecretUnreadable, match=f"^endpoint {lost}: .*does not match"):
        encrypt_secrets(engine, SecretBox([NEW]))
    assert raw(engine) == before


def test_without_a_key_there_is_nothing_to_encrypt_with(engine: Engine) -> None:
    add(engine, webhooks.generate_secret())
    before = raw(engine)
    with pytest.raises(ConfigurationError, match=r"^TRACKER_SECRET_KEY: is not set"):
        encrypt_secrets(engine, SecretBox())
    assert raw(engine) == before

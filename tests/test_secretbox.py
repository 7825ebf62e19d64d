"""Webhook secrets at rest: sealed with the first key, opened with any, plaintext still read."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from tracker import webhooks
from tracker.errors import SecretUnreadable
from tracker.secretbox import SEALED_PREFIX, SecretBox, is_sealed, startup_warning
from tracker.settings import Settings

OLD, NEW, OTHER = (Fernet.generate_key().decode() for _ in range(3))


@pytest.fixture
def secret() -> str:
    return webhooks.generate_secret()


def test_a_sealed_secret_opens_to_the_original(secret: str) -> None:
    box = SecretBox([NEW])
    stored = box.seal(secret)
    assert stored.startswith(SEALED_PREFIX) and is_sealed(stored)
    assert "whsec_" not in stored and secret[len("whsec_") :] not in stored
    assert box.open(stored, "ep_a") == secret
    assert box.seal(secret) != stored  # a fresh IV each time: equal secrets don't show


def test_without_a_key_secrets_stay_plaintext_and_plaintext_is_read(secret: str) -> None:
    box = SecretBox()
    assert not box.enabled
    assert box.seal(secret) == secret and not is_sealed(secret)
    assert box.open(secret, "ep_a") == secret
    assert SecretBox([NEW]).open(secret, "ep_a") == secret  # a row stored before the key


def test_a_sealed_secret_without_a_key_names_the_endpoint_and_the_problem(secret: str) -> None:
    stored = SecretBox([NEW]).seal(secret)
    with pytest.raises(SecretUnreadable) as caught:
        SecretBox().open(stored, "ep_x")
    assert str(caught.value) == (
        "endpoint ep_x: webhook secret is encrypted but TRACKER_SECRET_KEY is not set"
    )
    assert caught.value.endpoint_id == "ep_x" and caught.value.retryable


def test_a_wrong_key_says_the_key_does_not_match(secret: str) -> None:
    stored = SecretBox([NEW]).seal(secret)
    with pytest.raises(SecretUnreadable, match=r"^endpoint ep_x: .*does not match"):
        SecretBox([OTHER]).open(stored, "ep_x")
    with pytest.raises(SecretUnreadable, match="does not match"):
        SecretBox([NEW]).open(stored[:-4] + "AAA=", "ep_x")  # a damaged token


def test_an_unknown_scheme_is_refused_not_taken_for_plaintext(secret: str) -> None:
    with pytest.raises(SecretUnreadable, match="unknown scheme 'enc:v9'"):
        SecretBox([NEW]).open("enc:v9:abc", "ep_x")


def test_every_key_opens_and_reseal_moves_a_secret_to_the_first(secret: str) -> None:
    under_old = SecretBox([OLD]).seal(secret)
    rotating = SecretBox([NEW, OLD])
    assert rotating.open(under_old, "ep_a") == secret
    moved = rotating.reseal(under_old, "ep_a")
    assert moved is not None and SecretBox([NEW]).open(moved, "ep_a") == secret
    assert rotating.reseal(moved, "ep_a") is None  # already under the first key: no change


def test_reseal_seals_plaintext_and_refuses_what_no_key_opens(secret: str) -> None:
    box = SecretBox([NEW])
    sealed = box.reseal(secret, "ep_a")
    assert sealed is not None and box.open(sealed, "ep_a") == secret
    with pytest.raises(SecretUnreadable, match="ep_b"):
        box.reseal(SecretBox([OTHER]).seal(secret), "ep_b")


def test_the_box_never_shows_its_keys() -> None:
    box = SecretBox([NEW])
    assert NEW not in repr(box) and repr(box) == "SecretBox(keys=set)"


def test_only_a_service_without_a_key_warns() -> None:
    warning = startup_warning(Settings.from_env({}))
    assert warning is not None and "TRACKER_SECRET_KEY is not set" in warning
    assert startup_warning(Settings.from_env({"TRACKER_SECRET_KEY": NEW})) is None
    assert SecretBox.from_settings(Settings.from_env({"TRACKER_SECRET_KEY": NEW})).enabled

"""Webhook signing secrets at rest: sealed with the operator's key, opened only to sign.

A `whsec_` secret has to sign, so it cannot be stored hashed like an API token. It is encrypted
instead, with Fernet (AES-128-CBC and HMAC-SHA256, from `cryptography`) under the key in
TRACKER_SECRET_KEY, and the stored value says which it is:

    whsec_<base64>        plaintext: stored while no key was set (as before this module)
    enc:v1:<fernet token> sealed; the version names the scheme, so another can sit beside it

TRACKER_SECRET_KEY is a comma-separated list of keys (MultiFernet): the first seals, every one
opens. A key is rotated by putting the new one first, re-sealing every row (`tracker webhooks
encrypt-secrets`), then dropping the old one. Without a key nothing is sealed and plaintext rows
are read as before; a sealed row then cannot be opened and says so (`SecretUnreadable`, naming
the endpoint), so nothing is ever signed with the wrong key or sent unsigned.

Pure apart from Fernet's own clock and randomness: no database, no settings lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tracker.errors import SecretUnreadable
from tracker.settings import Settings

SEALED_PREFIX: Final = "enc:v1:"
_SEALED_ANY: Final = "enc:"  # a scheme of a later version: refused, never taken for plaintext
UNENCRYPTED_WARNING: Final = (
    "TRACKER_SECRET_KEY is not set: webhook signing secrets are stored unencrypted, so a "
    "database dump or backup holds every endpoint's secret (see docs/webhook-secrets.md)"
)


class SecretBox:
    """Seals and opens stored webhook secrets with the keys of TRACKER_SECRET_KEY.

    With no key it seals nothing (the secret is stored as given) and opens only plaintext.
    """

    __slots__ = ("_all", "_first")

    def __init__(self, keys: Sequence[str] = ()) -> None:
        fernets = [Fernet(key) for key in keys]
        self._first = fernets[0] if fernets else None
        self._all = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls([key.reveal() for key in settings.secret_keys])

    def __repr__(self) -> str:
        return f"SecretBox(keys={'set' if self._all else 'none'})"

    @property
    def enabled(self) -> bool:
        return self._all is not None

    def seal(self, secret: str) -> str:
        """The form to store: sealed under the first key, or `secret` itself without a key."""
        if self._all is None:
            return secret
        return SEALED_PREFIX + self._all.encrypt(secret.encode()).decode("ascii")

    def open(self, stored: str, endpoint_id: str) -> str:
        """The `whsec_` secret of a stored value; SecretUnreadable naming the endpoint if it is
        sealed and no key opens it."""
        if not is_sealed(stored):
            return stored
        token = _token(stored, endpoint_id)
        if self._all is None:
            raise SecretUnreadable(
                endpoint_id, "webhook secret is encrypted but TRACKER_SECRET_KEY is not set"
            )
        try:
            return self._all.decrypt(token).decode()
        except (InvalidToken, UnicodeDecodeError) as exc:
            raise SecretUnreadable(
                endpoint_id,
                "webhook secret is encrypted but TRACKER_SECRET_KEY does not match "
                "(none of its keys opens it)",
            ) from exc

    def reseal(self, stored: str, endpoint_id: str) -> str | None:
        """The value to store instead of `stored` so that the first key seals it, or None if it
        already does (so re-running the encrypt command changes nothing)."""
        if self._first is None:
            raise ValueError("reseal needs a key")
        if is_sealed(stored) and self._opens_with_first(_token(stored, endpoint_id)):
            return None
        return self.seal(self.open(stored, endpoint_id))

    def _opens_with_first(self, token: bytes) -> bool:
        assert self._first is not None
        try:
            self._first.decrypt(token)
        except InvalidToken:
            return False
        return True


def is_sealed(stored: str) -> bool:
    """Whether a stored value is encrypted (any scheme) rather than a plaintext `whsec_`."""
    return stored.startswith(_SEALED_ANY)


def _token(stored: str, endpoint_id: str) -> bytes:
    if not stored.startswith(SEALED_PREFIX):
        scheme = stored.split(":", 2)[:2]
        raise SecretUnreadable(
            endpoint_id, f"webhook secret is encrypted with an unknown scheme {':'.join(scheme)!r}"
        )
    return stored[len(SEALED_PREFIX) :].encode("ascii", errors="replace")


def startup_warning(settings: Settings) -> str | None:
    """The one warning a starting service logs when secrets are stored unencrypted."""
    return None if settings.secret_keys else UNENCRYPTED_WARNING

"""The HTTP API (FastAPI): `create_app(settings, queue)`; served by `tracker api`."""

from tracker.api.app import create_app

__all__ = ["create_app"]

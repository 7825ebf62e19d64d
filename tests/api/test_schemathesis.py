"""Schemathesis over /openapi.json, in-process (ASGI), with a valid token: whatever it sends,
the API must not answer 5xx. Bounded: 30 examples per operation, on each database."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.engine import Engine

from tests.api.conftest import NOW, make_settings
from tracker.api import create_app
from workers.queue import CeleryQueue

EXAMPLES = 30


@pytest.fixture
def api_schema(engine: Engine, celery_queue: CeleryQueue, redis_client: redis.Redis) -> Any:
    # Private webhook targets refused: a generated URL must never reach a local service.
    app = create_app(
        make_settings(webhook_allow_private=False),
        celery_queue,
        engine=engine,
        redis=redis_client,
        clock=lambda: NOW,
        rate_limit="100000/second",
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _fuzz(operation: Any, token: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=[not_a_server_error])

    run()


def test_no_operation_answers_with_a_server_error(api_schema: Any, token: str) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15  # every endpoint of the design is in the document
    for operation in operations:
        _fuzz(operation, token)

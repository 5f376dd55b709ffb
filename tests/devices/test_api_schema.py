"""Property-based tests of /api/devices/ against the served OpenAPI schema.

Schemathesis generates valid and invalid registrations and deletions, sends
them with a real token, and checks that no answer is a 5xx and that every
answer is one the schema documents.
"""

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devices.models import Device

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, minus the connection closing that would end the test transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield WSGIHandler()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_the_device_api_answers_every_generated_request_as_its_schema_says(alice, wsgi_app):
    token = Token.objects.create(user=alice).key
    Device.objects.create(
        user=alice, platform="android", token="existing", last_seen_at="2026-01-01T00:00Z"
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    operations = [
        result.ok() for result in schema.include(path_regex=r"^/api/devices/").get_all_operations()
    ]
    assert len(operations) == 3
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=25,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            def check(case):
                case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # one operation's failure must not hide the others'
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)

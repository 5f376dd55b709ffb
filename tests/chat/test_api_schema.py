"""Property-based tests of the REST API against its own served OpenAPI schema.

Schemathesis reads ``/api/schema/`` from the running application, generates
valid and invalid requests for every chat operation, sends them with a real
token, and checks that no answer is a 5xx and that every answer (status,
content type, body) is one the schema documents.
"""

import hypothesis
import pytest
import schemathesis
from django.core.cache import caches
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

from chat import services

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 15
# The REST API of the chat app; devices and notifications test their own paths.
CHAT_PATHS = r"^/api/(auth|me/$|rooms|messages)"


@pytest.fixture
def world(db, settings, alice, bob, carol, room):
    """Real objects for generated ids to land on, and high limits so throttling stays out."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "100000/min", "send": "100000/min"},
    }
    caches["throttle"].clear()
    messages = [
        services.message_send(user=user, room_id=room.pk, body=f"m{i}", client_id=f"w{i}")[0]
        for i, user in enumerate([alice, bob, alice])
    ]
    direct, _ = services.room_direct(user=alice, other_id=carol.pk)
    return {
        "token": Token.objects.create(user=alice).key,
        "room_id": [room.pk, direct.pk],
        "message_id": [m.pk for m in messages],
        # Not alice: a generated DELETE of her own membership would lock her out of
        # the room for the rest of the run.
        "user_id": [bob.pk, carol.pk],
    }


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, minus the connection closing that would end the test transaction.

    (Django's test client does the same.)
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield WSGIHandler()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_the_api_answers_every_generated_request_as_its_schema_says(world, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    operations = [
        result.ok() for result in schema.include(path_regex=CHAT_PATHS).get_all_operations()
    ]
    assert len(operations) >= 13
    headers = {"Authorization": f"Token {world['token']}"}
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            def check(case):
                land_on_real_objects(case, world)
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                # Nothing to make invalid: the operation takes no parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # one operation's failure must not hide the others'
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


def land_on_real_objects(case, world):
    """Move half the generated ids onto real rooms, messages and users.

    Random ids almost never exist; these make requests reach the services.
    """
    for name, value in list((case.path_parameters or {}).items()):
        if name in world and isinstance(value, int) and value % 2 == 0:
            choices = world[name]
            case.path_parameters[name] = choices[value // 2 % len(choices)]

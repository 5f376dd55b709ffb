"""Structured logs: JSON lines with request and connection ids, never bodies or tokens."""

import io
import json
import logging
import re

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.authtoken.models import Token

from ops.logging import ContextFilter, JsonFormatter, TextFormatter

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_BODY = "the launch code is swordfish-7731"


@pytest.fixture
def captured():
    """Every log record of every logger, at DEBUG, as JSON lines in a buffer."""
    import chatproject.asgi  # noqa: F401  (its django.setup() would reset the handlers)

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    named = [logging.getLogger(n) for n in ("chat", "ops", "stats", "devices", "notifications")]
    saved = [(lg, lg.level) for lg in [root, *named]]
    root.addHandler(handler)
    for lg, _ in saved:
        lg.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    for lg, level in saved:
        lg.setLevel(level)


async def test_a_message_sent_over_websocket_and_rest_never_logs_its_body_or_the_token(
    captured, connect, alice, bob, room
):
    token = (await sync_to_async(Token.objects.get_or_create)(user=alice))[0].key
    a, b = await connect(alice), await connect(bob)
    await a.say(room.pk, SECRET_BODY, "ws-1")
    await a.expect("message.ack")
    await b.expect("message.new")

    def rest_send():
        return Client().post(
            f"/api/rooms/{room.pk}/messages/",
            {"body": SECRET_BODY + " again", "client_id": "rest-1"},
            content_type="application/json",
            headers={"Authorization": f"Token {token}"},
        )

    response = await sync_to_async(rest_send)()
    assert response.status_code == 201
    await b.expect("message.new", where=lambda f: f["message"]["client_id"] == "rest-1")
    await a.close()
    await b.close()

    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines, "nothing was logged"
    assert "swordfish" not in text
    assert token not in text
    assert any(line.get("connection_id") for line in lines)
    access = [
        line for line in lines if line["logger"] == "ops.access" and "POST" in line["message"]
    ]
    assert access and access[0]["request_id"] == response["X-Request-ID"]
    assert re.fullmatch(
        r"POST /api/rooms/<\w+:room_id>/messages/ 201 [\d.]+ms", access[0]["message"]
    )


def test_json_lines_carry_ids_and_drop_extras_named_like_secrets():
    record = logging.LogRecord("chat.test", logging.INFO, __file__, 1, "user %s sent", (7,), None)
    record.room = 3
    record.body = "private words"
    record.push_token = "abc"
    record.request_id = "r-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "user 7 sent"
    assert line["level"] == "INFO" and line["logger"] == "chat.test"
    assert line["room"] == 3 and line["request_id"] == "r-1"
    assert "body" not in line and "push_token" not in line


def test_text_lines_are_readable_and_end_with_the_ids():
    record = logging.LogRecord("chat.test", logging.WARNING, __file__, 1, "hub lagging", (), None)
    record.connection_id = "c0ffee"
    text = TextFormatter().format(record)
    assert " WARNING chat.test hub lagging [connection=c0ffee]" in text


def test_a_push_token_in_a_request_path_never_reaches_the_logs(captured, alice):
    token = Token.objects.create(user=alice).key
    push_token = "fcm-token-" + "q" * 40
    Client().delete(f"/api/devices/{push_token}/")  # unauthenticated: Django logs a 401
    Client().delete(f"/api/devices/{push_token}/", headers={"Authorization": f"Token {token}"})
    Client().get(f"/no/such/page/{push_token}/")  # 404s are logged by Django too
    text = captured.getvalue()
    assert re.search(r"DELETE /api/devices/<\w+:token>/ 401", text)
    assert push_token not in text and token not in text

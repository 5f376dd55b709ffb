"""``/metrics``: who may read it, and that its numbers move when messages flow."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client, override_settings

from tests.ops.helpers import parse_metrics, value

pytestmark = pytest.mark.django_db(transaction=True)


def scrape():
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return parse_metrics(response.content.decode())


def test_metrics_are_served_to_loopback_by_default():
    samples = scrape()
    assert ("chat_websockets_open", frozenset()) in samples
    assert ("chat_messages_stored_total", frozenset()) in samples


def test_metrics_are_refused_to_an_address_outside_the_allow_list():
    response = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert response.status_code == 403
    assert "chat_" not in response.content.decode()


@override_settings(METRICS_ALLOWED_IPS=["10.0.0.0/8"], METRICS_TOKEN="scrape-secret-0123456789")
def test_metrics_accept_the_bearer_token_from_anywhere_and_a_listed_network():
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 403
    wrong = outside.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    right = outside.get("/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"})
    assert right.status_code == 200 and b"chat_messages_stored_total" in right.content
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


async def test_metrics_move_when_messages_flow(connect, alice, bob, room):
    before = await sync_to_async(scrape)()
    a, b = await connect(alice), await connect(bob)
    during = await sync_to_async(scrape)()
    assert value(during, "chat_websockets_open") == value(before, "chat_websockets_open") + 2

    await a.say(room.pk, "counted, never logged", "m-1")
    await a.expect("message.ack")
    await b.expect("message.new")
    await a.say(room.pk, "counted, never logged", "m-1")  # a repeat stores nothing
    await a.expect("message.ack")
    await a.send_raw("{oops")
    await a.expect("error")
    await b.send(type="resume", rooms={str(room.pk): 0})
    await b.expect("resume.done")
    after = await sync_to_async(scrape)()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("chat_messages_stored_total") == 1
    assert moved("chat_messages_delivered_total") == 2  # alice's and bob's sockets
    assert moved("chat_fanout_latency_seconds_count") == 1
    assert moved("chat_error_frames_total", code="bad_json") == 1
    assert moved("chat_resume_requests_total") == 1
    assert moved("chat_resume_replayed_messages_total") == 1

    await a.close()
    await b.close()
    closed = await sync_to_async(scrape)()
    assert value(closed, "chat_websockets_open") == value(before, "chat_websockets_open")


async def test_rate_limited_frames_are_counted(connect, alice, room, settings):
    settings.CHAT_RATE_BURST = 2
    settings.CHAT_RATE_PER_SECOND = 0.01
    before = await sync_to_async(scrape)()
    a = await connect(alice)
    for _ in range(4):
        await a.send(type="ping")
    await a.expect("error", where=lambda f: f["code"] == "rate_limited")
    after = await sync_to_async(scrape)()
    hits = value(after, "chat_rate_limit_hits_total", path="websocket")
    assert hits - value(before, "chat_rate_limit_hits_total", path="websocket") >= 1

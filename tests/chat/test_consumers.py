"""The websocket protocol through the ASGI application (docs/protocol.md)."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_hello_lists_the_users_rooms_with_counters(connect, alice, room):
    client = await connect(alice)
    assert client.hello["user"] == {"id": alice.pk, "username": "alice"}
    assert client.hello["rooms"] == [
        {"id": room.pk, "name": "general", "last_seq": 0, "last_read_seq": 0, "unread": 0}
    ]


async def test_a_message_is_acked_and_reaches_every_member_socket(connect, alice, bob, carol, room):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await a.say(room.pk, "hello bob", "c-1")
    ack = await a.expect("message.ack")
    assert ack["client_id"] == "c-1" and ack["duplicate"] is False
    assert ack["message"]["seq"] == 1 and ack["message"]["body"] == "hello bob"
    assert ack["message"]["author"] == {"id": alice.pk, "username": "alice"}
    new_b = await b.expect("message.new")
    assert new_b["message"] == ack["message"]
    new_a = await a.expect("message.new")
    assert new_a["message"]["id"] == ack["message"]["id"]
    await c.quiet("message.new")

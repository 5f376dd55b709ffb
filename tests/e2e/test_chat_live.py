"""Two users chat through a real daphne process."""

import pytest

from tests.wsclient import WsClient


@pytest.mark.parametrize("db,layer", [("sqlite", "memory"), ("postgres", "redis")])
async def test_two_users_chat_and_an_outsider_sees_nothing(live_stack, db, layer):
    stack = live_stack(db=db, layer=layer)
    alice, bob, carol = (stack.create_user(n) for n in ("alice", "bob", "carol"))
    room = stack.create_room("general", alice, [bob])
    node = stack.start_daphne()
    a = await WsClient.open(node.ws_url, alice["token"])
    b = await WsClient.open(node.ws_url, bob["token"])
    c = await WsClient.open(node.ws_url, carol["token"])
    try:
        await a.say(room, "hi bob", "m1")
        assert (await a.expect("message.ack"))["message"]["seq"] == 1
        assert (await b.expect("message.new"))["message"]["body"] == "hi bob"
        await b.say(room, "hi alice", "m2")
        assert (await a.expect("message.new", where=lambda f: f["message"]["seq"] == 2))["message"][
            "body"
        ] == "hi alice"
        assert c.hello["rooms"] == []
        await c.quiet("message.new")
    finally:
        for client in (a, b, c):
            await client.close()

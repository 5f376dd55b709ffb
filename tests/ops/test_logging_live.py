"""A real daphne node with ``LOG_FORMAT=json`` at DEBUG: JSON lines, ids, no bodies or tokens."""

import json

from tests.ops.helpers import users_and_room
from tests.wsclient import WsClient

SECRET_BODY = "meet me at the old mill, password is heron-5521"


async def test_a_json_logging_node_writes_ids_and_never_a_body_or_token(live_stack):
    stack = live_stack(env={"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"})
    (alice, bob), room = users_and_room(stack, 2)
    node = stack.start_daphne()
    a = await WsClient.open(node.ws_url, alice["token"])
    b = await WsClient.open(node.ws_url, bob["token"])
    try:
        await a.say(room, SECRET_BODY)
        await a.expect("message.ack")
        assert (await b.expect("message.new"))["message"]["body"] == SECRET_BODY
    finally:
        await a.close()
        await b.close()
    node.stop()

    output = node.output()
    assert "heron" not in output
    assert alice["token"] not in output and bob["token"] not in output
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    opened = [r for r in records if r["message"] == "websocket /ws/chat/ opened"]
    assert len(opened) == 2 and len({r["connection_id"] for r in opened}) == 2
    assert any(r["logger"] == "chat.services" and r["level"] == "DEBUG" for r in records)
    assert any(r["logger"] == "ops.shutdown" for r in records)  # stop() sent SIGTERM

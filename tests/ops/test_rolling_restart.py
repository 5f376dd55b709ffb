"""A rolling restart of one of two daphne nodes under load loses no message and duplicates none.

Clients on both nodes send continuously. One node gets SIGTERM: it closes its
sockets with 4012 and exits; its clients reconnect to the other node, send
``resume`` with the last ``seq`` they hold, and resend whatever was not yet
acknowledged with the same ``client_id``. Every client must end with every
message of the room exactly once, in ``seq`` order.
"""

import urllib.request

from ops.shutdown import CLOSE_SERVICE_RESTART
from tests.ops.helpers import (
    Peer,
    assert_stored_once,
    chat_through_restart,
    parse_metrics,
    users_and_room,
    value,
)

SENDS_PER_CLIENT = 30
SEND_INTERVAL = 0.03


async def test_a_rolling_restart_under_load_loses_and_duplicates_no_message(live_stack):
    stack = live_stack(db="postgres", layer="redis")
    users, room = users_and_room(stack, 4)
    leaving, staying = stack.start_daphne(), stack.start_daphne()
    peers = [
        Peer(u["username"], u["token"], room, (leaving if n < 2 else staying).ws_url)
        for n, u in enumerate(users)
    ]
    for peer in peers:
        await peer.open(peer.url, resume=False)
    total = await chat_through_restart(
        peers, leaving, staying.ws_url, sends=SENDS_PER_CLIENT, interval=SEND_INTERVAL
    )

    assert leaving.popen.wait(15) == 0
    assert "closed 2 sockets with 4012" in leaving.output()
    assert [p.close_codes for p in peers] == [[CLOSE_SERVICE_RESTART]] * 2 + [[]] * 2
    assert_stored_once(stack, room, total)
    with urllib.request.urlopen(staying.base_url + "/metrics", timeout=10) as response:
        samples = parse_metrics(response.read().decode())
    assert value(samples, "chat_resume_requests_total") >= 2  # the two clients that moved
    assert value(samples, "chat_messages_stored_total") > 0

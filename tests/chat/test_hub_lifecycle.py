"""The hub's shutdown: its loops stop when cancelled, even when the layer below loses the cancel."""

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from chat import hub as hub_module

pytestmark = pytest.mark.django_db(transaction=True)


class SwallowingLayer(InMemoryChannelLayer):
    """Loses the first cancellation of a receive, as redis-py does under a race (#2028)."""

    swallowed = 0

    async def receive(self, channel):
        try:
            return await super().receive(channel)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed += 1
            return {"type": "hub.ignored"}


class SlowLayer(InMemoryChannelLayer):
    """Takes a while to publish, so that a publish is in flight when the hub stops."""

    async def group_send(self, group, message):
        await asyncio.sleep(0.2)
        await super().group_send(group, message)


async def test_a_receive_loop_whose_cancel_was_swallowed_still_stops():
    hub = hub_module.Hub()
    hub.layer = SwallowingLayer()
    await hub.start()
    receive_loop = hub._tasks[0]
    await asyncio.sleep(0.05)  # the loop now waits in receive

    await asyncio.wait_for(hub.stop(), timeout=10)

    assert hub.layer.swallowed == 1
    assert receive_loop.cancelled()
    assert all(task.done() for task in asyncio.all_tasks() if task is not asyncio.current_task())


async def test_stop_lets_a_publish_in_flight_reach_the_layer():
    hub = hub_module.Hub()
    hub.layer = SlowLayer()
    await hub.start()
    listener = await hub.layer.new_channel()
    await hub.layer.group_add("probe", listener)
    hub.enqueue_publish("probe", {"type": "probe", "n": 1})
    await asyncio.sleep(0.05)
    assert hub._publishing is not None and not hub._publishing.done()  # in flight

    await hub.stop()

    assert await asyncio.wait_for(hub.layer.receive(listener), timeout=1) == {
        "type": "probe",
        "n": 1,
    }

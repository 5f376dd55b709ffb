"""The hub: its shutdown (its loops stop when cancelled, even when the layer below loses the
cancel) and how it publishes to the layer."""

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


class CountingLayer(InMemoryChannelLayer):
    """Counts the layer messages published, to see the hub coalesce them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent = []

    async def group_send(self, group, message):
        self.sent.append((group, message["type"]))
        await super().group_send(group, message)


class Recorder:
    """Stands in for a consumer: the frames the hub pushes to it, in order."""

    def __init__(self, user_id):
        self.user_id, self.rooms, self.frames, self.writes = user_id, set(), [], []

    async def push(self, text, room_id=None, seq=None, prepared=None):
        self.frames.append((room_id, seq, text))

    async def push_frames(self, frames, prepared):
        self.writes.append(len(frames))
        for text, room_id, seq in frames:
            await self.push(text, room_id, seq, prepared)


async def test_events_queued_together_for_one_group_travel_as_one_layer_message():
    from chat import fanout

    hub = hub_module.Hub()
    hub.layer = CountingLayer()
    await hub.start()
    try:
        member = Recorder(user_id=7)
        await hub.attach(member, {1: 0, 2: 0})
        hub.layer.sent.clear()
        # What a batch of sends queues: three messages to room 1, one to room 2,
        # then one more to room 1; queued from the batch's thread, all at once.
        hub._batch_thread.active = True
        for room_id, seq in [(1, 1), (1, 2), (1, 3), (2, 1), (1, 4)]:
            hub.enqueue_publish(
                fanout.room_group(room_id), fanout.room_event(room_id, f"m{room_id}.{seq}", seq=seq)
            )
        hub._batch_thread.active = False
        hub._start_publishing()
        for _ in range(100):
            if len(member.frames) == 5:
                break
            await asyncio.sleep(0.01)

        # Consecutive events to one group share a layer message; the order holds.
        assert hub.layer.sent == [
            ("room.1", "hub.batch"),
            ("room.2", "hub.room"),
            ("room.1", "hub.room"),
        ]
        assert member.frames == [
            (1, 1, "m1.1"),
            (1, 2, "m1.2"),
            (1, 3, "m1.3"),
            (2, 1, "m2.1"),
            (1, 4, "m1.4"),
        ]
        # And room 1's three messages reached the socket in one write.
        assert member.writes == [3, 1, 1]
    finally:
        await hub.stop()


async def test_sockets_whose_sends_just_finished_share_the_next_batch(monkeypatch):
    """A socket hands in its next frame a few turns of the loop after its ack.

    Without waiting for them, the first to come back would take the database
    thread alone and the others would queue behind it, one batch each.
    """
    hub = hub_module.Hub()
    batches = []

    def run_batch(sends):
        batches.append([kwargs["client_id"] for kwargs in sends])
        return [(kwargs["client_id"], True) for kwargs in sends]

    monkeypatch.setattr(hub, "_run_batch", run_batch)

    async def socket(n):
        await hub.submit_send(client_id=f"{n}a")
        # What a consumer does between two sends (ack, dispatch of the next
        # frame) takes it a turn or two of the loop; some take longer.
        for _ in range(n % 3):
            await asyncio.sleep(0)
        await hub.submit_send(client_id=f"{n}b")

    await asyncio.gather(*(socket(n) for n in range(5)))

    assert batches[0] == ["0a", "1a", "2a", "3a", "4a"]
    assert sorted(batches[1]) == ["0b", "1b", "2b", "3b", "4b"]
    assert len(batches) == 2

"""Daily usage statistics: the counts, their idempotence, and the Celery path end to end."""

import asyncio
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.contrib.admin.sites import site

from chat import services
from chat.models import Message
from stats import services as stats_services
from stats.models import ActiveUser, DailyUsage
from tests.ops.helpers import users_and_room
from tests.wsclient import WsClient

DAY = date(2026, 11, 30)


def at(day, hour):
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def send(user, room, body, when):
    message, _ = services.message_send(
        user=user, room_id=room.pk, body=body, client_id=f"{user.pk}-{body}"
    )
    Message.objects.filter(pk=message.pk).update(created_at=when)


@pytest.mark.django_db
def test_a_day_counts_its_messages_active_users_rooms_and_new_devices(alice, bob, carol, room):
    quiet = services.room_create(owner=carol, name="quiet", member_ids=[alice.pk])
    send(alice, room, "one", at(DAY, 9))
    send(bob, room, "two", at(DAY, 10))
    send(alice, quiet, "three", at(DAY, 23))
    send(carol, quiet, "next day", at(DAY + timedelta(days=1), 0))
    send(carol, quiet, "day before", at(DAY - timedelta(days=1), 23))
    ActiveUser.objects.create(day=DAY, user=carol)  # came online, wrote nothing
    ActiveUser.objects.create(day=DAY, user=alice)  # also wrote: counted once
    device_model = apps.get_model("devices", "Device")
    for n, (platform, day) in enumerate(
        [("ios", DAY), ("ios", DAY), ("web", DAY), ("ios", DAY + timedelta(days=1))]
    ):
        device = device_model.objects.create(
            user=alice, platform=platform, token=f"token-{n}", last_seen_at=at(day, 12)
        )
        device_model.objects.filter(pk=device.pk).update(created_at=at(day, 12))

    row = stats_services.usage_recompute(day=DAY)

    assert (row.messages, row.active_users, row.active_rooms) == (3, 3, 2)
    assert row.new_devices == {"ios": 2, "web": 1}


@pytest.mark.django_db
def test_recounting_a_day_twice_leaves_one_row_with_the_same_counts(alice, room):
    send(alice, room, "one", at(DAY, 9))
    first = stats_services.usage_recompute(day=DAY)
    again = stats_services.usage_recompute(day=DAY)
    assert DailyUsage.objects.filter(day=DAY).count() == 1
    assert (again.pk, again.messages, again.active_users) == (first.pk, 1, 1)
    send(alice, room, "two", at(DAY, 10))
    assert stats_services.usage_recompute(day=DAY).messages == 2


@pytest.mark.django_db
def test_marking_a_user_active_twice_counts_them_once(alice):
    stats_services.active_user_mark(user_id=alice.pk, day=DAY)
    stats_services.active_user_mark(user_id=alice.pk, day=DAY)
    assert stats_services.usage_recompute(day=DAY).active_users == 1


@pytest.mark.django_db
def test_the_admin_shows_daily_usage_read_only(admin_client, alice, room):
    send(alice, room, "one", at(DAY, 9))
    stats_services.usage_recompute(day=DAY)
    page = admin_client.get("/admin/stats/dailyusage/")
    assert page.status_code == 200
    assert "Nov. 30, 2026" in page.content.decode()
    assert admin_client.get("/admin/stats/dailyusage/add/").status_code == 403
    admin = site._registry[DailyUsage]
    assert not admin.has_change_permission(None) and not admin.has_delete_permission(None)


async def test_chat_events_reach_the_daily_counts_through_a_celery_worker(live_stack):
    stack = live_stack(env={"STATS_DELAY_SECONDS": "1"})
    (alice, bob), room = users_and_room(stack, 2)
    stack.start_worker()
    node = stack.start_daphne()
    a = await WsClient.open(node.ws_url, alice["token"])
    b = await WsClient.open(node.ws_url, bob["token"])  # online, never writes
    try:
        for n in range(3):
            await a.say(room, f"message {n}")
            await a.expect("message.ack")
    finally:
        await a.close()
        await b.close()
    query = (
        "import json\n"
        "from django.utils import timezone\n"
        "from stats.models import DailyUsage\n"
        "row = DailyUsage.objects.filter(day=timezone.now().date()).first()\n"
        "print(json.dumps(row and [row.messages, row.active_users, row.active_rooms]))"
    )
    deadline = time.time() + 30
    counts = None
    while time.time() < deadline:
        counts = stack.shell(query)
        if counts == [3, 2, 1]:
            break
        await asyncio.sleep(1)
    assert counts == [3, 2, 1]

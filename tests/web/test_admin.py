"""Moderation in the Django admin (chat/admin.py): what moderators can do and what members see."""

import importlib

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from chat import services
from chat.models import Membership, Message, ModerationAction, Report, Room

pytestmark = pytest.mark.django_db(transaction=True)

migration = importlib.import_module("chat.migrations.0002_moderators_group")


def moderators_group():
    # Transactional tests flush the tables the data migration filled; run it again.
    migration.create_moderators_group(django_apps, None)
    return Group.objects.get(name=settings.CHAT_MODERATOR_GROUP)


@pytest.fixture
def moderator(make_user):
    user = make_user("mod", is_staff=True)
    user.groups.add(moderators_group())
    return user


def admin_client(user):
    client = Client()
    client.force_login(user)
    return client


def action(client, url, name, ids):
    return client.post(url, {"action": name, "_selected_action": [str(i) for i in ids]})


def test_the_moderators_group_has_exactly_the_permissions_moderators_need():
    granted = {
        f"{p.content_type.app_label}.{p.codename}" for p in moderators_group().permissions.all()
    }
    assert granted == {
        "chat.view_message",
        "chat.change_message",
        "chat.view_report",
        "chat.change_report",
        "chat.view_room",
        "chat.view_membership",
        "chat.add_membership",
        "chat.change_membership",
        "chat.delete_membership",
        "chat.view_moderationaction",
        "chat.deactivate_user",
        "auth.view_user",
    }


def test_only_staff_reach_the_admin(alice, moderator):
    response = admin_client(alice).get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert admin_client(moderator).get("/admin/").status_code == 200


def test_a_moderator_reads_users_but_cannot_edit_them_or_the_audit_log(moderator, alice):
    client = admin_client(moderator)
    assert client.get(f"/admin/auth/user/{alice.pk}/change/").status_code == 200
    response = client.post(f"/admin/auth/user/{alice.pk}/change/", {"is_superuser": "on"})
    assert response.status_code == 403
    alice.refresh_from_db()
    assert not alice.is_superuser
    assert client.get("/admin/chat/moderationaction/").status_code == 200
    assert client.get("/admin/chat/moderationaction/add/").status_code == 403
    assert client.get("/admin/chat/room/add/").status_code == 403


def test_messages_are_listed_filtered_by_room_and_author_and_searched_by_body(
    moderator, alice, bob, room
):
    services.message_send(user=alice, room_id=room.pk, body="needle in a haystack", client_id="1")
    services.message_send(user=bob, room_id=room.pk, body="just hay", client_id="2")
    client = admin_client(moderator)
    found = client.get("/admin/chat/message/?q=needle").content.decode()
    assert "needle in a haystack" in found and "just hay" not in found
    by_author = client.get(f"/admin/chat/message/?author__id__exact={bob.pk}").content.decode()
    assert "just hay" in by_author and "needle" not in by_author
    by_room = client.get(f"/admin/chat/message/?room__id__exact={room.pk}").content.decode()
    assert "just hay" in by_room and "needle" in by_room


async def test_a_deletion_in_the_admin_reaches_members_as_message_updated(
    connect, moderator, alice, bob, room
):
    message, _ = await database_sync_to_async(services.message_send)(
        user=alice, room_id=room.pk, body="spam", client_id="s1"
    )
    b = await connect(bob)
    client = await sync_to_async(admin_client)(moderator)
    response = await sync_to_async(action)(
        client, "/admin/chat/message/", "delete_messages", [message.pk]
    )
    assert response.status_code == 302
    frame = await b.expect("message.updated")
    assert frame["message"]["id"] == message.pk
    assert frame["message"]["deleted"] is True and frame["message"]["body"] == ""
    entry = await ModerationAction.objects.aget()
    assert (entry.actor_id, entry.action, entry.message_id) == (
        moderator.pk,
        ModerationAction.Action.DELETE_MESSAGE,
        message.pk,
    )


def test_resolving_a_report_keeps_the_message_and_delete_and_resolve_removes_it(
    moderator, alice, bob, room
):
    keep, _ = services.message_send(user=alice, room_id=room.pk, body="fine", client_id="1")
    drop, _ = services.message_send(user=alice, room_id=room.pk, body="rude", client_id="2")
    first, _ = services.message_report(user=bob, message_id=keep.pk, reason="mistake")
    second, _ = services.message_report(user=bob, message_id=drop.pk, reason="rude")
    client = admin_client(moderator)

    queue = client.get("/admin/chat/report/").content.decode()
    assert "mistake" in queue and "rude" in queue

    action(client, "/admin/chat/report/", "resolve", [first.pk])
    action(client, "/admin/chat/report/", "delete_and_resolve", [second.pk])

    assert not Message.objects.get(pk=keep.pk).deleted
    assert Message.objects.get(pk=drop.pk).deleted
    assert not Report.objects.filter(resolved_at=None).exists()
    assert Report.objects.get(pk=first.pk).resolved_by == moderator
    # The open queue is empty now; the resolved view lists both.
    assert "0 reports" in client.get("/admin/chat/report/").content.decode()
    resolved = client.get("/admin/chat/report/?state=resolved").content.decode()
    assert "mistake" in resolved and "by mod" in resolved
    actions = set(ModerationAction.objects.values_list("action", flat=True))
    assert actions == {"resolve_report", "delete_message"}


async def test_deactivating_a_user_closes_their_sockets_and_stops_their_token(
    connect, moderator, alice, bob, room
):
    b = await connect(bob)
    token = b.communicator.scope["headers"][0][1].decode().split()[1]
    client = await sync_to_async(admin_client)(moderator)
    response = await sync_to_async(action)(client, "/admin/auth/user/", "deactivate", [bob.pk])
    assert response.status_code == 302
    with pytest.raises(ConnectionError, match="4003"):
        await b.expect("message.new")
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert (await sync_to_async(api.get)("/api/rooms/")).status_code == 401
    again = await connect(bob, expect_hello=False)
    assert not again.connected
    assert await ModerationAction.objects.filter(action="deactivate", target_user=bob).aexists()


async def test_unticking_active_on_the_user_form_is_a_deactivation_too(connect, make_user, bob):
    admin = await database_sync_to_async(make_user)("root", is_staff=True, is_superuser=True)
    b = await connect(bob)
    client = await sync_to_async(admin_client)(admin)
    form = {
        "username": "bob",
        "email": "bob@example.com",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    response = await sync_to_async(client.post)(f"/admin/auth/user/{bob.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    with pytest.raises(ConnectionError, match="4003"):
        await b.expect("message.new")


async def test_a_member_muted_in_the_admin_cannot_send(connect, moderator, alice, bob, room):
    b = await connect(bob)
    membership = await Membership.objects.aget(room=room, user=bob)
    client = await sync_to_async(admin_client)(moderator)
    await sync_to_async(action)(client, "/admin/chat/membership/", "mute", [membership.pk])
    await b.say(room.pk, "can I talk?", "m1")
    error = await b.expect("error")
    assert (error["code"], error["client_id"]) == ("muted", "m1")
    await sync_to_async(action)(client, "/admin/chat/membership/", "unmute", [membership.pk])
    await b.say(room.pk, "thanks", "m2")
    assert (await b.expect("message.ack"))["message"]["body"] == "thanks"


async def test_members_added_and_removed_in_the_admin_see_room_joined_and_room_left(
    connect, moderator, alice, carol, room
):
    c = await connect(carol)
    client = await sync_to_async(admin_client)(moderator)
    response = await sync_to_async(client.post)(
        "/admin/chat/membership/add/", {"room": room.pk, "user": carol.pk}
    )
    assert response.status_code == 302
    joined = await c.expect("room.joined")
    assert joined["room"]["id"] == room.pk
    membership = await Membership.objects.aget(room=room, user=carol)
    await sync_to_async(action)(client, "/admin/chat/membership/", "remove", [membership.pk])
    left = await c.expect("room.left")
    assert left["room"]["id"] == room.pk
    assert not await Membership.objects.filter(room=room, user=carol).aexists()


async def test_the_room_form_adds_and_removes_members_through_the_services(
    connect, make_user, alice, bob, carol, room
):
    admin = await database_sync_to_async(make_user)("root", is_staff=True, is_superuser=True)
    c = await connect(carol)
    b = await connect(bob)
    bob_row = await Membership.objects.aget(room=room, user=bob)
    alice_row = await Membership.objects.aget(room=room, user=alice)
    form = {
        "name": "general-renamed",
        "memberships-TOTAL_FORMS": "3",
        "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(alice_row.pk),
        "memberships-0-room": str(room.pk),
        "memberships-0-user": str(alice.pk),
        "memberships-1-id": str(bob_row.pk),
        "memberships-1-room": str(room.pk),
        "memberships-1-user": str(bob.pk),
        "memberships-1-DELETE": "on",
        "memberships-2-room": str(room.pk),
        "memberships-2-user": str(carol.pk),
    }
    client = await sync_to_async(admin_client)(admin)
    response = await sync_to_async(client.post)(f"/admin/chat/room/{room.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert (await c.expect("room.joined"))["room"]["id"] == room.pk
    assert (await b.expect("room.left"))["room"]["id"] == room.pk
    members = {m.user_id async for m in Membership.objects.filter(room=room)}
    assert members == {alice.pk, carol.pk}
    assert (await Room.objects.aget(pk=room.pk)).name == "general-renamed"


async def test_a_room_created_in_the_admin_appears_for_its_owner_at_once(connect, make_user, bob):
    admin = await database_sync_to_async(make_user)("root", is_staff=True, is_superuser=True)
    b = await connect(bob)
    client = await sync_to_async(admin_client)(admin)
    form = {
        "name": "announcements",
        "owner": str(bob.pk),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    response = await sync_to_async(client.post)("/admin/chat/room/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    joined = await b.expect("room.joined")
    assert joined["room"]["name"] == "announcements"
    room = await Room.objects.aget(name="announcements")
    assert room.owner_id == bob.pk


@pytest.mark.parametrize("bad", ["99999999999999999999999", "0", "x"])
def test_admin_relation_fields_refuse_ids_out_of_range_with_a_form_error(make_user, alice, bad):
    root = admin_client(make_user("root", is_staff=True, is_superuser=True))
    room = services.room_create(owner=alice, name="ops", member_ids=[])
    refused = [
        root.post("/admin/chat/room/add/", {"name": "new", "owner": bad}),
        root.post("/admin/chat/membership/add/", {"user": bad, "room": room.pk, "role": "member"}),
        root.post("/admin/chat/membership/add/", {"user": alice.pk, "room": bad, "role": "member"}),
    ]
    assert [r.status_code for r in refused] == [200, 200, 200]
    assert all(b"Select a valid choice" in r.content for r in refused)
    assert Room.objects.count() == 1 and Membership.objects.count() == 1

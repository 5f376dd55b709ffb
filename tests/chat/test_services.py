"""The chat services: seq allocation, idempotency, permissions, and events after commit."""

import threading

import pytest
from django.db import connection, transaction

from chat import services, signals
from chat.errors import BadInput, Forbidden, NotFound, NotMember
from chat.models import Membership, Message, ModerationAction, Room


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_every_seq_from_1_to_n_exactly_once(alice, bob, room):
    errors = []

    def send(user, prefix):
        try:
            for i in range(20):
                services.message_send(
                    user=user, room_id=room.pk, body="hi", client_id=f"{prefix}{i}"
                )
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(u, p)) for u, p in ((alice, "a"), (bob, "b"))]
    threads += [threading.Thread(target=send, args=(alice, "c"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = sorted(Message.objects.filter(room=room).values_list("seq", flat=True))
    assert seqs == list(range(1, 61))
    assert Room.objects.get(pk=room.pk).last_seq == 60


@pytest.mark.django_db(transaction=True)
def test_the_same_send_racing_itself_stores_one_row(alice, room):
    results = []

    def send():
        try:
            results.append(
                services.message_send(user=alice, room_id=room.pk, body="once", client_id="dup")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Message.objects.filter(room=room).count() == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert Room.objects.get(pk=room.pk).last_seq == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_send_leaves_no_gap_and_sends_no_event(alice, room):
    sent = []
    signals.message_sent.connect(
        lambda message, **kw: sent.append(message.seq), weak=False, dispatch_uid="test-rollback"
    )
    try:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                services.message_send(user=alice, room_id=room.pk, body="ghost", client_id="g")
                raise RuntimeError("roll back")
        message, _ = services.message_send(user=alice, room_id=room.pk, body="real", client_id="r")
    finally:
        signals.message_sent.disconnect(dispatch_uid="test-rollback")
    assert message.seq == 1
    assert sent == [1]


@pytest.mark.django_db
def test_sending_marks_the_room_read_up_to_ones_own_message(alice, bob, room):
    services.message_send(user=bob, room_id=room.pk, body="one", client_id="1")
    services.message_send(user=alice, room_id=room.pk, body="two", client_id="2")
    assert Membership.objects.get(user=alice, room=room).last_read_seq == 2
    assert Membership.objects.get(user=bob, room=room).last_read_seq == 1


@pytest.mark.django_db
def test_nul_characters_are_refused_before_reaching_the_database(alice, room):
    with pytest.raises(BadInput):
        services.message_send(user=alice, room_id=room.pk, body="a\x00b", client_id="n")


@pytest.mark.django_db
def test_only_the_author_edits_and_outsiders_learn_nothing(alice, bob, carol, room):
    message, _ = services.message_send(user=alice, room_id=room.pk, body="mine", client_id="m")
    with pytest.raises(Forbidden):
        services.message_edit(user=bob, message_id=message.pk, body="yours now")
    with pytest.raises(NotFound):
        services.message_edit(user=carol, message_id=message.pk, body="hello")
    with pytest.raises(NotFound):
        services.message_delete(user=carol, message_id=message.pk)


@pytest.mark.django_db
def test_a_moderator_deletes_anywhere_and_it_is_audited(alice, make_user, room):
    moderator = make_user("mod", is_staff=True)
    message, _ = services.message_send(user=alice, room_id=room.pk, body="spam", client_id="s")
    services.message_delete(user=moderator, message_id=message.pk)
    message.refresh_from_db()
    assert message.deleted and message.body == ""
    entry = ModerationAction.objects.get()
    assert (entry.actor, entry.action, entry.message_id) == (
        moderator,
        ModerationAction.Action.DELETE_MESSAGE,
        message.pk,
    )


@pytest.mark.django_db
def test_the_moderator_group_counts_as_moderators(alice, bob, make_user, room, settings):
    from django.contrib.auth.models import Group

    helper = make_user("helper")
    group, _ = Group.objects.get_or_create(name=settings.CHAT_MODERATOR_GROUP)
    helper.groups.add(group)
    message, _ = services.message_send(user=alice, room_id=room.pk, body="x", client_id="x")
    services.message_delete(user=helper, message_id=message.pk)
    with pytest.raises(Forbidden):
        services.membership_mute(actor=bob, room_id=room.pk, user_id=alice.pk, muted=True)


@pytest.mark.django_db
def test_only_the_owner_adds_members_and_anyone_may_leave(alice, bob, carol, room):
    with pytest.raises(Forbidden):
        services.membership_add(actor=bob, room_id=room.pk, user_id=carol.pk)
    services.membership_add(actor=alice, room_id=room.pk, user_id=carol.pk)
    services.membership_remove(actor=carol, room_id=room.pk, user_id=carol.pk)
    with pytest.raises(NotMember):
        services.membership_remove(actor=carol, room_id=room.pk, user_id=bob.pk)


@pytest.mark.django_db
def test_when_the_owner_leaves_the_longest_standing_member_owns_the_room(alice, bob, room):
    services.membership_remove(actor=alice, room_id=room.pk, user_id=alice.pk)
    room.refresh_from_db()
    assert room.owner == bob
    assert Membership.objects.get(room=room, user=bob).role == Membership.Role.OWNER


@pytest.mark.django_db
def test_a_direct_room_is_created_once_per_pair(alice, bob):
    first, created = services.room_direct(user=alice, other_id=bob.pk)
    again, created_again = services.room_direct(user=bob, other_id=alice.pk)
    assert created and not created_again and first == again
    assert first.kind == Room.Kind.DIRECT
    assert set(first.members.values_list("username", flat=True)) == {"alice", "bob"}
    with pytest.raises(BadInput):
        services.room_direct(user=alice, other_id=alice.pk)


# --- batches (the websocket path: chat.hub groups the sends of one moment) ---


@pytest.fixture
def sent_seqs():
    seqs = []
    signals.message_sent.connect(
        lambda message, **kw: seqs.append(message.seq), weak=False, dispatch_uid="test-batch"
    )
    yield seqs
    signals.message_sent.disconnect(dispatch_uid="test-batch")


def _send(user, room, client_id, body="hi"):
    return {"user": user, "room_id": room.pk, "body": body, "client_id": client_id}


@pytest.mark.django_db(transaction=True)
def test_a_batch_stores_the_good_sends_and_returns_each_refusal_in_its_place(
    alice, bob, carol, room, sent_seqs
):
    Membership.objects.filter(user=bob, room=room).update(muted=True)
    results = services.message_send_batch(
        sends=[
            _send(alice, room, "a1"),
            _send(bob, room, "b1"),  # muted
            _send(carol, room, "c1"),  # not a member
            _send(alice, room, "a2", body="   "),  # blank
            _send(alice, room, "a3"),
        ]
    )
    assert [type(r).__name__ for r in results] == [
        "tuple",
        "Muted",
        "NotMember",
        "BadInput",
        "tuple",
    ]
    assert [(m.seq, created) for m, created in (results[0], results[4])] == [(1, True), (2, True)]
    assert list(Message.objects.order_by("seq").values_list("client_id", flat=True)) == ["a1", "a3"]
    assert Room.objects.get(pk=room.pk).last_seq == 2
    assert sent_seqs == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_the_messages_a_batch_returns_are_the_rows_it_stored(alice, bob, room):
    results = services.message_send_batch(
        sends=[_send(alice, room, "r1", body="first"), _send(bob, room, "r2", body="second")]
    )
    for message, created in results:
        stored = Message.objects.get(pk=message.pk)
        assert created is True
        assert (stored.seq, stored.author_id, stored.body, stored.client_id) == (
            message.seq,
            message.author_id,
            message.body,
            message.client_id,
        )
        assert stored.created_at == message.created_at
        assert stored.edited_at is None and stored.deleted_at is None
    # The returned objects behave as loaded rows: saving one updates it.
    message = results[0][0]
    message.body = "first, edited"
    message.save(update_fields=["body"])
    assert Message.objects.get(pk=message.pk).body == "first, edited"
    assert Message.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_repeat_in_a_batch_returns_the_stored_message_and_the_rest_stay_gapless(
    alice, bob, room, sent_seqs
):
    first, _ = services.message_send(user=alice, room_id=room.pk, body="hi", client_id="old")
    results = services.message_send_batch(
        sends=[
            _send(bob, room, "b1"),
            _send(alice, room, "old"),  # stored before: the constraint aborts the first attempt
            _send(alice, room, "new"),
            _send(alice, room, "new"),  # the same send twice in one batch
        ]
    )
    assert [(m.client_id, m.seq, created) for m, created in results] == [
        ("b1", 2, True),
        ("old", 1, False),
        ("new", 3, True),
        ("new", 3, False),
    ]
    assert results[1][0].pk == first.pk
    assert Room.objects.get(pk=room.pk).last_seq == 3
    # The first attempt rolled back whole: its messages were published once, after the retry.
    assert sent_seqs == [1, 2, 3]


@pytest.mark.django_db
@pytest.mark.parametrize(("senders", "statements"), [(1, 3), (2, 4)])
def test_a_batch_to_one_room_costs_a_few_statements_however_many_sends_it_holds(
    alice, bob, room, django_assert_num_queries, senders, statements
):
    users = [alice, bob][:senders]
    sends = [_send(users[n % senders], room, f"q{n}") for n in range(10)]
    # Besides the batch's atomic block (a savepoint inside the test's
    # transaction, and its release): the room's seq block, the senders'
    # memberships when there are several, one INSERT for every row, and
    # one UPDATE for every sender's read marker.
    with django_assert_num_queries(2 + statements):
        results = services.message_send_batch(sends=sends)
    assert [m.seq for m, _ in results] == list(range(1, 11))
    assert Message.objects.filter(room=room).count() == 10
    assert {m.user_id: m.last_read_seq for m in Membership.objects.filter(room=room)} == (
        {alice.pk: 10, bob.pk: 0} if senders == 1 else {alice.pk: 9, bob.pk: 10}
    )


@pytest.mark.django_db(transaction=True)
def test_a_batch_across_rooms_keeps_each_rooms_seqs_and_moves_every_senders_read_marker(
    alice, bob, carol, room, sent_seqs
):
    other = services.room_create(owner=carol, name="other", member_ids=[alice.pk])
    services.message_send(user=carol, room_id=other.pk, body="before", client_id="x0")
    results = services.message_send_batch(
        sends=[
            _send(alice, other, "o1"),
            _send(bob, room, "r1"),
            _send(alice, room, "r2"),
            _send(carol, other, "o2"),
            _send(bob, room, "r3"),
            _send(alice, Room(pk=10**6), "nowhere"),  # no such room
        ]
    )
    assert [(r[0].room_id, r[0].seq) for r in results[:5]] == [
        (other.pk, 2),
        (room.pk, 1),
        (room.pk, 2),
        (other.pk, 3),
        (room.pk, 3),
    ]
    assert isinstance(results[5], NotMember)
    marks = {
        (m.user.username, m.room.name): m.last_read_seq
        for m in Membership.objects.select_related("user", "room")
    }
    assert marks == {
        ("alice", "general"): 2,
        ("bob", "general"): 3,
        ("alice", "other"): 2,
        ("carol", "other"): 3,
    }
    assert Room.objects.get(pk=room.pk).last_seq == 3
    assert Room.objects.get(pk=other.pk).last_seq == 3
    # Published in the batch's order (each room's in seq order).
    assert sent_seqs == [1, 2, 1, 2, 3, 3]


@pytest.mark.django_db
def test_a_batch_from_one_muted_sender_is_refused_whole_and_takes_no_seq(alice, bob, room):
    Membership.objects.filter(user=bob, room=room).update(muted=True)
    results = services.message_send_batch(sends=[_send(bob, room, "m1"), _send(bob, room, "m2")])
    assert [type(r).__name__ for r in results] == ["Muted", "Muted"]
    outsider = services.message_send_batch(sends=[_send(bob, Room(pk=10**6), "x")])
    assert isinstance(outsider[0], NotMember)
    assert Room.objects.get(pk=room.pk).last_seq == 0
    assert not Message.objects.exists()

"""Missed-message digests: who gets one, what it holds, and that it goes out once."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core import mail
from django.test import Client
from django.utils import timezone

from chat import services as chat
from notifications import services, tasks
from notifications.models import Digest, NotificationPreference
from notifications.selectors import push_recipients

pytestmark = pytest.mark.django_db(transaction=True)


def html_of(email):
    (content, mimetype) = email.alternatives[0]
    assert mimetype == "text/html"
    return content


def test_an_offline_member_gets_one_email_listing_the_message(
    alice, bob, room, send, windows_close
):
    send(alice, room, "lunch at noon?")
    outbox = windows_close()
    assert len(outbox) == 1
    email = outbox[0]
    assert email.to == ["bob@example.com"]
    assert email.subject == "You missed 1 message in general"
    assert "alice" in email.body and "lunch at noon?" in email.body
    assert f"http://127.0.0.1:8000/?room={room.pk}" in email.body
    assert f'href="http://127.0.0.1:8000/?room={room.pk}"' in html_of(email)


async def test_a_member_who_is_online_gets_no_email(
    connect, alice, bob, carol, run_pend_tasks, windows_close
):
    room = await database_sync_to_async(chat.room_create)(
        owner=alice, name="general", member_ids=[bob.pk, carol.pk]
    )
    await connect(bob)  # bob is connected; carol is not
    await database_sync_to_async(chat.message_send)(
        user=alice, room_id=room.pk, body="anyone here?", client_id="c-1"
    )
    await database_sync_to_async(run_pend_tasks)()  # the worker, while bob is still here
    outbox = await database_sync_to_async(windows_close)()
    assert [e.to for e in outbox] == [["carol@example.com"]]


def test_a_member_who_muted_the_room_gets_no_email(alice, bob, carol, send, windows_close):
    room = chat.room_create(owner=alice, name="general", member_ids=[bob.pk, carol.pk])
    services.preference_update(user=bob, muted_room_ids=[room.pk])
    send(alice, room, "hello")
    assert [e.to for e in windows_close()] == [["carol@example.com"]]


def test_muting_the_room_after_the_message_still_keeps_it_out(
    alice, bob, room, send, windows_close
):
    send(alice, room, "hello")
    services.preference_update(user=bob, muted_room_ids=[room.pk])
    assert windows_close() == []


def test_a_member_with_email_off_gets_no_email(alice, bob, carol, send, windows_close):
    room = chat.room_create(owner=alice, name="general", member_ids=[bob.pk, carol.pk])
    services.preference_update(user=carol, email=False)
    send(alice, room, "hello")
    assert [e.to for e in windows_close()] == [["bob@example.com"]]


def test_turning_email_off_during_the_window_cancels_the_digest(
    alice, bob, room, send, windows_close
):
    send(alice, room, "hello")
    services.preference_update(user=bob, email=False)
    assert windows_close() == []


def test_the_author_gets_no_email_about_their_own_message(alice, bob, room, send, windows_close):
    send(alice, room, "note to self and bob")
    assert [e.to for e in windows_close()] == [["bob@example.com"]]


def test_messages_read_before_the_window_closes_are_not_emailed(
    alice, bob, room, send, windows_close
):
    send(alice, room, "first")
    send(alice, room, "second")
    third = send(alice, room, "third")
    chat.message_read(user=bob, room_id=room.pk, seq=2)
    (email,) = windows_close()
    assert "third" in email.body
    assert "first" not in email.body and "second" not in email.body

    mail.outbox.clear()
    send(alice, room, "fourth")
    chat.message_read(user=bob, room_id=room.pk, seq=third.seq + 1)
    assert windows_close() == []


def test_a_deleted_message_is_left_out_and_a_digest_of_only_deleted_ones_is_not_sent(
    alice, bob, room, send, windows_close
):
    kept = send(alice, room, "this stays")
    gone = send(alice, room, "oops, wrong room")
    chat.message_delete(user=alice, message_id=gone.pk)
    (email,) = windows_close()
    assert "this stays" in email.body and "oops" not in email.body
    assert email.subject == "You missed 1 message in general"

    mail.outbox.clear()
    gone = send(alice, room, "another mistake")
    chat.message_delete(user=alice, message_id=gone.pk)
    assert windows_close() == []
    assert kept.seq == 1


def test_an_edited_message_is_emailed_with_its_new_text(alice, bob, room, send, windows_close):
    message = send(alice, room, "meet at 5")
    chat.message_edit(user=alice, message_id=message.pk, body="meet at 6")
    (email,) = windows_close()
    assert "meet at 6" in email.body and "meet at 5" not in email.body
    assert "(edited)" in email.body


def test_messages_from_two_rooms_arrive_in_one_email_grouped_by_room(
    alice, bob, carol, room, send, windows_close
):
    other = chat.room_create(owner=carol, name="random", member_ids=[bob.pk])
    send(alice, room, "general one")
    send(carol, other, "random one")
    send(alice, room, "general two")
    (email,) = windows_close()
    assert email.to == ["bob@example.com"]
    assert email.subject == "You missed 3 messages in 2 rooms"
    body = email.body
    assert body.index("== general ==") < body.index("general one") < body.index("general two")
    assert body.index("general two") < body.index("== random ==") < body.index("random one")
    assert f"?room={room.pk}" in body and f"?room={other.pk}" in body


def test_messages_within_one_window_share_an_email_and_later_ones_open_a_new_window(
    alice, bob, room, send, windows_close
):
    services.preference_update(user=bob, email_delay_seconds=60)
    send(alice, room, "one")
    send(alice, room, "two")
    # The window opened by "one" has not closed 30 seconds later: nothing yet.
    assert windows_close(after=30) == []
    (email,) = windows_close(after=61)
    assert "one" in email.body and "two" in email.body

    send(alice, room, "three")
    outbox = windows_close(after=61)
    assert len(outbox) == 2
    assert "three" in outbox[1].body and "two" not in outbox[1].body


def test_the_window_length_is_the_users_email_delay(alice, bob, room, send, windows_close):
    services.preference_update(user=bob, email_delay_seconds=0)
    send(alice, room, "right away")
    assert len(windows_close(after=0)) == 1


def test_the_sweep_sends_a_digest_whose_task_was_lost_exactly_once(alice, bob, room, send):
    # No worker runs in this test, so the scheduled digest_send is "lost".
    send(alice, room, "did you get this?")
    assert services.digest_sweep() == {}  # the window is still open
    later = timezone.now() + timedelta(seconds=120 + 31)
    services.digest_sweep(now=later)
    services.digest_sweep(now=later + timedelta(seconds=60))
    assert len(mail.outbox) == 1 and "did you get this?" in mail.outbox[0].body
    # The lost task turning up after all sends nothing more.
    (digest_id,) = Digest.objects.values_list("pk", flat=True)
    tasks.digest_send(digest_id)
    assert len(mail.outbox) == 1


def test_the_sweep_resends_a_digest_whose_worker_died_while_sending(alice, bob, room, send):
    send(alice, room, "hello")
    digest = Digest.objects.get()
    # What a worker killed between its claim and the end of SMTP leaves behind.
    claimed = timezone.now() - timedelta(seconds=601)
    Digest.objects.filter(pk=digest.pk).update(
        status=Digest.Status.SENDING, claim="dead", claimed_at=claimed, due_at=claimed
    )
    services.digest_sweep(now=timezone.now() + timedelta(seconds=60))
    assert len(mail.outbox) == 1
    services.digest_sweep(now=timezone.now() + timedelta(seconds=3600))
    assert len(mail.outbox) == 1


def test_a_digest_task_that_runs_twice_sends_one_email(alice, bob, room, send):
    services.preference_update(user=bob, email_delay_seconds=0)
    send(alice, room, "once please")
    (digest_id,) = Digest.objects.values_list("pk", flat=True)
    tasks.digest_send(digest_id)
    tasks.digest_send(digest_id)
    assert len(mail.outbox) == 1


def test_a_digest_task_that_arrives_early_sends_nothing_yet(alice, bob, room, send, windows_close):
    send(alice, room, "not yet")
    (digest_id,) = Digest.objects.values_list("pk", flat=True)
    tasks.digest_send(digest_id)
    assert mail.outbox == []
    assert len(windows_close()) == 1


def test_direct_messages_and_mentions_are_marked(alice, bob, carol, room, send, windows_close):
    direct, _ = chat.room_direct(user=alice, other_id=bob.pk)
    send(alice, direct, "just between us")
    chat.membership_add(actor=alice, room_id=room.pk, user_id=carol.pk)
    send(carol, room, "what do you think, @Bob?")
    send(carol, room, "ask @bobby instead")
    (email,) = [e for e in windows_close() if e.to == ["bob@example.com"]]
    body, html = email.body, html_of(email)
    assert "== Direct messages from alice ==" in body
    assert "[direct message]" in body and "direct message</span>" in html
    assert body.count("[mentions you]") == 1 and html.count("mentions you</span>") == 1
    mention_line = next(line for line in body.splitlines() if "[mentions you]" in line)
    assert mention_line.startswith("carol")
    assert "1 of them mentions you" in body


def test_message_bodies_are_escaped_in_the_html_part(alice, bob, room, send, windows_close):
    send(alice, room, '<script>alert("x")</script> & <b>bold</b>')
    (email,) = windows_close()
    html = html_of(email)
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert '<script>alert("x")</script> & <b>bold</b>' in email.body


def test_the_unsubscribe_link_turns_email_off_without_logging_in(
    alice, bob, room, send, windows_close
):
    send(alice, room, "hello")
    (email,) = windows_close()
    link = email.extra_headers["List-Unsubscribe"].strip("<>")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in email.body and link in html_of(email)
    path = link.removeprefix("http://127.0.0.1:8000")
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(path)
    assert page.status_code == 200 and b"Turn off email notifications" in page.content
    assert NotificationPreference.objects.filter(user=bob, email=False).count() == 0

    done = browser.post(path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"will get no more" in done.content
    assert NotificationPreference.objects.get(user=bob).email is False

    mail.outbox.clear()
    send(alice, room, "still there?")
    assert windows_close() == []


def test_a_tampered_unsubscribe_link_changes_nothing(alice, bob, room, send, windows_close):
    send(alice, room, "hello")
    (email,) = windows_close()
    link = email.extra_headers["List-Unsubscribe"].strip("<>")
    token = link.rstrip("/").rsplit("/", 1)[1]
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    response = Client().post(f"/notifications/unsubscribe/{forged}/")
    assert response.status_code == 400 and b"not valid" in response.content
    assert not NotificationPreference.objects.filter(email=False).exists()


def test_push_uses_the_same_preferences_as_email(alice, bob, carol, room):
    chat.membership_add(actor=alice, room_id=room.pk, user_id=carol.pk)
    services.preference_update(user=bob, push=False)
    services.preference_update(user=carol, muted_room_ids=[room.pk])
    assert push_recipients({alice.pk, bob.pk, carol.pk}, room.pk) == {alice.pk}


def test_a_long_digest_shows_the_first_messages_of_a_room_and_counts_the_rest(
    alice, bob, room, send, windows_close, settings
):
    settings.NOTIFICATIONS_MAX_PER_ROOM = 2
    for n in range(1, 5):
        send(alice, room, f"update number {n}")
    (email,) = windows_close()
    assert email.subject == "You missed 4 messages in general"
    assert "update number 2" in email.body and "update number 3" not in email.body
    assert "...and 2 more messages." in email.body
    assert "and 2 more messages." in html_of(email)

"""Who gets a push, what it says, and what each provider answer does (devices.delivery).

The providers are real local servers (tests/devices/standins.py); the
delivery service is called the way the Celery task calls it.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import presence
from chat import services as chat
from devices import delivery
from devices.models import PushDelivery
from devices.tasks import backoff_seconds
from notifications.models import NotificationPreference

from .conftest import active
from .standins import fcm_error

pytestmark = pytest.mark.django_db


def deliver(message, **kwargs):
    return delivery.push_message_deliver(message_id=message.pk, **kwargs)


# --- who gets a push ------------------------------------------------------


def test_only_members_who_are_away_get_the_message(fcm, device, send, alice, bob, carol):
    room = chat.room_create(owner=alice, name="general", member_ids=[bob.pk, carol.pk])
    device(alice, "android", "alice-phone")
    device(bob, "android", "bob-phone")
    device(carol, "android", "carol-phone")
    presence.socket_opened(carol.pk, limit=5)  # carol has the app open
    result = deliver(send(alice, room, "hi"))
    assert fcm.script.tokens() == ["bob-phone"]
    assert result.sent == 1 and not result.deferred


def test_muted_rooms_push_off_and_inactive_devices_get_nothing(
    fcm, device, send, alice, bob, carol, make_user
):
    dave = make_user("dave")
    room = chat.room_create(owner=alice, name="general", member_ids=[bob.pk, carol.pk, dave.pk])
    device(bob, "android", "bob-phone")
    device(carol, "android", "carol-phone")
    dave_phone = device(dave, "android", "dave-phone")
    NotificationPreference.objects.create(user=bob, push=False)
    NotificationPreference.objects.create(user=carol).muted_rooms.add(room)
    dave_phone.active = False
    dave_phone.save()
    deliver(send(alice, room))
    assert fcm.script.tokens() == []


def test_messages_already_read_or_deleted_are_not_pushed(fcm, device, send, alice, bob, room):
    device(bob, "android", "bob-phone")
    read = send(alice, room, "seen already")
    chat.message_read(user=bob, room_id=room.pk, seq=read.seq)
    deliver(read)
    gone = send(alice, room, "oops")
    chat.message_delete(user=alice, message_id=gone.pk)
    deliver(gone)
    assert fcm.script.tokens() == []


def test_a_task_that_runs_twice_sends_once(fcm, device, send, alice, bob, room):
    device(bob, "android", "bob-phone")
    message = send(alice, room)
    deliver(message)
    again = deliver(message)
    assert fcm.script.tokens() == ["bob-phone"]
    assert again.sent == 0
    assert PushDelivery.objects.get().state == PushDelivery.State.SENT


def test_a_push_left_sending_by_a_killed_worker_is_sent_again_once_its_lease_ends(
    fcm, device, send, alice, bob, room
):
    phone = device(bob, "android", "bob-phone")
    message = send(alice, room)
    claimed = PushDelivery.objects.create(
        device=phone,
        kind="message",
        key=f"message:{message.pk}",
        room=room,
        seq=message.seq,
        state=PushDelivery.State.SENDING,
        lease_until=timezone.now() + timedelta(seconds=30),
    )
    still_leased = deliver(message)
    assert fcm.script.tokens() == [] and still_leased.deferred == 1
    assert 0 < still_leased.retry_after <= 30
    PushDelivery.objects.filter(pk=claimed.pk).update(lease_until=timezone.now())
    deliver(message)
    deliver(message)
    assert fcm.script.tokens() == ["bob-phone"]


# --- payload --------------------------------------------------------------


def test_the_push_names_room_and_author_and_carries_what_opens_the_room(
    fcm, device, send, alice, bob, room, settings
):
    settings.PUSH_BODY_MAX_CHARS = 40
    device(bob, "android", "bob-phone")
    message = send(alice, room, "word " * 200)
    deliver(message)
    (request,) = fcm.script.requests
    sent = request["message"]
    assert request["path"] == "/v1/projects/chat-test/messages:send"
    assert sent["notification"]["title"] == "general"
    assert sent["notification"]["body"].startswith("alice: word word")
    assert len(sent["notification"]["body"]) == 40 and sent["notification"]["body"].endswith("…")
    assert sent["data"] == {
        "type": "message",
        "room": str(room.pk),
        "seq": str(message.seq),
        "message": str(message.pk),
        "room_name": "general",
        "author": "alice",
    }


def test_hidden_content_shows_neither_body_nor_author(
    fcm, device, send, alice, bob, room, settings
):
    settings.PUSH_HIDE_CONTENT = True
    device(bob, "android", "bob-phone")
    deliver(send(alice, room, "secret plans"))
    sent = fcm.script.requests[0]["message"]
    assert "secret" not in str(sent) and "alice" not in str(sent)
    assert sent["notification"]["title"] == "New message"
    assert sent["data"]["room"] == str(room.pk)


# --- FCM answers ----------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        (404, fcm_error(404, "UNREGISTERED")),
        (400, fcm_error(400, "INVALID_ARGUMENT", token_field=True)),
    ],
)
def test_fcm_deactivates_exactly_the_device_whose_token_is_dead(
    fcm, device, send, alice, bob, carol, answer
):
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk])
    dead = device(bob, "android", "dead-token")
    fine = device(carol, "android", "fine-token")
    fcm.script.answer("dead-token", answer)
    result = deliver(send(alice, room))
    assert sorted(fcm.script.tokens()) == ["dead-token", "fine-token"]
    assert not active(dead) and active(fine)
    assert result.deactivated == 1 and result.sent == 1 and not result.deferred


@pytest.mark.parametrize(
    "answer, retry_after",
    [
        ((429, fcm_error(429, "QUOTA_EXCEEDED"), {"Retry-After": "30"}), 30),
        ((503, fcm_error(503, "UNAVAILABLE")), None),
        ((500, fcm_error(500, "INTERNAL")), None),
    ],
)
def test_fcm_transient_errors_are_retried_and_deactivate_nothing(
    fcm, device, send, alice, bob, room, answer, retry_after
):
    phone = device(bob, "android", "bob-phone")
    fcm.script.answer("bob-phone", answer)
    message = send(alice, room)
    first = deliver(message)
    assert first.deferred == 1 and first.retry_after == retry_after
    assert active(phone)
    second = deliver(message)
    assert second.sent == 1
    assert fcm.script.tokens() == ["bob-phone", "bob-phone"]


def test_a_throttled_fcm_batch_stops_and_waits_for_the_retry(
    fcm, device, send, alice, bob, carol, make_user
):
    dave = make_user("dave")
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk, dave.pk])
    for user in (bob, carol, dave):
        device(user, "android", f"{user.username}-phone")
    fcm.script.answer("bob-phone", (429, fcm_error(429, "QUOTA_EXCEEDED"), {"Retry-After": "5"}))
    message = send(alice, room)
    first = deliver(message)
    assert fcm.script.tokens() == ["bob-phone"]
    assert first.deferred == 3 and first.retry_after == 5
    deliver(message)
    assert sorted(fcm.script.tokens()) == ["bob-phone", "bob-phone", "carol-phone", "dave-phone"]


def test_a_timeout_is_transient(fcm, device, send, alice, bob, room, settings):
    settings.PUSH_TIMEOUT = 0.3
    fcm.script.delay = 1.0
    phone = device(bob, "android", "bob-phone")
    result = deliver(send(alice, room))
    assert result.deferred == 1 and active(phone)


@pytest.mark.parametrize(
    "answer",
    [
        (403, fcm_error(403, "SENDER_ID_MISMATCH")),
        (400, fcm_error(400, "INVALID_ARGUMENT")),
        (401, fcm_error(401, "THIRD_PARTY_AUTH_ERROR")),
    ],
)
def test_fcm_configuration_errors_are_logged_never_retried_and_deactivate_nothing(
    fcm, device, send, alice, bob, room, answer, caplog
):
    phone = device(bob, "android", "bob-phone")
    fcm.script.answer("bob-phone", answer)
    message = send(alice, room)
    result = deliver(message)
    assert result.failed == 1 and not result.deferred and active(phone)
    assert any(r.levelname == "ERROR" and "failed" in r.getMessage() for r in caplog.records)
    deliver(message)
    assert fcm.script.tokens() == ["bob-phone"]


def test_a_refused_service_account_sends_nothing_and_is_not_retried(
    fcm, device, send, alice, bob, room, caplog
):
    phone = device(bob, "android", "bob-phone")
    fcm.token_answers.append((400, {"error": "invalid_grant", "error_description": "bad key"}))
    result = deliver(send(alice, room))
    assert fcm.script.tokens() == [] and result.failed == 1 and not result.deferred
    assert active(phone)
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_an_unreachable_token_endpoint_is_retried(fcm, device, send, alice, bob, room):
    device(bob, "android", "bob-phone")
    fcm.token_answers.append((503, {"error": "temporarily_unavailable"}))
    fcm.token_answers.extend([(503, {"error": "temporarily_unavailable"})] * 5)
    message = send(alice, room)
    first = deliver(message)
    assert first.deferred == 1 and fcm.script.tokens() == []
    fcm.token_answers.clear()
    deliver(message)
    assert fcm.script.tokens() == ["bob-phone"]


def test_the_oauth_token_is_reused_across_batches(fcm, device, send, alice, bob, room):
    device(bob, "android", "bob-phone")
    for _ in range(3):
        deliver(send(alice, room))
    assert len(fcm.script.tokens()) == 3 and fcm.issued == ["oauth-1"]


def test_the_last_attempt_turns_a_transient_error_into_a_failure(
    fcm, device, send, alice, bob, room
):
    phone = device(bob, "android", "bob-phone")
    fcm.script.answer("bob-phone", (503, fcm_error(503, "UNAVAILABLE")))
    result = deliver(send(alice, room), final=True)
    assert result.failed == 1 and not result.deferred and active(phone)
    assert PushDelivery.objects.get().state == PushDelivery.State.FAILED


# --- APNs answers ---------------------------------------------------------


def test_apns_gets_an_http2_request_with_a_signed_provider_token(
    apns, device, send, alice, bob, room
):
    device(bob, "ios", "a1b2c3")
    message = send(alice, room, "over h2")
    result = deliver(message)
    (request,) = apns.script.requests
    assert result.sent == 1
    assert request["http_version"] == "2"
    assert request["claims"]["iss"] == "TEAM123456"
    assert request["headers"]["apns-topic"] == "com.example.chat"
    assert request["headers"]["apns-push-type"] == "alert"
    aps = request["payload"]["aps"]
    assert aps["alert"] == {"title": "general", "body": "alice: over h2"}
    assert request["payload"]["room"] == str(room.pk)
    assert request["payload"]["seq"] == str(message.seq)


@pytest.mark.parametrize(
    "answer",
    [
        (410, {"reason": "Unregistered", "timestamp": 1700000000000}),
        (400, {"reason": "BadDeviceToken"}),
        (400, {"reason": "DeviceTokenNotForTopic"}),
    ],
)
def test_apns_deactivates_exactly_the_device_whose_token_is_dead(
    apns, device, send, alice, bob, carol, answer
):
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk])
    dead = device(bob, "ios", "dead")
    fine = device(carol, "ios", "fine")
    apns.script.answer("dead", answer)
    result = deliver(send(alice, room))
    assert sorted(apns.script.tokens()) == ["dead", "fine"]
    assert not active(dead) and active(fine)
    assert result.deactivated == 1 and result.sent == 1


@pytest.mark.parametrize(
    "answer, retry_after",
    [
        ((429, {"reason": "TooManyRequests"}, {"Retry-After": "12"}), 12),
        ((503, {"reason": "ServiceUnavailable"}), None),
        ((500, {"reason": "InternalServerError"}), None),
    ],
)
def test_apns_transient_errors_are_retried(
    apns, device, send, alice, bob, room, answer, retry_after
):
    phone = device(bob, "ios", "bobtoken")
    apns.script.answer("bobtoken", answer)
    message = send(alice, room)
    first = deliver(message)
    assert first.deferred == 1 and first.retry_after == retry_after and active(phone)
    assert deliver(message).sent == 1


def test_a_rejected_apns_provider_token_stops_the_batch_and_deactivates_nothing(
    apns, device, send, alice, bob, carol, caplog
):
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk])
    first_phone = device(bob, "ios", "t1")
    second_phone = device(carol, "ios", "t2")
    for token in ("t1", "t2"):
        apns.script.answer(token, (403, {"reason": "InvalidProviderToken"}))
    message = send(alice, room)
    result = deliver(message)
    assert len(apns.script.tokens()) == 1
    assert result.failed == 2 and not result.deferred
    assert active(first_phone) and active(second_phone)
    assert any(r.levelname == "ERROR" for r in caplog.records)
    deliver(message)
    assert len(apns.script.tokens()) == 1


# --- Web Push answers -----------------------------------------------------


def test_web_push_is_encrypted_for_the_subscription_and_signed_with_vapid(
    webpush_service, device, send, alice, bob, room
):
    browser = webpush_service.subscriber("bob-browser")
    device(bob, "web", browser.token)
    message = send(alice, room, "to the browser")
    assert deliver(message).sent == 1
    (request,) = webpush_service.script.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    shown = browser.decrypt(request["body"])
    assert shown["title"] == "general" and shown["body"] == "alice: to the browser"
    assert shown["room"] == str(room.pk) and shown["seq"] == str(message.seq)


@pytest.mark.parametrize("status", [404, 410])
def test_web_push_gone_subscriptions_are_deactivated(
    webpush_service, device, send, alice, bob, carol, status
):
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk])
    gone, kept = webpush_service.subscriber("gone"), webpush_service.subscriber("kept")
    gone_device = device(bob, "web", gone.token)
    kept_device = device(carol, "web", kept.token)
    webpush_service.script.answer("gone", (status, {}))
    deliver(send(alice, room))
    assert not active(gone_device) and active(kept_device)
    assert sorted(webpush_service.script.tokens()) == ["gone", "kept"]


@pytest.mark.parametrize(
    "answer, retry_after",
    [((429, {}, {"Retry-After": "7"}), 7), ((500, {}), None), ((503, {}), None)],
)
def test_web_push_transient_errors_are_retried(
    webpush_service, device, send, alice, bob, room, answer, retry_after
):
    browser = webpush_service.subscriber("b")
    phone = device(bob, "web", browser.token)
    webpush_service.script.answer("b", answer)
    message = send(alice, room)
    first = deliver(message)
    assert first.deferred == 1 and first.retry_after == retry_after and active(phone)
    assert deliver(message).sent == 1


def test_web_push_authentication_errors_are_not_retried(
    webpush_service, device, send, alice, bob, room
):
    browser = webpush_service.subscriber("b")
    phone = device(bob, "web", browser.token)
    webpush_service.script.answer("b", (401, {}))
    result = deliver(send(alice, room))
    assert result.failed == 1 and not result.deferred and active(phone)


# --- clearing -------------------------------------------------------------


def test_reading_clears_the_pushed_messages_on_devices_that_can_clear(
    fcm, webpush_service, device, send, alice, bob, room
):
    device(bob, "android", "bob-phone")
    device(bob, "web", webpush_service.subscriber("bob-browser").token)
    first, second = send(alice, room, "one"), send(alice, room, "two")
    deliver(first)
    deliver(second)
    delivery.push_clear_deliver(user_id=bob.pk, room_id=room.pk, seq=second.seq, previous_seq=0)
    clears = [r["message"] for r in fcm.script.requests if r["message"]["data"]["type"] == "clear"]
    assert clears == [
        {
            "token": "bob-phone",
            "data": {"type": "clear", "room": str(room.pk), "seq": str(second.seq)},
            "android": {"priority": "normal"},
            "apns": {
                "headers": {"apns-push-type": "background", "apns-priority": "5"},
                "payload": {"aps": {"content-available": 1}},
            },
        }
    ]
    # Browsers must show every push, so they get no silent clear.
    assert webpush_service.script.tokens() == ["bob-browser", "bob-browser"]


def test_nothing_is_cleared_where_nothing_was_pushed(fcm, device, send, alice, bob, room):
    device(bob, "android", "bob-phone")
    message = send(alice, room)
    delivery.push_clear_deliver(user_id=bob.pk, room_id=room.pk, seq=message.seq, previous_seq=0)
    assert fcm.script.tokens() == []


# --- retry timing ---------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after(settings):
    settings.PUSH_RETRY_BASE_DELAY, settings.PUSH_RETRY_MAX_DELAY = 2.0, 60.0
    for retries, ceiling in [(0, 2), (1, 4), (3, 16), (10, 60)]:
        delays = {backoff_seconds(retries) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
    assert backoff_seconds(0, retry_after=45) == 45
    settings.PUSH_RETRY_AFTER_MAX = 100
    assert backoff_seconds(0, retry_after=10_000) == 100


def test_the_log_backend_logs_each_push_without_its_text(device, send, alice, bob, room, caplog):
    device(bob, "android", "bob-phone")
    caplog.set_level("INFO", logger="devices")
    started = time.monotonic()
    deliver(send(alice, room, "private words"))
    assert time.monotonic() - started < 5
    lines = [r.getMessage() for r in caplog.records if r.name == "devices.push.log"]
    assert len(lines) == 1 and "room" in lines[0] and "private" not in lines[0]


def test_old_finished_deliveries_are_pruned_and_open_ones_kept(device, send, alice, bob, room):
    phone = device(bob, "android", "bob-phone")
    deliver(send(alice, room))
    pending = PushDelivery.objects.create(device=phone, kind="test", key="test:open")
    PushDelivery.objects.update(created_at=timezone.now() - timedelta(days=30))
    assert delivery.push_deliveries_prune(older_than_days=14) == 1
    assert list(PushDelivery.objects.values_list("pk", flat=True)) == [pending.pk]


def test_a_backend_that_cannot_start_is_a_configuration_error(
    apns, device, send, alice, bob, room, settings, caplog
):
    settings.PUSH_APNS_CA_FILE = "/nonexistent/ca.pem"
    phone = device(bob, "ios", "bobtoken")
    result = deliver(send(alice, room))
    assert result.failed == 1 and not result.deferred and active(phone)
    assert apns.script.tokens() == []
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_the_admins_test_push_reaches_the_device_once(fcm, device, bob):
    phone = device(bob, "android", "bob-phone")
    for _ in range(2):  # the same task delivered twice
        delivery.push_test_deliver(device_id=phone.pk, nonce="n1")
    (request,) = fcm.script.requests
    assert request["message"]["notification"]["title"] == "Test notification"
    delivery.push_test_deliver(device_id=phone.pk, nonce="n2")  # a second click
    assert len(fcm.script.requests) == 2

"""The REST, admin and page side of the authorization matrix, CSRF, XSS and secrets in logs.

Each caller gets exactly the refusal docs/rest.md gives it, and a room one is
not in answers exactly like a room that does not exist (docs/reliability.md).
"""

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import caches
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat import services
from chat.models import Message
from chatproject import enqueue
from notifications.tasks import digest_pend_messages
from tests import broker

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
MISSING = 987_654_321


@pytest.fixture(autouse=True)
def fresh_throttles():
    caches["throttle"].clear()


@pytest.fixture
def world(make_user):
    """alice owns a room with bob (member) and mute (muted); carol is outside; ex left."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    muted, ex, gone = make_user("mute"), make_user("ex"), make_user("gone")
    moderator = make_user("mod", is_staff=True)
    room = services.room_create(
        owner=alice, name="general", member_ids=[bob.pk, muted.pk, ex.pk, gone.pk]
    )
    services.membership_mute(actor=moderator, room_id=room.pk, user_id=muted.pk, muted=True)
    services.membership_remove(actor=alice, room_id=room.pk, user_id=ex.pk)
    message, _ = services.message_send(user=alice, room_id=room.pk, body="hello", client_id="w1")
    tokens = {u.username: Token.objects.create(user=u).key for u in (alice, bob, carol, muted, ex)}
    tokens["gone"] = Token.objects.create(user=gone).key
    services.user_deactivate(actor=moderator, user=gone)
    revoked = Token.objects.create(user=make_user("revoked"))
    tokens["revoked"] = revoked.key
    revoked.delete()
    users = {"alice": alice, "bob": bob, "carol": carol, "moderator": moderator}
    return {"room": room, "message": message, "tokens": tokens, "users": users}


def api(world, who):
    client = APIClient()
    if who == "wrong token":
        client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    elif who != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens'][who]}")
    return client


UNAUTHENTICATED = ["anonymous", "wrong token", "revoked", "gone"]


@pytest.mark.parametrize("who", UNAUTHENTICATED)
@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/me/"),
        ("get", "/api/rooms/"),
        ("get", "/api/rooms/{room}/"),
        ("get", "/api/rooms/{room}/messages/"),
        ("post", "/api/rooms/{room}/messages/"),
        ("patch", "/api/messages/{message}/"),
        ("delete", "/api/messages/{message}/"),
        ("get", "/api/devices/"),
        ("get", "/api/me/notifications/"),
    ],
)
def test_no_valid_credentials_means_401_and_nothing_else(world, who, method, path):
    url = path.format(room=world["room"].pk, message=world["message"].pk)
    response = getattr(api(world, who), method)(url, {"body": "x", "client_id": "c"}, format="json")
    assert response.status_code == 401, response.content
    assert set(response.json()) == {"detail"}
    assert Message.objects.count() == 1


@pytest.mark.parametrize("who", ["carol", "ex"])
@pytest.mark.parametrize(
    "method,path,data",
    [
        ("get", "/api/rooms/{room}/", None),
        ("get", "/api/rooms/{room}/messages/", None),
        ("post", "/api/rooms/{room}/messages/", {"body": "let me in", "client_id": "x1"}),
        ("post", "/api/rooms/{room}/read/", {"seq": 1}),
        ("post", "/api/rooms/{room}/members/", {"user": 1}),
        ("patch", "/api/messages/{message}/", {"body": "mine now"}),
        ("delete", "/api/messages/{message}/", None),
        ("post", "/api/messages/{message}/report/", {"reason": "spam"}),
    ],
)
def test_outsiders_get_the_answer_of_a_room_or_message_that_does_not_exist(
    world, who, method, path, data
):
    client = api(world, who)
    real = path.format(room=world["room"].pk, message=world["message"].pk)
    missing = path.format(room=MISSING, message=MISSING)
    answer = getattr(client, method)(real, data, format="json")
    control = getattr(client, method)(missing, data, format="json")
    assert answer.status_code == 404, answer.content
    assert (answer.status_code, answer.json()) == (control.status_code, control.json())
    assert Message.objects.count() == 1


def test_outsiders_do_not_see_the_room_in_their_list(world):
    for who in ("carol", "ex"):
        listed = api(world, who).get("/api/rooms/").json()
        rooms = listed["results"] if isinstance(listed, dict) else listed
        assert rooms == [], (who, listed)


def test_a_muted_member_gets_403_and_nothing_is_stored(world):
    response = api(world, "mute").post(
        f"/api/rooms/{world['room'].pk}/messages/",
        {"body": "hello?", "client_id": "m1"},
        format="json",
    )
    assert response.status_code == 403 and "detail" in response.json()
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "method,path,data",
    [
        ("post", "/api/rooms/{room}/members/", {"user": "{carol}"}),
        ("delete", "/api/rooms/{room}/members/{alice}/", None),
        ("patch", "/api/messages/{message}/", {"body": "not yours"}),
        ("delete", "/api/messages/{message}/", None),
    ],
)
def test_a_member_who_is_not_owner_author_or_moderator_gets_403(world, method, path, data):
    users = world["users"]
    ids = {"room": world["room"].pk, "message": world["message"].pk}
    ids |= {"alice": users["alice"].pk, "carol": users["carol"].pk}
    if data:
        data = {k: int(v.format(**ids)) if v.startswith("{") else v for k, v in data.items()}
    response = getattr(api(world, "bob"), method)(path.format(**ids), data, format="json")
    assert response.status_code == 403, response.content
    world["message"].refresh_from_db()
    assert world["message"].body == "hello" and not world["message"].deleted
    assert world["room"].memberships.filter(user=users["alice"]).exists()


def test_a_logged_in_user_who_is_not_staff_is_sent_to_the_admin_login(world):
    client = Client()
    client.force_login(world["users"]["bob"])
    for path in ("/admin/", "/admin/chat/message/", f"/admin/chat/room/{world['room'].pk}/change/"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], path


def test_session_writes_need_the_csrf_token_and_token_writes_do_not(world):
    room = world["room"].pk
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world["users"]["bob"])
    url = f"/api/rooms/{room}/messages/"
    refused = browser.post(
        url, {"body": "csrf?", "client_id": "s1"}, content_type="application/json"
    )
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Message.objects.count() == 1
    browser.get("/")  # the page sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        url,
        {"body": "with token", "client_id": "s2"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert accepted.status_code == 201, accepted.content
    native = api(world, "bob").post(url, {"body": "app", "client_id": "t1"}, format="json")
    assert native.status_code == 201


def test_xss_payloads_are_stored_and_returned_as_text(world):
    room = world["room"].pk
    response = api(world, "bob").post(
        f"/api/rooms/{room}/messages/", {"body": XSS, "client_id": "x"}, format="json"
    )
    assert response.status_code == 201 and response.json()["body"] == XSS
    assert Message.objects.get(client_id="x").body == XSS
    page = api(world, "bob").get(f"/api/rooms/{room}/messages/").json()["results"]
    assert page[-1]["body"] == XSS


def test_xss_payloads_are_escaped_in_the_admin(world):
    services.message_send(
        user=world["users"]["bob"], room_id=world["room"].pk, body=XSS, client_id="x"
    )
    services.room_create(owner=world["users"]["bob"], name=XSS, member_ids=[])
    admin = Client()
    admin.force_login(world["users"]["moderator"])
    world["users"]["moderator"].is_superuser = True
    world["users"]["moderator"].save()
    for path in ("/admin/chat/message/", "/admin/chat/room/"):
        html = admin.get(path).content.decode()
        assert "<script>alert" not in html and "onerror=alert(1)>" not in html, path
        assert "&lt;script&gt;" in html, path


def test_the_page_never_builds_html_from_data_and_forbids_inline_scripts(world):
    client = Client()
    client.force_login(world["users"]["bob"])
    response = client.get("/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    script_src = re.search(r"script-src([^;]*)", policy) or re.search(r"default-src([^;]*)", policy)
    assert script_src and "'unsafe-inline'" not in script_src.group(1), policy
    for script in Path(django_settings.BASE_DIR, "static").rglob("*.js"):
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in source, f"{script} uses {sink}"


def test_xss_payloads_are_escaped_in_the_digest_email(world, django_capture_on_commit_callbacks):
    from notifications import services as notifications

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(
            user=world["users"]["alice"], room_id=world["room"].pk, body=XSS, client_id="x"
        )
    # What the worker does with the receiver's hand-off: pend the message.
    assert enqueue.flush(timeout=10)
    calls = broker.take("notifications.tasks.digest_pend_messages")
    assert calls
    for (message_ids,) in calls:
        digest_pend_messages(message_ids)
    later = timezone.now() + timedelta(days=2)
    notifications.digest_sweep(now=later)
    notifications.digest_sweep(now=later + timedelta(seconds=120))
    assert mail.outbox, "no digest was sent"
    for email in mail.outbox:
        html = email.alternatives[0][0]
        assert "<script>alert" not in html and "onerror=alert(1)>" not in html
        assert "&lt;script&gt;" in html
        assert "\n" not in email.subject


def test_tokens_push_credentials_and_bodies_never_reach_the_logs(world, caplog):
    caplog.set_level(logging.DEBUG)
    secret_body = "the-secret-body-7f3a9"
    push_token = "push-secret-token-0c1d2e3f4a5b6c7d8e9f"
    client = APIClient()
    login = client.post(
        "/api/auth/token/", {"username": "bob", "password": "pw-bob-2026"}, format="json"
    )
    assert login.status_code == 200
    key = login.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    room = world["room"].pk
    client.post(
        f"/api/rooms/{room}/messages/", {"body": secret_body, "client_id": "s"}, format="json"
    )
    client.post("/api/devices/", {"platform": "android", "token": push_token}, format="json")
    client.get("/api/rooms/", HTTP_X_DEVICE_ID=push_token, HTTP_X_DEVICE_PLATFORM="android")
    client.post(
        "/api/auth/token/", {"username": "bob", "password": "wrong-password"}, format="json"
    )
    APIClient(HTTP_AUTHORIZATION="Token " + key[:-1] + "0").get("/api/me/")
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {getattr(r, '__dict__', {})}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged at all: the check would prove nothing"
    for secret in (secret_body, push_token, key, "pw-bob-2026", "wrong-password"):
        assert secret not in logged, f"{secret[:12]}... appears in the logs"

"""The REST API as a mobile client sees it (docs/rest.md)."""

import json

import pytest
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.utils.crypto import get_random_string
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat import services, signals
from chat.models import Membership, Message, Report, Room

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttles(settings):
    """Throttle counters live in a cache; each test starts with none.

    A fast password hasher keeps user creation and logins cheap in tests.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caches["throttle"].clear()


@pytest.fixture
def api():
    """``api(user)`` is a client that sends ``Authorization: Token``; ``api()`` sends nothing."""

    def build(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return build


def send(client, room_id, body, client_id):
    return client.post(
        f"/api/rooms/{room_id}/messages/", {"body": body, "client_id": client_id}, format="json"
    )


def raw(client, method, path, body, content_type="application/json"):
    return client.generic(method, path, body, content_type=content_type)


def fill(room, author, count):
    for i in range(count):
        services.message_send(user=author, room_id=room.pk, body=f"m{i + 1}", client_id=f"f{i}")


# --- authentication -----------------------------------------------------------


def test_token_login_returns_a_token_that_authenticates_later_calls(api, alice):
    response = api().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-2026"}, format="json"
    )
    assert response.status_code == 200
    key = response.json()["token"]
    assert key == Token.objects.get(user=alice).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/me/").json() == {"id": alice.pk, "username": "alice"}


def test_logging_in_twice_returns_the_same_token(api, alice):
    body = {"username": "alice", "password": "pw-alice-2026"}
    first = api().post("/api/auth/token/", body, format="json").json()["token"]
    assert api().post("/api/auth/token/", body, format="json").json()["token"] == first


def test_a_wrong_password_gets_400_with_a_detail(api, alice):
    response = api().post(
        "/api/auth/token/", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Unable to log in with the username and password given."}


def test_a_deactivated_user_cannot_log_in(api, make_user):
    make_user("gone", is_active=False)
    response = api().post(
        "/api/auth/token/", {"username": "gone", "password": "pw-gone-2026"}, format="json"
    )
    assert response.status_code == 400
    assert not Token.objects.filter(user__username="gone").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "alice"}, "password"),
        ({"username": 5, "password": "pw-alice-2026"}, "username"),
        ({"username": "alice", "password": ["pw"]}, "password"),
        ({"username": "al\x00ice", "password": "x"}, "username"),
    ],
)
def test_a_malformed_login_names_the_bad_field(api, alice, body, field):
    response = api().post("/api/auth/token/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_a_deactivated_users_token_stops_working_at_once(api, make_user, alice):
    client = api(alice)
    assert client.get("/api/me/").status_code == 200
    moderator = make_user("mod", is_staff=True)
    services.user_deactivate(actor=moderator, user=alice)
    response = client.get("/api/rooms/")
    assert response.status_code == 401
    assert "inactive" in response.json()["detail"].lower()


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/me/"),
        ("get", "/api/rooms/"),
        ("post", "/api/rooms/"),
        ("post", "/api/rooms/direct/"),
        ("get", "/api/rooms/1/"),
        ("post", "/api/rooms/1/members/"),
        ("delete", "/api/rooms/1/members/1/"),
        ("get", "/api/rooms/1/messages/"),
        ("post", "/api/rooms/1/messages/"),
        ("post", "/api/rooms/1/read/"),
        ("patch", "/api/messages/1/"),
        ("delete", "/api/messages/1/"),
        ("post", "/api/messages/1/report/"),
    ],
)
def test_every_endpoint_needs_credentials(api, room, method, path):
    response = getattr(api(), method)(path, {}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["WWW-Authenticate"] == "Token"


def test_an_unknown_token_is_refused(api):
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_a_session_user_needs_the_csrf_token_to_write(alice, room):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/api/rooms/").status_code == 200
    body = json.dumps({"body": "hi", "client_id": "s1"})
    path = f"/api/rooms/{room.pk}/messages/"
    refused = browser.post(path, body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not Message.objects.exists()
    # What the page does: send back, as X-CSRFToken, the token of its csrftoken cookie.
    secret = get_random_string(32)
    browser.cookies["csrftoken"] = secret
    accepted = browser.post(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=secret)
    assert accepted.status_code == 201


# --- throttling ---------------------------------------------------------------


def test_logins_beyond_the_rate_get_429_with_retry_after(api, alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "2/min",
        },
    }
    body = {"username": "alice", "password": "wrong"}
    assert [api().post("/api/auth/token/", body, format="json").status_code for _ in range(2)] == [
        400,
        400,
    ]
    response = api().post("/api/auth/token/", body, format="json")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"]


def test_a_forged_forwarded_for_header_does_not_dodge_the_login_throttle(api, alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "2/min",
        },
    }
    body = {"username": "alice", "password": "wrong"}
    statuses = [
        api()
        .post("/api/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        .status_code
        for i in range(3)
    ]
    assert statuses == [400, 400, 429]


def test_a_throttle_whose_cache_is_down_lets_requests_through(api, alice, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    }
    body = {"username": "alice", "password": "pw-alice-2026"}
    assert api().post("/api/auth/token/", body, format="json").status_code == 200
    assert "throttle login cannot reach its cache" in caplog.text


def test_sends_beyond_the_rate_get_429_and_store_nothing(api, alice, room, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "send": "3/min",
        },
    }
    client = api(alice)
    assert [send(client, room.pk, "hi", f"t{i}").status_code for i in range(3)] == [201] * 3
    response = send(client, room.pk, "hi", "t4")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert Message.objects.count() == 3
    # Reading history is not a send and is not throttled.
    assert client.get(f"/api/rooms/{room.pk}/messages/").status_code == 200


# --- me and rooms -------------------------------------------------------------


def test_me_is_the_authenticated_user(api, bob):
    assert api(bob).get("/api/me/").json() == {"id": bob.pk, "username": "bob"}


def test_the_room_list_carries_counters_kind_and_members(api, alice, bob, carol, room):
    fill(room, alice, 3)
    services.message_read(user=bob, room_id=room.pk, seq=1)
    services.room_direct(user=bob, other_id=carol.pk)
    rooms = api(bob).get("/api/rooms/").json()
    assert rooms[0] == {
        "id": room.pk,
        "name": "general",
        "kind": "group",
        "owner": alice.pk,
        "last_seq": 3,
        "last_read_seq": 1,
        "unread": 2,
        "members": [{"id": alice.pk, "username": "alice"}, {"id": bob.pk, "username": "bob"}],
    }
    assert rooms[1]["kind"] == "direct"
    assert rooms[1]["members"] == [
        {"id": bob.pk, "username": "bob"},
        {"id": carol.pk, "username": "carol"},
    ]
    assert api(carol).get("/api/rooms/").json()[0]["id"] == rooms[1]["id"]


def test_the_room_list_costs_the_same_queries_for_one_room_or_many(api, alice, bob, carol):
    client = api(alice)
    services.room_create(owner=alice, name="one", member_ids=[bob.pk])
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/rooms/").json()) == 1
    for i in range(6):
        services.room_create(owner=alice, name=f"r{i}", member_ids=[bob.pk, carol.pk])
    with CaptureQueriesContext(connection) as seven:
        assert len(client.get("/api/rooms/").json()) == 7
    assert len(seven) == len(one)


def test_creating_a_room_makes_the_creator_its_owner(api, alice, bob):
    response = api(alice).post(
        "/api/rooms/", {"name": "  team  ", "members": [bob.pk]}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "team" and body["kind"] == "group" and body["owner"] == alice.pk
    assert [m["username"] for m in body["members"]] == ["alice", "bob"]
    assert Membership.objects.get(room_id=body["id"], user=alice).role == "owner"


def test_a_room_without_members_has_just_its_creator(api, alice):
    response = api(alice).post("/api/rooms/", {"name": "solo"}, format="json")
    assert response.status_code == 201
    assert response.json()["members"] == [{"id": alice.pk, "username": "alice"}]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 7},
        {"name": "x" * 101},
        {"name": "ok", "members": "bob"},
        {"name": "ok", "members": ["2"]},
        {"name": "ok", "members": [True]},
        {"name": "ok", "members": [0]},
        {"name": "ok", "members": [2**70]},
        {"name": "ok", "members": [999999]},
    ],
)
def test_a_bad_room_creation_is_400_and_creates_nothing(api, alice, body):
    response = api(alice).post("/api/rooms/", body, format="json")
    assert response.status_code == 400
    assert response.json()
    assert not Room.objects.exists()


def test_an_unknown_member_id_is_named_in_the_error(api, alice, bob):
    response = api(alice).post(
        "/api/rooms/", {"name": "x", "members": [bob.pk, 424242]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Unknown or inactive users: [424242].",
        "code": "bad_frame",
    }


def test_the_direct_room_is_created_once_for_the_pair(api, alice, bob):
    first = api(alice).post("/api/rooms/direct/", {"user": bob.pk}, format="json")
    assert first.status_code == 201
    again = api(alice).post("/api/rooms/direct/", {"user": bob.pk}, format="json")
    other_side = api(bob).post("/api/rooms/direct/", {"user": alice.pk}, format="json")
    assert again.status_code == other_side.status_code == 200
    assert first.json()["id"] == again.json()["id"] == other_side.json()["id"]
    assert first.json()["kind"] == "direct" and first.json()["owner"] is None
    assert Room.objects.filter(kind="direct").count() == 1


@pytest.mark.parametrize("other", ["self", 999999, "2", None])
def test_a_direct_room_needs_another_existing_user(api, alice, other):
    user = alice.pk if other == "self" else other
    response = api(alice).post("/api/rooms/direct/", {"user": user}, format="json")
    assert response.status_code == 400
    assert not Room.objects.exists()


def test_a_member_sees_one_room_and_others_get_404(api, alice, carol, room):
    assert api(alice).get(f"/api/rooms/{room.pk}/").json()["name"] == "general"
    for path in (f"/api/rooms/{room.pk}/", "/api/rooms/999999/", f"/api/rooms/{2**64}/"):
        response = api(carol).get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_member"


def test_the_owner_adds_a_member(api, alice, carol, room):
    response = api(alice).post(f"/api/rooms/{room.pk}/members/", {"user": carol.pk}, format="json")
    assert response.status_code == 201
    assert response.json() == {"id": carol.pk, "username": "carol"}
    again = api(alice).post(f"/api/rooms/{room.pk}/members/", {"user": carol.pk}, format="json")
    assert again.status_code == 200
    assert api(carol).get(f"/api/rooms/{room.pk}/").status_code == 200


def test_only_the_owner_adds_members(api, bob, carol, room):
    response = api(bob).post(f"/api/rooms/{room.pk}/members/", {"user": carol.pk}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only the room's owner may add members."
    outsider = api(carol).post(f"/api/rooms/{room.pk}/members/", {"user": carol.pk}, format="json")
    assert outsider.status_code == 404
    assert not Membership.objects.filter(user=carol).exists()


def test_a_moderator_group_member_may_add_members(api, make_user, carol, room):
    moderator = make_user("mod")
    moderator.groups.add(Group.objects.get_or_create(name="moderators")[0])
    response = api(moderator).post(
        f"/api/rooms/{room.pk}/members/", {"user": carol.pk}, format="json"
    )
    assert response.status_code == 201


def test_a_direct_room_takes_no_extra_members(api, alice, bob, carol):
    room, _ = services.room_direct(user=alice, other_id=bob.pk)
    response = api(alice).post(f"/api/rooms/{room.pk}/members/", {"user": carol.pk}, format="json")
    assert response.status_code == 403


def test_the_owner_removes_a_member_who_then_gets_404(api, alice, bob, room):
    response = api(alice).delete(f"/api/rooms/{room.pk}/members/{bob.pk}/")
    assert response.status_code == 204
    assert api(bob).get(f"/api/rooms/{room.pk}/").status_code == 404
    assert api(bob).get(f"/api/rooms/{room.pk}/messages/").status_code == 404


def test_a_member_leaves_but_does_not_remove_others(api, alice, bob, carol, room):
    services.membership_add(actor=alice, room_id=room.pk, user_id=carol.pk)
    refused = api(bob).delete(f"/api/rooms/{room.pk}/members/{carol.pk}/")
    assert refused.status_code == 403
    assert api(bob).delete(f"/api/rooms/{room.pk}/members/{bob.pk}/").status_code == 204
    assert [m["username"] for m in api(alice).get(f"/api/rooms/{room.pk}/").json()["members"]] == [
        "alice",
        "carol",
    ]


def test_removing_someone_who_is_not_a_member_is_404(api, alice, carol, room):
    response = api(alice).delete(f"/api/rooms/{room.pk}/members/{carol.pk}/")
    assert response.status_code == 404
    assert response.json()["detail"] == "That user is not a member of this room."
    assert api(alice).delete(f"/api/rooms/{room.pk}/members/{2**64}/").status_code == 404


# --- history ------------------------------------------------------------------


def seqs(response):
    return [m["seq"] for m in response.json()["results"]]


def test_history_pages_are_ascending_with_has_more(api, alice, bob, room):
    fill(room, alice, 12)
    client = api(bob)
    path = f"/api/rooms/{room.pk}/messages/"
    newest = client.get(path, {"limit": 5})
    assert seqs(newest) == [8, 9, 10, 11, 12] and newest.json()["has_more"] is True
    older = client.get(path, {"before": 8, "limit": 5})
    assert seqs(older) == [3, 4, 5, 6, 7] and older.json()["has_more"] is True
    oldest = client.get(path, {"before": 3, "limit": 5})
    assert seqs(oldest) == [1, 2] and oldest.json()["has_more"] is False
    newer = client.get(path, {"after": 9, "limit": 2})
    assert seqs(newer) == [10, 11] and newer.json()["has_more"] is True
    assert client.get(path, {"after": 12}).json() == {"results": [], "has_more": False}
    first = client.get(path).json()["results"][0]
    assert first == {
        "id": Message.objects.get(room=room, seq=1).pk,
        "room": room.pk,
        "seq": 1,
        "author": {"id": alice.pk, "username": "alice"},
        "body": "m1",
        "client_id": "f0",
        "created_at": first["created_at"],
        "edited_at": None,
        "deleted": False,
    }
    assert first["created_at"].endswith("Z")


def test_history_defaults_to_50_and_allows_200(api, alice, room):
    Message.objects.bulk_create(
        Message(room=room, seq=seq, author=alice, body="b", client_id=f"b{seq}")
        for seq in range(1, 211)
    )
    Room.objects.filter(pk=room.pk).update(last_seq=210)
    client = api(alice)
    assert len(client.get(f"/api/rooms/{room.pk}/messages/").json()["results"]) == 50
    assert len(client.get(f"/api/rooms/{room.pk}/messages/?limit=200").json()["results"]) == 200


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("before=x", "before"),
        ("before=-1", "before"),
        ("after=1.5", "after"),
        (f"after={2**64}", "after"),
        ("before=5&after=1", "non_field_errors"),
    ],
)
def test_bad_history_parameters_are_400(api, alice, room, query, field):
    response = api(alice).get(f"/api/rooms/{room.pk}/messages/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_a_deleted_message_keeps_its_place_in_history_without_its_body(api, alice, room):
    fill(room, alice, 2)
    services.message_delete(user=alice, message_id=Message.objects.get(seq=1).pk)
    first, second = api(alice).get(f"/api/rooms/{room.pk}/messages/").json()["results"]
    assert (first["seq"], first["body"], first["deleted"]) == (1, "", True)
    assert (second["body"], second["deleted"]) == ("m2", False)


# --- sending ------------------------------------------------------------------


def test_a_send_is_201_then_200_for_the_same_client_id_with_one_row(api, alice, room):
    sent = []
    signals.message_sent.connect(
        lambda **kw: sent.append(kw["message"].pk), weak=False, dispatch_uid="test-api-sent"
    )
    try:
        with TestCase.captureOnCommitCallbacks(execute=True):
            first = send(api(alice), room.pk, "hello", "c-1")
        with TestCase.captureOnCommitCallbacks(execute=True):
            again = send(api(alice), room.pk, "hello again?", "c-1")
    finally:
        signals.message_sent.disconnect(dispatch_uid="test-api-sent")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["body"] == "hello" and first.json()["seq"] == 1
    assert Message.objects.count() == 1
    assert sent == [first.json()["id"]]


def test_the_body_is_stored_as_sent(api, alice, room):
    body = "  <b>not html</b>\n"
    assert send(api(alice), room.pk, body, "c-html").json()["body"] == body


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"body": "", "client_id": "c"}, "body"),
        ({"body": "   ", "client_id": "c"}, "'body' must not be empty."),
        ({"body": "x" * 4001, "client_id": "c"}, "'body' is longer than 4000 characters."),
        ({"body": 5, "client_id": "c"}, "body"),
        ({"body": None, "client_id": "c"}, "body"),
        ({"body": "hi"}, "client_id"),
        ({"body": "hi", "client_id": ""}, "client_id"),
        ({"body": "hi", "client_id": "c" * 65}, "client_id"),
        ({"body": "hi", "client_id": 12}, "client_id"),
        ({"body": "a\x00b", "client_id": "c"}, "body"),
    ],
)
def test_a_bad_send_is_400_and_stores_nothing(api, alice, room, payload, expected):
    response = api(alice).post(f"/api/rooms/{room.pk}/messages/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert expected in body or body.get("detail") == expected
    assert not Message.objects.exists()
    assert Room.objects.get(pk=room.pk).last_seq == 0


@pytest.mark.parametrize(
    "text, content_type, status",
    [
        ("{not json", "application/json", 400),
        ('{"body": "hi", "client_id": NaN}', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"just a string"', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        ("[" * 10_000 + "]" * 10_000, "application/json", 400),
        ('{"body": "hi", "client_id": 1' + "0" * 5000 + "}", "application/json", 400),
        ("body=hi&client_id=c", "application/x-www-form-urlencoded", 415),
        ("hi", "text/plain", 415),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(api, alice, room, text, content_type, status):
    response = raw(api(alice), "POST", f"/api/rooms/{room.pk}/messages/", text, content_type)
    assert response.status_code == status
    assert response.json()
    assert not Message.objects.exists()


def test_an_over_long_request_body_is_413(api, alice, room):
    text = json.dumps({"body": "x" * 70_000, "client_id": "big"})
    response = raw(api(alice), "POST", f"/api/rooms/{room.pk}/messages/", text)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 65536 bytes."}
    assert not Message.objects.exists()


def test_unknown_fields_in_a_body_are_ignored(api, alice, room):
    response = api(alice).post(
        f"/api/rooms/{room.pk}/messages/",
        {"body": "hi", "client_id": "c-x", "seq": 99, "author": 1},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["seq"] == 1 and response.json()["author"]["id"] == alice.pk


def test_outsiders_get_404_for_a_rooms_messages(api, alice, carol, room):
    fill(room, alice, 1)
    client = api(carol)
    for response in (
        client.get(f"/api/rooms/{room.pk}/messages/"),
        send(client, room.pk, "let me in", "c-out"),
        send(client, 999999, "nowhere", "c-out"),
        client.post(f"/api/rooms/{room.pk}/read/", {"seq": 1}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "detail": "No such room, or you are not a member of it.",
            "code": "not_member",
        }
    assert Message.objects.count() == 1


def test_a_muted_member_gets_403_on_send(api, make_user, alice, bob, room):
    services.membership_mute(
        actor=make_user("mod", is_staff=True), room_id=room.pk, user_id=bob.pk, muted=True
    )
    response = send(api(bob), room.pk, "hi", "c-m")
    assert response.status_code == 403
    assert response.json()["code"] == "muted"


# --- edit, delete, report -----------------------------------------------------


@pytest.fixture
def message(alice, room):
    message, _ = services.message_send(user=alice, room_id=room.pk, body="first", client_id="c")
    return message


def test_the_author_edits_a_message(api, alice, message):
    response = api(alice).patch(f"/api/messages/{message.pk}/", {"body": "fixed"}, format="json")
    assert response.status_code == 200
    assert response.json()["body"] == "fixed" and response.json()["edited_at"].endswith("Z")
    assert Message.objects.get(pk=message.pk).body == "fixed"


def test_nobody_edits_another_persons_message(api, make_user, bob, carol, message):
    moderator = make_user("mod", is_staff=True)
    for user, status in ((bob, 403), (moderator, 403), (carol, 404)):
        response = api(user).patch(f"/api/messages/{message.pk}/", {"body": "mine"}, format="json")
        assert response.status_code == status
    assert Message.objects.get(pk=message.pk).body == "first"


@pytest.mark.parametrize("body", [{}, {"body": ""}, {"body": 1}, {"body": "x" * 4001}])
def test_a_bad_edit_is_400_and_changes_nothing(api, alice, message, body):
    response = api(alice).patch(f"/api/messages/{message.pk}/", body, format="json")
    assert response.status_code == 400
    assert Message.objects.get(pk=message.pk).edited_at is None


def test_a_deleted_message_cannot_be_edited(api, alice, message):
    api(alice).delete(f"/api/messages/{message.pk}/")
    response = api(alice).patch(f"/api/messages/{message.pk}/", {"body": "back"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_the_author_deletes_a_message_softly(api, alice, message):
    response = api(alice).delete(f"/api/messages/{message.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["seq"], body["body"], body["deleted"]) == (message.pk, 1, "", True)
    assert Message.objects.get(pk=message.pk).deleted_at is not None


def test_another_member_cannot_delete_but_a_moderator_can(api, make_user, bob, message):
    assert api(bob).delete(f"/api/messages/{message.pk}/").status_code == 403
    moderator = make_user("mod")
    moderator.groups.add(Group.objects.get_or_create(name="moderators")[0])
    response = api(moderator).delete(f"/api/messages/{message.pk}/")
    assert response.status_code == 200 and response.json()["deleted"] is True


def test_a_staff_user_is_a_moderator(api, make_user, message):
    response = api(make_user("staff", is_staff=True)).delete(f"/api/messages/{message.pk}/")
    assert response.status_code == 200


def test_messages_outside_ones_rooms_are_404(api, carol, message):
    client = api(carol)
    for response in (
        client.patch(f"/api/messages/{message.pk}/", {"body": "x"}, format="json"),
        client.delete(f"/api/messages/{message.pk}/"),
        client.post(f"/api/messages/{message.pk}/report/", {"reason": "x"}, format="json"),
        client.delete("/api/messages/999999/"),
        client.delete(f"/api/messages/{2**64}/"),
    ):
        assert response.status_code == 404
    assert not Report.objects.exists()


def test_a_member_reports_a_message_for_moderation(api, bob, message):
    response = api(bob).post(
        f"/api/messages/{message.pk}/report/", {"reason": "spam"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["message"] == message.pk and response.json()["reason"] == "spam"
    report = Report.objects.get()
    assert (report.reporter, report.reason, report.resolved_at) == (bob, "spam", None)


def test_reporting_again_returns_the_open_report_with_200(api, bob, message):
    first = api(bob).post(f"/api/messages/{message.pk}/report/", {"reason": "spam"}, format="json")
    again = api(bob).post(f"/api/messages/{message.pk}/report/", {"reason": "rude"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Report.objects.get().reason == "spam"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": 3}, {"reason": "x" * 501}])
def test_a_report_needs_a_reason(api, bob, message, body):
    response = api(bob).post(f"/api/messages/{message.pk}/report/", body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    assert not Report.objects.exists()


# --- read markers -------------------------------------------------------------


def test_the_read_marker_only_moves_forward(api, alice, bob, room):
    fill(room, alice, 5)
    client = api(bob)
    path = f"/api/rooms/{room.pk}/read/"
    moved = client.post(path, {"seq": 3}, format="json")
    assert moved.status_code == 200
    assert (moved.json()["last_read_seq"], moved.json()["unread"]) == (3, 2)
    assert client.post(path, {"seq": 1}, format="json").json()["last_read_seq"] == 3
    assert client.post(path, {"seq": 99}, format="json").json()["last_read_seq"] == 5
    assert Membership.objects.get(room=room, user=bob).last_read_seq == 5


@pytest.mark.parametrize("body", [{}, {"seq": "3"}, {"seq": -1}, {"seq": 1.5}, {"seq": True}])
def test_a_bad_read_marker_is_400(api, bob, room, body):
    response = api(bob).post(f"/api/rooms/{room.pk}/read/", body, format="json")
    assert response.status_code == 400
    assert "seq" in response.json()


# --- schema and docs ----------------------------------------------------------


def test_the_schema_documents_every_endpoint_and_its_errors(api):
    response = api().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    expected = {
        "/api/auth/token/": {"post"},
        "/api/me/": {"get"},
        "/api/rooms/": {"get", "post"},
        "/api/rooms/direct/": {"post"},
        "/api/rooms/{room_id}/": {"get"},
        "/api/rooms/{room_id}/members/": {"post"},
        "/api/rooms/{room_id}/members/{user_id}/": {"delete"},
        "/api/rooms/{room_id}/messages/": {"get", "post"},
        "/api/rooms/{room_id}/read/": {"post"},
        "/api/messages/{message_id}/": {"patch", "delete"},
        "/api/messages/{message_id}/report/": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) >= methods, path
        for method in methods:
            responses = paths[path][method]["responses"]
            assert any(code.startswith("2") for code in responses), (path, method)
            assert any(code.startswith("4") for code in responses), (path, method)
    send_op = paths["/api/rooms/{room_id}/messages/"]["post"]
    assert {"200", "201", "400", "404", "429"} <= set(send_op["responses"])


def test_the_browsable_docs_page_is_served_with_local_assets(api):
    response = api().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page and "/api/schema/" in page
    assert "cdn.jsdelivr" not in page

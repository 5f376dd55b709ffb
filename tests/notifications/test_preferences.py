"""Notification preferences: GET/PATCH /api/me/notifications/, the settings page, the admin."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat import services as chat
from notifications.models import NotificationPreference

URL = "/api/me/notifications/"


@pytest.fixture
def api(alice):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=alice)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_a_new_user_sees_the_defaults(api):
    response = api.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "push": True,
        "email": True,
        "email_delay_seconds": 120,
        "muted_rooms": [],
    }


def test_patch_changes_only_the_given_fields_and_returns_them_all(api, room):
    response = api.patch(URL, {"email": False, "muted_rooms": [room.pk]}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "push": True,
        "email": False,
        "email_delay_seconds": 120,
        "muted_rooms": [room.pk],
    }
    api.patch(URL, {"email_delay_seconds": 0, "push": False}, format="json")
    assert api.get(URL).json() == {
        "push": False,
        "email": False,
        "email_delay_seconds": 0,
        "muted_rooms": [room.pk],
    }
    assert api.patch(URL, {"muted_rooms": []}, format="json").json()["muted_rooms"] == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({"push": "maybe"}, "push"),
        ({"push": "true"}, "push"),
        ({"email": 1}, "email"),
        ({"email": None}, "email"),
        ({"email_delay_seconds": -5}, "email_delay_seconds"),
        ({"email_delay_seconds": 86401}, "email_delay_seconds"),
        ({"email_delay_seconds": "60"}, "email_delay_seconds"),
        ({"email_delay_seconds": True}, "email_delay_seconds"),
        ({"email_delay_seconds": 1.5}, "email_delay_seconds"),
        ({"muted_rooms": 3}, "muted_rooms"),
        ({"muted_rooms": ["3"]}, "muted_rooms"),
        ({"muted_rooms": [True]}, "muted_rooms"),
        ({"muted_rooms": [2**64]}, "muted_rooms"),
        ({"muted_rooms": [0]}, "muted_rooms"),
        ({"sms": True}, "sms"),
    ],
)
def test_a_wrong_value_is_a_400_naming_the_field_and_changes_nothing(api, body, field):
    response = api.patch(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert api.get(URL).json()["email_delay_seconds"] == 120


def test_the_bounds_of_the_delay_are_accepted(api):
    assert api.patch(URL, {"email_delay_seconds": 0}, format="json").status_code == 200
    response = api.patch(URL, {"email_delay_seconds": 86400}, format="json")
    assert response.json()["email_delay_seconds"] == 86400


def test_muting_a_room_one_is_not_in_or_that_does_not_exist_is_a_400(api, bob, carol, room):
    foreign = chat.room_create(owner=bob, name="bob's", member_ids=[carol.pk])
    for rooms in ([foreign.pk], [room.pk, 999999]):
        response = api.patch(URL, {"muted_rooms": rooms}, format="json")
        assert response.status_code == 400
        assert "muted_rooms" in response.json()
    assert api.get(URL).json()["muted_rooms"] == []


def test_a_body_that_is_not_an_object_is_a_400(api):
    assert api.patch(URL, [1, 2], format="json").status_code == 400
    response = api.generic("PATCH", URL, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_a_room_the_user_left_drops_out_of_muted_rooms(api, alice, bob, room):
    other = chat.room_create(owner=bob, name="other", member_ids=[alice.pk])
    api.patch(URL, {"muted_rooms": [room.pk, other.pk]}, format="json")
    chat.membership_remove(actor=alice, room_id=other.pk, user_id=alice.pk)
    assert api.get(URL).json()["muted_rooms"] == [room.pk]


def test_anonymous_callers_are_refused(db):
    client = APIClient()
    assert client.get(URL).status_code in (401, 403)
    assert client.patch(URL, {"email": False}, format="json").status_code in (401, 403)


def test_the_settings_page_shows_and_saves_the_preferences(client, alice, room):
    client.force_login(alice)
    page = client.get("/notifications/settings/")
    assert page.status_code == 200
    assert b"<h1>Notifications</h1>" in page.content and b"general" in page.content
    saved = client.post(
        "/notifications/settings/",
        {"email": "on", "email_delay_seconds": "300", "muted_rooms": [str(room.pk)]},
    )
    assert saved.status_code == 200 and b"Saved." in saved.content
    api = APIClient()
    api.force_authenticate(alice)
    assert api.get(URL).json() == {
        "push": False,
        "email": True,
        "email_delay_seconds": 300,
        "muted_rooms": [room.pk],
    }


def test_the_settings_page_rejects_a_delay_out_of_range(client, alice):
    client.force_login(alice)
    response = client.post("/notifications/settings/", {"email_delay_seconds": "90000"})
    assert response.status_code == 400
    assert b"less than or equal to 86400" in response.content


def test_the_settings_page_needs_a_login(client, db):
    response = client.get("/notifications/settings/")
    assert response.status_code == 302


def test_the_admin_lists_and_edits_preferences_and_refuses_rooms_the_user_is_not_in(
    client, make_user, alice, bob, carol, room
):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/notifications/notificationpreference/add/").status_code == 200
    assert client.get("/admin/notifications/digest/").status_code == 200
    assert client.get("/admin/notifications/pendingnotification/").status_code == 200
    foreign = chat.room_create(owner=bob, name="bob's", member_ids=[])
    form = {"user": alice.pk, "push": "on", "email_delay_seconds": "60"}
    refused = client.post(
        "/admin/notifications/notificationpreference/add/", {**form, "muted_rooms": [foreign.pk]}
    )
    assert refused.status_code == 200 and b"The user is not in" in refused.content
    added = client.post(
        "/admin/notifications/notificationpreference/add/", {**form, "muted_rooms": [room.pk]}
    )
    assert added.status_code == 302
    api = APIClient()
    api.force_authenticate(alice)
    assert api.get(URL).json() == {
        "push": True,
        "email": False,
        "email_delay_seconds": 60,
        "muted_rooms": [room.pk],
    }


def test_a_patch_that_is_not_json_is_refused(api):
    response = api.patch(URL, {"email": "false"}, format="multipart")
    assert response.status_code == 415
    assert api.get(URL).json()["email"] is True


def test_the_settings_page_refuses_rooms_that_do_not_exist(client, alice, room):
    client.force_login(alice)
    for bad in ("999999", "99999999999999999999999", "x"):
        response = client.post(
            "/notifications/settings/", {"email_delay_seconds": "60", "muted_rooms": [bad]}
        )
        assert response.status_code == 400 and b'role="alert"' in response.content


@pytest.mark.parametrize("bad", ["99999999999999999999999", "-1", "x"])
def test_the_admin_refuses_ids_out_of_range_with_a_form_error(client, make_user, alice, bad):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    form = {"user": alice.pk, "push": "on", "email_delay_seconds": "60"}
    url = "/admin/notifications/notificationpreference/add/"
    for field in ({"muted_rooms": [bad]}, {"user": bad}):
        response = client.post(url, {**form, **field})
        assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not NotificationPreference.objects.exists()

"""The device registry as an app sees it: /api/devices/ and the X-Device-ID header."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from devices.models import Device
from devices.signals import device_registered

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    def build(user=None):
        client = APIClient()
        client.default_format = "json"
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return build


@pytest.fixture
def registrations():
    seen = []

    def receiver(sender, device, previous_user_id, **kwargs):
        seen.append((device.user_id, device.token, previous_user_id))

    device_registered.connect(receiver, dispatch_uid="test-registrations")
    yield seen
    device_registered.disconnect(dispatch_uid="test-registrations")


def tokens(client):
    response = client.get("/api/devices/")
    assert response.status_code == 200
    return [d["token"] for d in response.json()]


def test_registering_twice_keeps_one_device(api, alice, django_capture_on_commit_callbacks):
    client = api(alice)
    first = client.post(
        "/api/devices/", {"platform": "android", "token": "fcm-1", "device_id": "pixel"}
    )
    again = client.post("/api/devices/", {"platform": "android", "token": "fcm-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["device_id"] == "pixel"  # not erased by a registration without it
    assert tokens(client) == ["fcm-1"]


def test_a_token_registered_by_another_user_moves_to_them(
    api, alice, bob, registrations, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api(alice).post("/api/devices/", {"platform": "ios", "token": "shared-phone"})
        moved = api(bob).post("/api/devices/", {"platform": "ios", "token": "shared-phone"})
    assert moved.status_code == 201
    assert tokens(api(alice)) == []
    assert tokens(api(bob)) == ["shared-phone"]
    assert registrations == [(alice.pk, "shared-phone", None), (bob.pk, "shared-phone", alice.pk)]


def test_unregistering_removes_the_device_and_only_the_owner_can(api, alice, bob):
    api(alice).post("/api/devices/", {"platform": "android", "token": "fcm-bye"})
    assert api(bob).delete("/api/devices/fcm-bye/").status_code == 404
    assert api(alice).delete("/api/devices/fcm-bye/").status_code == 204
    assert tokens(api(alice)) == []
    assert api(alice).delete("/api/devices/fcm-bye/").status_code == 404
    assert api(alice).delete("/api/devices/" + "{" * 5000 + "/").status_code == 404


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"platform": "nokia", "token": "x"}, "platform"),
        ({"platform": "android"}, "token"),
        ({"platform": "android", "token": ""}, "token"),
        ({"platform": "android", "token": "a b"}, "token"),
        ({"platform": "android", "token": "x" * 2049}, "token"),
        ({"platform": "web", "token": "not json"}, "token"),
        ({"platform": "web", "token": "[" * 2000}, "token"),
        ({"platform": "web", "token": json.dumps({"endpoint": "https://evil.test/x"})}, "token"),
    ],
)
def test_bad_registrations_get_a_400_naming_the_field(api, alice, payload, field):
    response = api(alice).post("/api/devices/", payload)
    assert response.status_code == 400
    assert field in response.json()
    assert Device.objects.count() == 0


def test_web_subscriptions_are_accepted_only_for_known_push_services(api, alice, settings):
    point = "B" + "A" * 86  # 65 bytes of base64url
    subscription = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
        "keys": {"p256dh": point, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
    }
    ok = api(alice).post("/api/devices/", {"platform": "web", "token": json.dumps(subscription)})
    assert ok.status_code == 201, ok.json()
    elsewhere = dict(subscription, endpoint="https://169.254.169.254/latest")
    refused = api(alice).post("/api/devices/", {"platform": "web", "token": json.dumps(elsewhere)})
    assert refused.status_code == 400
    # The token is stored canonically, so it can be removed in any key order.
    reordered = json.dumps({"keys": subscription["keys"], "endpoint": subscription["endpoint"]})
    assert api(alice).delete(f"/api/devices/{reordered}/").status_code == 204


def test_the_device_list_needs_authentication(api):
    assert api().get("/api/devices/").status_code in (401, 403)
    assert api().post("/api/devices/", {"platform": "ios", "token": "t"}).status_code in (401, 403)


def test_any_authenticated_call_with_device_headers_registers_the_device(
    api, alice, registrations, django_capture_on_commit_callbacks
):
    client = api(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/api/devices/", HTTP_X_DEVICE_ID="apns-hdr", HTTP_X_DEVICE_PLATFORM="iOS")
        client.get("/api/devices/", HTTP_X_DEVICE_ID="apns-hdr", HTTP_X_DEVICE_PLATFORM="ios")
    assert tokens(client) == ["apns-hdr"]
    assert registrations == [(alice.pk, "apns-hdr", None)]


def test_device_headers_of_a_session_user_register_too(alice):
    browser = Client()
    browser.force_login(alice)
    browser.get("/api/devices/", HTTP_X_DEVICE_ID="fcm-session", HTTP_X_DEVICE_PLATFORM="android")
    assert Device.objects.get(token="fcm-session").user == alice


def test_device_headers_without_authentication_register_nothing(api):
    response = api().get(
        "/api/devices/", HTTP_X_DEVICE_ID="fcm-anon", HTTP_X_DEVICE_PLATFORM="android"
    )
    assert response.status_code in (401, 403)
    assert not Device.objects.exists()


def test_malformed_device_headers_are_ignored_and_the_call_still_answers(api, alice):
    response = api(alice).get(
        "/api/devices/", HTTP_X_DEVICE_ID="fcm-x", HTTP_X_DEVICE_PLATFORM="symbian"
    )
    assert response.status_code == 200
    assert not Device.objects.exists()


def test_unregistering_with_the_device_headers_does_not_re_register(api, alice):
    client = api(alice)
    client.post("/api/devices/", {"platform": "android", "token": "fcm-logout"})
    response = client.delete(
        "/api/devices/fcm-logout/",
        HTTP_X_DEVICE_ID="fcm-logout",
        HTTP_X_DEVICE_PLATFORM="android",
    )
    assert response.status_code == 204
    assert tokens(client) == []


def test_a_new_token_for_the_same_installation_replaces_the_old_one(api, alice):
    client = api(alice)
    client.post("/api/devices/", {"platform": "android", "token": "old", "device_id": "p1"})
    client.post("/api/devices/", {"platform": "android", "token": "new", "device_id": "p1"})
    assert tokens(client) == ["new"]
    assert not Device.objects.get(token="old").active


def test_admin_lists_searches_and_deactivates_devices(
    alice, bob, django_capture_on_commit_callbacks
):
    from devices import services

    phone, _ = services.device_register(user=alice, platform="android", token="fcm-admin")
    services.device_register(user=bob, platform="ios", token="apns-admin")
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-2026")
    browser = Client()
    browser.force_login(admin)
    found = browser.get("/admin/devices/device/", {"q": "alice"})
    assert found.status_code == 200
    assert b"fcm-admin" in found.content and b"apns-admin" not in found.content
    browser.post(
        "/admin/devices/device/",
        {"action": "deactivate", "_selected_action": [phone.pk]},
    )
    phone.refresh_from_db()
    assert not phone.active and "admin" in phone.deactivated_reason
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = browser.post(
            "/admin/devices/device/",
            {"action": "send_test_push", "_selected_action": [phone.pk]},
            follow=True,
        )
    assert b"Test push queued for 1 device" in response.content
    assert len(callbacks) == 1

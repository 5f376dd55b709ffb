"""Login, logout, the page's HTML and headers, the service worker and the people lookup."""

import json

import pytest
from django.test import Client

from chat import services
from chat.web import views

pytestmark = pytest.mark.django_db


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_page_sends_visitors_who_are_not_signed_in_to_the_login_page(client):
    response = client.get("/?room=3")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_signing_in_leads_to_the_page_and_signing_out_back_to_login(client, alice):
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-2026"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    # A GET cannot sign anyone out (an <img src="/logout/"> on another site).
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_a_wrong_password_shows_an_error_on_the_login_page(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content


def test_the_page_carries_its_settings_as_data_and_no_inline_script(alice):
    response = signed_in(alice).get("/")
    html = response.content.decode()
    config = json.loads(html.split('id="chat-config" type="application/json">')[1].split("<")[0])
    assert config["user"] == {"id": alice.pk, "username": "alice"}
    assert config["maxBody"] == 4000
    # Every executable script has a src; the only inline one is JSON data.
    scripts = html.split("<script")[1:]
    assert all("src=" in s or 'type="application/json"' in s for s in scripts)


@pytest.mark.parametrize("path", ["/", "/login/", "/admin/login/"])
def test_html_pages_forbid_inline_script_and_allow_the_same_hosts_websocket(alice, path):
    response = signed_in(alice).get(path, HTTP_HOST="localhost")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "connect-src 'self' ws://localhost wss://localhost;" in policy
    assert "frame-ancestors 'none'" in policy


def test_the_service_worker_is_served_from_the_root_as_javascript(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert b"notificationclick" in b"".join(response.streaming_content)


def test_the_push_button_is_hidden_until_a_vapid_key_is_configured(alice, settings):
    settings.PUSH_VAPID_PUBLIC_KEY = ""
    settings.PUSH_VAPID_PRIVATE_KEY = ""
    assert views.push_public_key() == ""
    settings.PUSH_VAPID_PUBLIC_KEY = "BExampleKey"
    html = signed_in(alice).get("/").content.decode()
    assert '"vapidPublicKey": "BExampleKey"' in html


def test_the_public_key_is_derived_from_the_private_key_when_only_that_is_set(settings, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "vapid.pem"
    key_file.write_text(pem)
    settings.PUSH_VAPID_PUBLIC_KEY = ""
    settings.PUSH_VAPID_PRIVATE_KEY = str(key_file)
    public = views.push_public_key()
    # An uncompressed P-256 point: 65 bytes, 87 base64url characters unpadded.
    assert len(public) == 87 and public.startswith("B")


def test_people_search_finds_active_users_by_prefix_but_not_oneself(alice, bob, carol):
    carol.is_active = False
    carol.save()
    client = signed_in(alice)
    assert client.get("/people/?q=b").json() == {"results": [{"id": bob.pk, "username": "bob"}]}
    assert [p["username"] for p in client.get("/people/").json()["results"]] == ["bob"]


def test_room_members_come_with_presence_and_read_markers_for_members_only(alice, bob, carol, room):
    message, _ = services.message_send(user=bob, room_id=room.pk, body="hi", client_id="c1")
    members = signed_in(alice).get(f"/people/?room={room.pk}").json()["results"]
    assert members == [
        {"id": alice.pk, "username": "alice", "online": False, "last_read_seq": 0},
        {"id": bob.pk, "username": "bob", "online": False, "last_read_seq": 1},
    ]
    assert signed_in(carol).get(f"/people/?room={room.pk}").status_code == 404
    assert signed_in(carol).get("/people/?room=999999").status_code == 404


@pytest.mark.parametrize(
    "query", ["room=abc", "room=-1", "room=99999999999999999999", "q=" + "x" * 151]
)
def test_bad_people_queries_get_a_400(alice, query):
    response = signed_in(alice).get(f"/people/?{query}")
    assert response.status_code == 400 and "detail" in response.json()


def test_people_is_not_for_anonymous_visitors(client):
    response = client.get("/people/?q=a")
    assert response.status_code == 403


def test_presence_is_told_only_for_people_who_share_a_room(alice, bob, carol, room):
    response = signed_in(alice).get(f"/people/?ids={bob.pk},{carol.pk}")
    assert response.json() == {"results": [{"id": bob.pk, "username": "bob", "online": False}]}
    assert signed_in(alice).get("/people/?ids=1,x").status_code == 400

"""The chat page in headless Chromium against a live daphne: what people see."""

import json
import re
import time

import pytest

from tests.web.conftest import SCREENSHOTS, ChatPage, create_people


def two_users(stack):
    (alice, bob), room = create_people(stack, "alice", "bob", room="general")
    return alice, bob, room


def count_of(chat, text):
    return chat.bodies().count(text)


@pytest.mark.parametrize("db,layer", [("sqlite", "memory"), ("postgres", "redis")])
def test_two_people_chat_live_with_typing_read_markers_edits_and_deletes(site, browser, db, layer):
    stack, node = site(db=db, layer=layer)
    alice, bob, _ = two_users(stack)
    a = ChatPage.login(browser(), node.base_url, alice)
    b = ChatPage.login(browser(), node.base_url, bob)
    a.open_room("general")
    b.open_room("general")

    # Presence: each sees the other online.
    a.page.wait_for_selector('#room-meta:has-text("2 online")')

    # Typing indicator.
    b.page.type("#composer-input", "hel")
    a.page.wait_for_selector('#typing:has-text("bob is typing")')
    b.page.fill("#composer-input", "")

    # A send shows up once on both pages, and is not pending once acked.
    a.send("Hello bob")
    b.wait_for_body("Hello bob")
    a.wait_for_body("Hello bob")
    a.page.wait_for_selector("#message-list li.pending", state="detached")
    assert count_of(a, "Hello bob") == 1 and count_of(b, "Hello bob") == 1

    # Bob's page is open on the room, so he has read it: Alice sees the marker.
    a.page.wait_for_selector('.read-by:has-text("Seen by bob")')

    # Alice edits her last message with the Up arrow, then deletes it.
    a.page.focus("#composer-input")
    a.page.keyboard.press("ArrowUp")
    a.page.fill(".edit-box", "Hello bob, how are you?")
    a.page.press(".edit-box", "Enter")
    b.wait_for_body("Hello bob, how are you?")
    b.page.wait_for_selector('#message-list li[data-seq="1"] .edited')

    a.page.hover('#message-list li[data-seq="1"]')
    a.page.click('#message-list li[data-seq="1"] button:has-text("Delete")')
    a.page.click('#message-list li[data-seq="1"] button:has-text("Really delete?")')
    b.wait_for_body("This message was deleted.")
    assert "how are you" not in " ".join(b.bodies())
    assert not a.errors and not b.errors


def test_an_unread_badge_counts_messages_in_rooms_not_open(site, browser):
    stack, node = site()
    alice, bob, _ = two_users(stack)
    stack.create_room("random", bob, [alice])
    a = ChatPage.login(browser(), node.base_url, alice)
    b = ChatPage.login(browser(), node.base_url, bob)
    a.open_room("general")
    b.open_room("random")
    b.send("one")
    b.send("two")
    badge = a.page.locator('.room-item:has-text("random") .badge')
    badge.wait_for()
    a.page.wait_for_function(
        "() => document.querySelector('.room-item .badge')?.textContent === '2'"
    )
    a.open_room("random")
    badge.wait_for(state="detached")
    assert a.bodies() == ["one", "two"]


def test_a_message_sent_while_offline_appears_exactly_once_after_reconnect(site, browser):
    stack, node = site()
    alice, bob, _ = two_users(stack)
    alice_context = browser()
    a = ChatPage.login(alice_context, node.base_url, alice)
    b = ChatPage.login(browser(), node.base_url, bob)
    a.open_room("general")
    b.open_room("general")
    b.send("before")
    a.wait_for_body("before")

    alice_context.set_offline(True)
    a.page.wait_for_selector('#conn-banner:not([hidden]):has-text("offline")')
    b.send("while you were away")
    # Alice also writes while offline: her message waits as pending.
    a.send("typed offline")
    a.page.wait_for_selector('#message-list li.pending:has-text("typed offline")')
    time.sleep(1)
    assert "while you were away" not in a.bodies()

    alice_context.set_offline(False)
    a.wait_for_body("while you were away")
    b.wait_for_body("typed offline")
    a.page.wait_for_selector("#message-list li.pending", state="detached")
    a.page.wait_for_selector("#conn-banner", state="hidden")
    time.sleep(0.5)
    assert a.bodies() == ["before", "while you were away", "typed offline"]
    assert b.bodies() == ["before", "while you were away", "typed offline"]


def test_messages_sent_while_the_server_was_down_appear_once_when_it_is_back(site, browser):
    stack, node = site()
    alice, bob, room = two_users(stack)
    a = ChatPage.login(browser(), node.base_url, alice)
    a.open_room("general")
    a.send("first")
    a.wait_for_body("first")

    node.kill()
    a.page.wait_for_selector('#conn-banner:not([hidden]):has-text("Reconnecting")')
    # Bob writes through another path while Alice's server is gone.
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat import services\n"
        f"bob = get_user_model().objects.get(pk={bob['id']})\n"
        "for i in range(3):\n"
        f"    services.message_send(user=bob, room_id={room}, body=f'missed {{i}}',"
        " client_id=f'offline-{i}')\n"
        "print(json.dumps(True))"
    )
    stack.start_daphne(port=node.port)
    a.wait_for_body("missed 2", timeout=40_000)
    a.page.wait_for_selector("#conn-banner", state="hidden")
    time.sleep(0.5)
    assert a.bodies() == ["first", "missed 0", "missed 1", "missed 2"]


def test_a_script_payload_is_shown_as_text_and_never_runs(site, browser):
    stack, node = site()
    alice, bob, _ = two_users(stack)
    a = ChatPage.login(browser(), node.base_url, alice)
    b = ChatPage.login(browser(), node.base_url, bob)
    a.open_room("general")
    b.open_room("general")
    payloads = [
        '<img src=x onerror="window.__xss=1">',
        "<script>window.__xss=2</script>",
        '"><svg onload=window.__xss=3>',
    ]
    for payload in payloads:
        b.send(payload)
    a.wait_for_body(payloads[-1])
    assert a.bodies() == payloads
    assert a.page.evaluate("() => window.__xss") is None
    assert a.page.locator("#message-list img, #message-list script, #message-list svg").count() == 0
    assert not a.errors


def test_a_moderators_deletion_in_the_admin_disappears_from_the_page_live(site, browser):
    stack, node = site()
    (alice, bob, moderator), _ = create_people(
        stack, "alice", "bob", "mod", room="general", staff=["mod"]
    )
    a = ChatPage.login(browser(), node.base_url, alice)
    b = ChatPage.login(browser(), node.base_url, bob)
    a.open_room("general")
    b.open_room("general")
    a.send("a perfectly fine message")
    b.send("buy cheap pills at spam.example")
    a.wait_for_body("buy cheap pills")

    # Alice reports it from the page.
    a.page.hover('#message-list li[data-seq="2"]')
    a.page.click('#message-list li[data-seq="2"] button:has-text("Report")')
    a.page.fill("#report-reason", "Spam")
    a.page.click('#report-form button:has-text("Send report")')
    a.page.wait_for_selector('#typing:has-text("A moderator will look at it")')

    # The moderator works the reports queue in the admin.
    admin = browser(viewport={"width": 1360, "height": 720}).new_page()
    blocked = []
    admin.on(
        "console", lambda msg: blocked.append(msg.text) if "Content Security" in msg.text else None
    )
    admin.goto(f"{node.base_url}/admin/login/?next=/admin/chat/report/")
    admin.fill("#id_username", "mod")
    admin.fill("#id_password", moderator["password"])
    admin.click("input[type=submit]")
    admin.wait_for_selector("#result_list")
    assert "buy cheap pills" in admin.locator("#result_list").inner_text()
    admin.screenshot(path=str(SCREENSHOTS / "admin-moderation.png"))
    admin.check("#result_list tbody input.action-select")
    admin.select_option("select[name=action]", "delete_and_resolve")
    admin.click("button[name=index]")
    admin.wait_for_selector(".messagelist .success")

    for page in (a, b):
        page.wait_for_body("This message was deleted.")
        assert "buy cheap pills at spam.example" not in page.bodies()
        assert "a perfectly fine message" in page.bodies()

    # The audit log shows who did it.
    admin.goto(f"{node.base_url}/admin/chat/moderationaction/")
    log = admin.locator("#result_list").inner_text()
    assert "Deleted a message" in log and "Resolved a report" in log and "mod" in log
    # The admin runs under the same policy without inline script, and nothing is blocked.
    assert not blocked


def test_the_page_is_usable_on_a_phone_sized_screen_by_keyboard(site, browser):
    stack, node = site()
    alice, bob, _ = two_users(stack)
    phone = browser(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)
    a = ChatPage.login(phone, node.base_url, alice)
    # On a phone the room list comes first; a room fills the screen.
    assert a.page.locator(".sidebar").is_visible()
    assert not a.page.locator("#composer").is_visible()
    a.open_room("general")
    assert a.page.locator("#composer").is_visible()
    assert not a.page.locator(".sidebar").is_visible()
    a.page.keyboard.type("typed with the keyboard")
    a.page.keyboard.press("Enter")
    a.wait_for_body("typed with the keyboard")
    # A tap on the message, then on Edit, edits it: no mouse and no hover needed.
    a.page.tap('#message-list li[data-seq="1"] .body')
    a.page.tap('#message-list li[data-seq="1"] button:has-text("Edit")')
    a.page.fill(".edit-box", "edited on a phone")
    a.page.press(".edit-box", "Enter")
    a.wait_for_body("edited on a phone")
    a.page.click("#back-button")
    assert a.page.locator(".sidebar").is_visible()
    assert not a.errors


def test_screenshots_of_the_chat_page_on_a_desktop_and_a_phone(site, browser):
    stack, node = site()
    (alice, bob, carol), general = create_people(stack, "alice", "bob", "carol", room="general")
    conversation = [
        ("alice", "Morning! The release branch is cut, QA starts at 10."),
        ("bob", "Great. I'm still chasing the flaky upload test."),
        ("bob", "It only fails when two uploads share a name, so probably the temp file."),
        ("carol", "I saw that too on Friday. Happy to pair on it after standup?"),
        ("alice", "Yes please. Ping me if it blocks the release."),
        ("carol", "<b>Note:</b> staging DB restarts at 13:00 UTC, expect ~2 minutes of errors."),
        ("bob", "Found it: both uploads wrote to /tmp/upload.part. Fix is up for review."),
    ]
    lines = [
        "import json",
        "from django.contrib.auth import get_user_model",
        "from chat import services",
        "U = {u.username: u for u in get_user_model().objects.all()}",
        "design = services.room_create(owner=U['bob'], name='design', member_ids=[U['alice'].pk])",
        "services.room_create(owner=U['carol'], name='random', member_ids=[U['alice'].pk])",
        "services.room_direct(user=U['alice'], other_id=U['carol'].pk)",
    ]
    for i, (who, text) in enumerate(conversation):
        lines.append(
            f"services.message_send(user=U[{who!r}], room_id={general}, body={text!r}, "
            f"client_id='seed-{i}')"
        )
    for i, text in enumerate(["New mockups are in the folder", "Thoughts on the blue?"]):
        lines.append(
            f"services.message_send(user=U['bob'], room_id=design.pk, body={text!r}, "
            f"client_id='design-{i}')"
        )
    lines.append("print(json.dumps(True))")
    stack.shell("\n".join(lines))

    # Bob's page opens general (his first room) and so marks it read.
    ChatPage.login(browser(), node.base_url, bob)
    c = ChatPage.login(browser(), node.base_url, carol)
    a = ChatPage.login(browser(), node.base_url, alice, path=f"/?room={general}")
    a.wait_for_body("Found it")
    a.page.wait_for_selector('.read-by:has-text("Seen by")')
    c.open_room("general")
    c.page.type("#composer-input", "On it")
    a.page.wait_for_selector('#typing:has-text("carol is typing")')
    a.page.fill("#composer-input", "Nice catch, merging once CI is green!")
    a.page.screenshot(path=str(SCREENSHOTS / "chat.png"))

    phone = browser(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)
    p = ChatPage.login(phone, node.base_url, alice, path=f"/?room={general}")
    p.wait_for_body("Found it")
    p.page.screenshot(path=str(SCREENSHOTS / "chat-phone.png"))
    assert not a.errors and not p.errors


def test_a_frame_lost_in_transit_is_repaired_from_the_seq_gap(site, browser):
    stack, node = site()
    alice, bob, _ = two_users(stack)
    alice_context = browser()
    dropped = []

    def lossy_proxy(ws):
        # Sits between Alice's page and daphne and loses one message.new.
        server = ws.connect_to_server()

        def from_server(text):
            frame = json.loads(text)
            lost = frame.get("type") == "message.new" and frame["message"]["body"] == "lost"
            if lost and not dropped:
                dropped.append(frame["message"]["seq"])
                return
            ws.send(text)

        server.on_message(from_server)
        ws.on_message(server.send)

    alice_context.route_web_socket("**/ws/chat/", lossy_proxy)
    a = ChatPage.login(alice_context, node.base_url, alice)
    b = ChatPage.login(browser(), node.base_url, bob)
    a.open_room("general")
    b.open_room("general")
    b.send("lost")
    b.wait_for_body("lost")
    b.send("after the gap")
    a.wait_for_body("after the gap")
    a.wait_for_body("lost")
    time.sleep(0.5)
    assert dropped == [1]
    assert a.bodies() == ["lost", "after the gap"]


def test_notification_preferences_are_edited_from_the_page(site, browser):
    stack, node = site()
    alice, bob, room = two_users(stack)
    a = ChatPage.login(browser(), node.base_url, alice)
    a.page.click("#settings-button")
    a.page.wait_for_selector('#pref-rooms label:has-text("general")')
    a.page.uncheck("#pref-email")
    a.page.select_option("#pref-delay", "600")
    a.page.check('#pref-rooms label:has-text("general") input')
    a.page.click('#settings-form button:has-text("Save")')
    a.page.wait_for_selector("#settings-dialog", state="hidden")
    prefs = a.page.evaluate("() => fetch('/api/me/notifications/').then((r) => r.json())")
    assert prefs["email"] is False and prefs["push"] is True
    assert prefs["email_delay_seconds"] == 600 and prefs["muted_rooms"] == [room]
    # Web Push is not configured on this stack: the page offers no button for it.
    a.page.click("#settings-button")
    assert a.page.locator("#webpush").is_hidden()


# The browser's push service (FCM for Chromium) is out of reach from a test
# machine, and headless contexts refuse the Push API outright, so this test
# hands the page the PushSubscription a browser would return. Everything
# after that is real: the service worker at /sw.js, POST /api/devices/, and
# the DELETE on sign-out.
FAKE_PUSH = """
(() => {
  let current = null;
  const subscription = (keys) => ({
    endpoint: "https://fcm.googleapis.com/fcm/send/test-endpoint",
    expirationTime: null,
    toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys }; },
    unsubscribe() { current = null; return Promise.resolve(true); },
  });
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
  PushManager.prototype.subscribe = function () {
    current = subscription(window.__pushKeys);
    return Promise.resolve(current);
  };
})();
"""


def test_allowing_notifications_registers_this_browser_as_a_web_device(site, browser, tmp_path):
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    pem = tmp_path / "vapid.pem"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    browser_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    keys = {
        "p256dh": b64(
            browser_key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        ),
        "auth": b64(b"0123456789abcdef"),
    }
    stack, node = site(env={"PUSH_VAPID_PRIVATE_KEY": str(pem)})
    alice, bob, room = two_users(stack)
    context = browser()
    context.grant_permissions(["notifications"], origin=node.base_url)
    context.add_init_script(f"window.__pushKeys = {json.dumps(keys)};" + FAKE_PUSH)
    a = ChatPage.login(context, node.base_url, alice)
    a.page.click("#settings-button")
    a.page.click("#webpush-button")
    a.page.wait_for_selector('#settings-status:has-text("Browser notifications are on")')
    scope = a.page.evaluate(
        "() => navigator.serviceWorker.getRegistration('/').then((r) => r && r.scope)"
    )
    assert scope == f"{node.base_url}/"
    devices = """
import json
from devices.models import Device
print(json.dumps([[d.platform, d.user.username, json.loads(d.token)['endpoint']]
                  for d in Device.objects.filter(active=True)]))
"""
    assert stack.shell(devices) == [
        ["web", "alice", "https://fcm.googleapis.com/fcm/send/test-endpoint"]
    ]
    # Signing out unregisters the browser: no pushes for a signed-out person.
    a.page.keyboard.press("Escape")
    a.page.click('#logout-form button:has-text("Sign out")')
    a.page.wait_for_url("**/login/")
    assert stack.shell(devices) == []


def test_starting_a_direct_chat_and_creating_a_room_reach_the_other_person_at_once(site, browser):
    stack, node = site()
    alice, bob, _ = two_users(stack)
    a = ChatPage.login(browser(), node.base_url, alice)
    b = ChatPage.login(browser(), node.base_url, bob)

    a.page.click("#new-direct-button")
    a.page.fill("#direct-search", "bo")
    a.page.wait_for_selector('#direct-people button:has-text("bob")')
    a.page.press("#direct-search", "Enter")
    a.page.wait_for_selector('#room-title:text-is("bob")')
    a.send("just between us")
    a.wait_for_body("just between us")
    direct = b.page.locator('#direct-list .room-item:has-text("alice")')
    direct.locator(".badge").wait_for()
    assert direct.locator(".badge").inner_text() == "1"

    a.page.click("#new-room-button")
    a.page.fill("#new-room-name", "plans")
    a.page.wait_for_selector('#new-room-people label:has-text("bob")')
    a.page.check('#new-room-people label:has-text("bob") input')
    a.page.click('#new-room-form button:has-text("Create room")')
    a.page.wait_for_selector('#room-title:text-is("# plans")')
    b.page.wait_for_selector('#group-list .room-item:has-text("plans")')
    assert not a.errors and not b.errors


def test_a_message_acked_while_the_rooms_history_loads_is_shown(site, browser):
    # The race CI caught: the history page is read before the message is
    # stored, and reaches the page after the message's ack.
    stack, node = site()
    alice, _, room = two_users(stack)
    held = []

    def hold(route):
        held.append((route, route.fetch()))

    context = browser()
    history = re.compile(r"/api/rooms/\d+/messages/")
    context.route(history, hold)
    a = ChatPage.login(context, node.base_url, alice, path=f"/?room={room}")
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        a.page.wait_for_timeout(50)
    assert held, "the page never asked for the room's history"
    a.send("sent while the history loads")
    a.page.wait_for_selector("#message-list li.pending", state="detached")  # acked
    for route, response in held:
        route.fulfill(response=response)
    context.unroute(history)

    a.wait_for_body("sent while the history loads")
    assert a.bodies() == ["sent while the history loads"] and not a.errors


def send_as(stack, user, room, bodies, prefix):
    """Messages stored through the service, as another client of the user would."""
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat import services\n"
        f"user = get_user_model().objects.get(pk={user['id']})\n"
        f"for i, body in enumerate({list(bodies)!r}):\n"
        f"    services.message_send(user=user, room_id={room}, body=body,"
        f" client_id=f'{prefix}-{{i}}')\n"
        "print(json.dumps(True))"
    )


def test_scrolling_up_loads_older_pages_until_the_beginning(site, browser):
    stack, node = site()
    alice, bob, room = two_users(stack)
    send_as(stack, bob, room, [f"message {i}" for i in range(1, 121)], "old")
    a = ChatPage.login(browser(), node.base_url, alice, path=f"/?room={room}")
    a.wait_for_body("message 120")
    assert len(a.bodies()) == 50 and a.bodies()[0] == "message 71"
    for shown in (100, 120):
        a.page.evaluate("() => { document.getElementById('messages').scrollTop = 0; }")
        a.page.wait_for_function(
            f"() => document.querySelectorAll('#message-list li[data-seq]').length === {shown}"
        )
    a.page.wait_for_selector("#history-start:not([hidden])")
    assert a.bodies() == [f"message {i}" for i in range(1, 121)]


def test_a_gap_too_large_to_resume_is_filled_over_rest(site, browser):
    stack, node = site(env={"CHAT_RESUME_LIMIT": "3"})
    alice, bob, room = two_users(stack)
    alice_context = browser()
    a = ChatPage.login(alice_context, node.base_url, alice, path=f"/?room={room}")
    a.page.wait_for_selector("#history-start:not([hidden])")
    alice_context.set_offline(True)
    a.page.wait_for_selector('#conn-banner:not([hidden]):has-text("offline")')
    # More than a page (50), so that only paging from the gap can bring them all.
    send_as(stack, bob, room, [f"missed {i}" for i in range(60)], "gap")
    alice_context.set_offline(False)
    a.page.wait_for_function(
        "() => document.querySelectorAll('#message-list li[data-seq]').length === 60"
    )
    time.sleep(0.5)
    assert a.bodies() == [f"missed {i}" for i in range(60)]

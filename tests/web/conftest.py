"""Fixtures for the browser tests: headless Chromium (Debian's package) against a live daphne.

Browser tests skip with the reason when /usr/bin/chromium is missing, and fail
instead when ``CHAT_TEST_REQUIRE_SERVICES=1`` (CI installs Chromium).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.live import REQUIRE_SERVICES

CHROMIUM = os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def chromium():
    # Per test, not per session: while Playwright's sync API is open, its event
    # loop counts as running in this thread, and Django's own database calls in
    # later tests of the same run would refuse to work.
    if not os.path.exists(CHROMIUM):
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (CHAT_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium):
    """``browser(viewport=...)`` opens a fresh context (its own cookies); closed after the test."""
    contexts = []

    def new_context(**kwargs):
        kwargs.setdefault("viewport", {"width": 1280, "height": 800})
        context = chromium.new_context(**kwargs)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context

    yield new_context
    for context in contexts:
        context.close()


_collected = []


@pytest.fixture
def site(live_stack):
    """A live stack with collected static files and one daphne; ``site(db=, layer=)``.

    Static files are collected once per session, as ``make run`` does, into the
    project's STATIC_ROOT that WhiteNoise serves with DEBUG off.
    """

    def build(**kwargs):
        stack = live_stack(**kwargs)
        if not _collected:
            stack.manage("collectstatic", "--noinput", "-v", "0")
            _collected.append(True)
        node = stack.start_daphne()
        return stack, node

    return build


def create_people(stack, *names, room=None, staff=()):
    """Users (and optionally a room owned by the first, with the rest in it) in one shell call.

    Returns ``([user, ...], room_id)``; users are dicts as from ``stack.create_user``.
    """
    code = [
        "import json",
        "from django.contrib.auth import get_user_model",
        "from django.contrib.auth.models import Group",
        "from django.conf import settings",
        "from rest_framework.authtoken.models import Token",
        "from chat import services",
        "out = {}",
        "users = []",
    ]
    for name in names:
        password = f"pw-{name}-Live-2026"
        code.append(
            f"u = get_user_model().objects.create_user({name!r}, {name + '@example.com'!r}, "
            f"{password!r}, is_staff={name in staff!r})"
        )
        if name in staff:
            code.append("u.groups.add(Group.objects.get(name=settings.CHAT_MODERATOR_GROUP))")
        code.append("users.append(u)")
        code.append(f"out[{name!r}] = {{'id': u.pk, 'token': Token.objects.create(user=u).key}}")
    if room:
        members = [n for n in names[1:] if n not in staff]
        code.append(
            f"room = services.room_create(owner=users[0], name={room!r}, "
            f"member_ids=[u.pk for u in users if u.username in {members!r}])"
        )
        code.append("out['room'] = room.pk")
    code.append("print(json.dumps(out))")
    data = stack.shell("\n".join(code))
    people = [{"username": n, "password": f"pw-{n}-Live-2026", **data[n]} for n in names]
    return people, data.get("room")


class ChatPage:
    """One signed-in user's chat page, with the waits the tests need."""

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url
        self.errors = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
        )

    @classmethod
    def login(cls, context, base_url, user, path="/"):
        page = context.new_page()
        chat = cls(page, base_url)
        page.goto(f"{base_url}/login/?next={path}")
        page.fill("#id_username", user["username"])
        page.fill("#id_password", user["password"])
        page.click("button[type=submit]")
        page.wait_for_selector('#conn-dot[data-state="online"]', state="attached")
        return chat

    def open_room(self, name):
        self.page.click(f'.room-item:has-text("{name}")')
        self.page.wait_for_selector("#history-start:not([hidden]), #load-older:not([hidden])")

    def send(self, text):
        self.page.fill("#composer-input", text)
        self.page.press("#composer-input", "Enter")

    def bodies(self):
        return self.page.locator("#message-list li[data-seq] .body").all_text_contents()

    def wait_for_body(self, text, timeout=20_000):
        try:
            self.page.locator("#message-list li[data-seq] .body", has_text=text).first.wait_for(
                timeout=timeout
            )
        except PlaywrightTimeoutError:
            raise AssertionError(f"{text!r} never shown as stored; {self.state()}") from None

    def state(self):
        """What the page shows and holds, for a failure message."""
        return self.page.evaluate(
            """() => ({
                connection: document.getElementById("conn-dot")?.dataset.state,
                title: document.getElementById("room-title")?.textContent,
                url: location.href,
                list: [...document.querySelectorAll("#message-list li")].map(
                    (li) => [li.className, li.dataset.seq, li.textContent.slice(0, 80)]),
                note: document.getElementById("typing")?.textContent,
                outbox: Object.entries(localStorage).filter(([k]) => k.includes("outbox")),
            })"""
        ) | {"errors": self.errors}

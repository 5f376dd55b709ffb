"""Hostile websocket input through the ASGI application (docs/reliability.md, "Hostile input").

Every frame type is fuzzed with Hypothesis through one long-lived socket: the
socket must survive everything the contract does not close it for, every
reply must be a frame the contract defines, nothing may be logged at ERROR,
and only valid sends may be stored.
"""

import json
import logging
import os

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chat import services
from chat.models import Membership, Message, Room

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning"),
]

ERROR_CODES = {
    "bad_json",
    "bad_frame",
    "unknown_type",
    "not_member",
    "too_long",
    "muted",
    "rate_limited",
}
REPLY_TYPES = {"message.ack", "message.new", "read", "resume.done", "error", "pong", "typing"}
MAX_FRAME = 64 * 1024
# CI runs a quick sample; a soak run raises it (docs/reliability.md).
FUZZ_EXAMPLES = int(os.environ.get("CHAT_FUZZ_EXAMPLES", "100"))
FRAME_TYPES = ["message.send", "message.read", "typing", "resume", "ping"]

# Text over the whole code space, lone surrogates and control characters included.
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()))
edge_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u200b",
        "\ufeff",
        "\ud800",
        "a\udfffb",
        "\U0001f600" * 10,
        "e\u0301" * 50,
        "<script>alert(1)</script>",
        "\r\n\t\x1b[31m",
        "x" * 4001,
        " " * 4000 + "x",
        "\u202eevil",
    ]
)
huge_int = st.integers(min_value=-(2**80), max_value=2**80)
json_leaf = (
    st.none()
    | st.booleans()
    | huge_int
    | st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, 10**30])
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | edge_text
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def frames(room_ids):
    """Frames of every type: plausible fields mixed with arbitrary JSON of any type."""
    room = st.sampled_from(room_ids) | json_value
    seq = st.integers(min_value=0, max_value=5) | json_value
    body = st.text(min_size=1, max_size=30) | edge_text | json_value
    client_id = st.text(min_size=1, max_size=70) | edge_text | json_value
    resume_rooms = (
        st.dictionaries(st.sampled_from([str(r) for r in room_ids]) | any_text, seq, max_size=4)
        | json_value
    )
    mine = st.just(room_ids[0])
    typed = st.one_of(
        # Well-formed frames with odd but legal text, so the paths that store are fuzzed too.
        st.fixed_dictionaries(
            {
                "type": st.just("message.send"),
                "room": mine,
                "body": st.text(min_size=1, max_size=40) | edge_text,
                "client_id": st.text(min_size=1, max_size=64),
            }
        ),
        st.fixed_dictionaries(
            {"type": st.just("message.read"), "room": mine, "seq": st.integers(0, 2**63 - 1)}
        ),
        st.fixed_dictionaries(
            {"type": st.just("resume"), "rooms": st.dictionaries(mine.map(str), st.integers(0, 9))}
        ),
        st.fixed_dictionaries(
            {"type": st.just("message.send"), "room": room, "body": body, "client_id": client_id}
        ),
        st.fixed_dictionaries({"type": st.just("message.read"), "room": room, "seq": seq}),
        st.fixed_dictionaries({"type": st.just("typing"), "room": room}),
        st.fixed_dictionaries({"type": st.just("resume"), "rooms": resume_rooms}),
        st.fixed_dictionaries({"type": st.just("ping")}),
        st.fixed_dictionaries({"type": json_value | any_text}),
    )
    extra = st.dictionaries(any_text, json_value, max_size=3)
    as_object = st.tuples(typed, extra).map(lambda pair: {**pair[1], **pair[0]})
    encoded = (as_object | json_value).map(json.dumps)
    # Raw text: truncated JSON, deep nesting, garbage.
    raw = st.one_of(
        any_text,
        encoded.map(lambda text: text[: max(1, len(text) // 2)]),
        st.integers(min_value=1, max_value=20000).map(lambda n: "[" * n + "]" * n),
        st.integers(min_value=1, max_value=8000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    )
    return st.lists(encoded | raw, min_size=1, max_size=4)


@database_sync_to_async
def _stored_messages():
    return list(Message.objects.values("room_id", "author_id", "body", "client_id", "seq"))


async def _replies_until_pong(client):
    """Every frame up to the pong that answers our ping; fails if the socket closed."""
    await client.send(type="ping")
    replies = []
    while True:
        frame = await client.next_frame(timeout=5)
        if frame["type"] == "pong":
            return replies
        replies.append(frame)


@pytest.fixture
def fuzz(alice, bob, carol, room, settings):
    settings.CHAT_RATE_BURST = 10**9
    settings.CHAT_RATE_PER_SECOND = 10**9
    others = services.room_create(owner=carol, name="not alice's", member_ids=[bob.pk])
    assert [room.pk, others.pk] == ROOM_IDS_FOR_STRATEGY[:2]
    return {"user": alice, "room": room.pk}


@database_sync_to_async
def _forget_messages():
    """Each example starts from empty rooms, so that a failure replays the same way."""
    Message.objects.all().delete()
    Room.objects.update(last_seq=0)
    Membership.objects.update(last_read_seq=0)


ROOM_IDS_FOR_STRATEGY = [1, 2, 999_999]  # the fuzz fixture's rooms, with sequences reset


@pytest.mark.django_db(transaction=True, reset_sequences=True)
@hypothesis_settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(batch=frames(ROOM_IDS_FOR_STRATEGY))
async def test_fuzzed_frames_of_every_type_never_break_the_socket_or_store_junk(
    connect, fuzz, caplog, batch
):
    caplog.clear()
    caplog.set_level(logging.WARNING)
    await _forget_messages()
    client = await connect(fuzz["user"])
    for text in batch:
        if len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME:
            continue  # the contract closes the socket for these; tested below
        # Straight to the application: the test communicator refuses empty text frames.
        await client.communicator.send_input({"type": "websocket.receive", "text": text})
    replies = await _replies_until_pong(client)
    await client.close()
    acked = {f["client_id"] for f in replies if f["type"] == "message.ack"}
    for frame in replies:
        assert frame["type"] in REPLY_TYPES, frame
        if frame["type"] == "error":
            assert frame["code"] in ERROR_CODES, frame
            assert isinstance(frame["detail"], str) and frame["detail"]
        if frame["type"] in ("message.ack", "message.new", "read", "typing"):
            room_of = frame["message"]["room"] if "message" in frame else frame["room"]
            assert room_of == fuzz["room"], f"a frame of a room alice is not in: {frame}"
    stored = await _stored_messages()
    for message in stored:
        assert message["room_id"] == fuzz["room"] and message["author_id"] == fuzz["user"].pk
        assert 1 <= len(message["body"].strip()) <= 4000 and "\x00" not in message["body"]
        assert 1 <= len(message["client_id"]) <= 64
    assert {m["client_id"] for m in stored} == acked
    assert sorted(m["seq"] for m in stored) == list(range(1, len(stored) + 1))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 30000 + "]" * 30000,
        json.dumps({"type": "message.send", "room": 1, "body": "x\ud800", "client_id": "c"}),
        json.dumps({"type": "message.send", "room": 1, "body": "ok", "client_id": "\udfff"}),
        json.dumps({"type": "resume", "rooms": {"\u00b2": 0}}),
        json.dumps({"type": "resume", "rooms": {"\u0663": 0}}),
    ],
    ids=["deep-nesting", "surrogate-body", "surrogate-client-id", "superscript-key", "arabic-key"],
)
async def test_inputs_that_once_crashed_the_consumer_get_an_error_frame(connect, alice, room, text):
    client = await connect(alice)
    await client.send_raw(text=text.replace('"room": 1', f'"room": {room.pk}'))
    error = await client.expect("error")
    assert error["code"] in ("bad_json", "bad_frame")
    await client.send(type="ping")
    assert (await client.expect("pong"))["type"] == "pong"
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_a_frame_over_64_kib_closes_the_socket_with_1009(connect, alice, room):
    client = await connect(alice)
    await client.say(room.pk, "é" * 40_000, "big")  # 80 KB of UTF-8 in 40k characters
    with pytest.raises(ConnectionError, match="1009"):
        await client.next_frame()
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_binary_frames_get_bad_frame_and_the_socket_stays_open(connect, alice):
    client = await connect(alice)
    for payload in (b"\x00\x01", json.dumps({"type": "ping"}).encode(), b"\xff" * 1000):
        await client.send_raw(data=payload)
        error = await client.expect("error")
        assert error["code"] == "bad_frame"
    await client.send(type="ping")
    await client.expect("pong")


async def test_a_binary_flood_is_rate_limited_too(connect, alice, settings):
    settings.CHAT_RATE_BURST = 5
    settings.CHAT_RATE_PER_SECOND = 0.001
    client = await connect(alice)
    for _ in range(12):
        await client.send_raw(data=b"\x00")
    codes = [(await client.next_frame())["code"] for _ in range(12)]
    assert codes[:5] == ["bad_frame"] * 5
    assert set(codes[5:]) == {"rate_limited"}


async def test_sockets_beyond_the_per_user_limit_are_closed_with_4029(connect, alice, settings):
    settings.CHAT_MAX_SOCKETS_PER_USER = 3
    for _ in range(3):
        await connect(alice)
    extra = await connect(alice, expect_hello=False)
    with pytest.raises(ConnectionError, match="4029"):
        await extra.next_frame()

"""History pages cost the same however deep they are (keyset pagination on (room, seq))."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from chat.models import Message, Room

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

HISTORY = 100_000


@pytest.fixture
def deep_room(room, alice, bob):
    """The ``room`` fixture with 100,000 messages, numbered as message_send numbers them.

    One multi-row INSERT statement per batch: model instances would take ten times longer.
    """
    table = Message._meta.db_table
    now = timezone.now()
    rows = [
        (room.pk, seq, (alice.pk, bob.pk)[seq % 2], f"message {seq}", f"bulk-{seq}", now)
        for seq in range(1, HISTORY + 1)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (room_id, seq, author_id, body, client_id, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    Room.objects.filter(pk=room.pk).update(last_seq=HISTORY)
    return room


def page(client, room, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/rooms/{room.pk}/messages/", params)
    assert response.status_code == 200
    return response.json(), queries


def test_a_page_deep_in_history_runs_the_same_queries_as_the_newest(deep_room, alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    newest, newest_queries = page(client, deep_room)
    deep, deep_queries = page(client, deep_room, before=1000)
    assert [m["seq"] for m in newest["results"]] == list(range(HISTORY - 49, HISTORY + 1))
    assert [m["seq"] for m in deep["results"]] == list(range(950, 1000))
    assert newest["has_more"] and deep["has_more"]
    assert len(deep_queries) == len(newest_queries)
    # The same statements, only the bound seq differs: no OFFSET, no COUNT.
    for query in deep_queries:
        assert "OFFSET" not in query["sql"].upper() and "COUNT(" not in query["sql"].upper()
    after, after_queries = page(client, deep_room, after=1000, limit=200)
    assert [m["seq"] for m in after["results"]] == list(range(1001, 1201))
    assert len(after_queries) == len(newest_queries)
    assert_pages_walk_the_index(deep_room)


def _plan(sql, params):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN {sql}", params)
        return " | ".join(row[0] for row in cursor.fetchall())


def _room_seq_index():
    """The name of the (room_id, seq) index as the query planner reports it."""
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # SQLite backs an inline UNIQUE constraint with an "autoindex" of its own name.
            names = [row[1] for row in cursor.execute(f"PRAGMA index_list({table})").fetchall()]
            for name in names:
                columns = [row[2] for row in cursor.execute(f"PRAGMA index_info({name})")]
                if columns == ["room_id", "seq"]:
                    return name
            raise AssertionError(f"no (room_id, seq) index among {names}")
        constraints = connection.introspection.get_constraints(cursor, table)
    return next(name for name, info in constraints.items() if info["columns"] == ["room_id", "seq"])


def assert_pages_walk_the_index(room):
    from chat.selectors import messages_page

    index = _room_seq_index()
    for bound in ({}, {"before": 1000}, {"after": 1000}):
        with CaptureQueriesContext(connection) as queries:
            messages_page(room.pk, limit=50, **bound)
        sql = next(q["sql"] for q in queries if f'"{Message._meta.db_table}"' in q["sql"])
        # Django records the statement with its values inlined, ready for EXPLAIN.
        plan = _plan(sql, [])
        assert index in plan, (bound, plan)
        if connection.vendor == "sqlite":
            # No scan of the whole table and no sort of the whole room.
            assert "USE TEMP B-TREE" not in plan, (bound, plan)
            assert "SCAN" not in plan, (bound, plan)

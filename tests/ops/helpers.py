"""Helpers of the ops tests: reading ``/metrics`` as Prometheus does, and quick live fixtures."""

from prometheus_client.parser import text_string_to_metric_families


def parse_metrics(text):
    """``{(sample name, frozenset of label pairs): value}`` from an exposition text."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def users_and_room(stack, count):
    """Users with tokens and one room of them all, in one process start (each costs seconds)."""
    data = stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        "from chat import services\n"
        "users = [get_user_model().objects.create_user('user%d' % n) "
        f"for n in range({count})]\n"
        "room = services.room_create(\n"
        "    owner=users[0], name='general', member_ids=[u.pk for u in users])\n"
        "tokens = [Token.objects.create(user=u).key for u in users]\n"
        "print(json.dumps({'room': room.pk, 'tokens': tokens}))"
    )
    users = [{"username": f"user{n}", "token": t} for n, t in enumerate(data["tokens"])]
    return users, data["room"]

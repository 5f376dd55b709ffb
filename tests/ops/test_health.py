"""``/healthz`` and ``/readyz`` in process (test_health_live.py takes real dependencies down)."""

import json

import pytest
from django.test import override_settings

from tests.live import free_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_reports_every_dependency_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "channel_layer": "ok", "broker": "ok"},
    }


def test_readyz_is_503_when_the_channel_layers_redis_is_down_and_does_not_say_where_it_is(client):
    port = free_port()
    layer = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layer):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["channel_layer"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert str(port) not in response.content.decode() and "redis" not in json.dumps(body)


def test_readyz_is_503_when_the_celery_broker_is_down(client):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"
    assert response.json()["checks"]["channel_layer"] == "ok"


def test_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


def test_every_response_carries_a_request_id_and_keeps_a_safe_one_from_the_proxy(client):
    fresh = client.get("/healthz")
    assert len(fresh["X-Request-ID"]) == 32
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-42.a_b"})
    assert kept["X-Request-ID"] == "edge-42.a_b"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert replaced["X-Request-ID"] != "bad id\nwith newline"
    assert len(replaced["X-Request-ID"]) == 32

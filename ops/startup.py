"""Refuse to start a production process on a broken configuration.

``chatproject.asgi`` (daphne) and the Celery app call
``refuse_to_start_if_misconfigured()`` before serving anything; ``manage.py
check`` runs the same validation as system checks (the Redis probe only with
``--deploy``, so that offline commands such as ``makemigrations`` still run).
Each problem is one sentence that names the setting to fix; the process
prints them on one line and exits with status 78 (``EX_CONFIG``), without a
traceback, so that a process manager can tell "fix the configuration" from a
crash worth restarting (deploy/systemd: ``RestartPreventExitStatus=78``).

A configuration counts as production when ``DEPLOY_ENV=production`` or when
``DEBUG`` is off.
"""

import contextlib
import socket
import sys
from urllib.parse import urlsplit

EXIT_CONFIG = 78
INSECURE_KEY_PREFIX = "insecure-"
MIN_SECRET_LENGTH = 32


def _redis_problem(name, url):
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        reason = exc.strerror or exc
        return f"{name} points at Redis on {host}:{port}, which is unreachable ({reason})."
    return None


def configuration_problems(settings, *, probe_network=True):
    """Everything wrong with a production configuration, as sentences (empty when fine)."""
    production = settings.DEPLOY_ENV == "production" or not settings.DEBUG
    if not production:
        return []
    problems = []
    if settings.DEPLOY_ENV == "production" and settings.DEBUG:
        problems.append("DEBUG is on while DEPLOY_ENV=production; set DEBUG=0.")
    key = settings.SECRET_KEY or ""
    if not key or key.startswith(INSECURE_KEY_PREFIX):
        problems.append("SECRET_KEY is missing; set it to a long random value.")
    elif settings.DEPLOY_ENV == "production" and len(key) < MIN_SECRET_LENGTH:
        problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters.")
    if (
        settings.DEPLOY_ENV == "production"
        and settings.METRICS_TOKEN
        and len(settings.METRICS_TOKEN) < 16
    ):
        problems.append("METRICS_TOKEN is shorter than 16 characters.")
    if probe_network:
        checked = set()
        urls = (
            ("REDIS_URL", settings.REDIS_URL),
            ("CELERY_BROKER_URL", settings.CELERY_BROKER_URL),
        )
        for name, url in urls:
            if url.startswith(("redis://", "rediss://")) and url not in checked:
                checked.add(url)
                problem = _redis_problem(name, url)
                if problem:
                    problems.append(problem)
    return problems


def refusal_message(problems):
    return "Refusing to start: " + " ".join(problems)


def refuse_to_start_if_misconfigured():
    """Exit the process with one clear message when the configuration is unfit to serve."""
    from django.conf import settings

    problems = configuration_problems(settings)
    if problems:
        _exit(refusal_message(problems))


@contextlib.contextmanager
def exit_on_improper_configuration():
    """Turn Django's ``ImproperlyConfigured`` at start-up into the same one-line exit."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        yield
    except ImproperlyConfigured as exc:
        _exit(f"Refusing to start: {exc}")


def _exit(message):
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIG)

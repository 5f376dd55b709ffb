"""Fixtures of the reliability suite."""

import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are created in every test; the real hasher is slow on purpose, and not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""Pytest plugin (loaded with -p): test-only environment, set before Django starts."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="chat-test-var-"))

"""Pytest plugin (loaded with -p): test-only environment, set before Django starts."""

import os
import tempfile
import uuid

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="chat-test-var-"))
# A channel-layer key prefix of this run's own: groups and channels that an
# interrupted earlier run left in the suite's Redis database cannot reach it
# (such leftovers once made a hub's teardown wait forever).
os.environ.setdefault("CHANNEL_PREFIX", f"chat-test-{uuid.uuid4().hex[:8]}")

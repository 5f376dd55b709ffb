"""How a daphne process tunes the interpreter for its event loop (docs/performance.md).

Called once by ``chatproject.asgi``, after everything is imported; only the
web process, which runs one busy event loop and one database thread.
"""

import gc
import logging
import sys

logger = logging.getLogger(__name__)


def tune_web_process(settings):
    # The loop hands the interpreter lock to the database thread after this
    # long (Python's default is 5 ms), so a send's queries do not queue
    # behind a busy loop after every database call.
    sys.setswitchinterval(settings.CHAT_SWITCH_INTERVAL)
    if settings.CHAT_GC_FREEZE:
        # What is loaded by now (Django, the apps, their libraries: over
        # 100,000 objects) lives as long as the process. Frozen, the
        # collector's full passes skip it; they took 40 to 70 ms of the event
        # loop otherwise, which showed as p99 latency under load.
        gc.collect()
        gc.freeze()
    logger.debug(
        "switch interval %ss, %s objects frozen", sys.getswitchinterval(), gc.get_freeze_count()
    )

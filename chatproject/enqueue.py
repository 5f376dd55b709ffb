"""Hand Celery tasks to the broker without ever making the caller wait for it.

The chat's signals are sent on the thread that serves a websocket (daphne's
database thread). Publishing to a broker that is slow or down can block for
seconds (kombu reconnects), so receivers of every app put their task on an
in-process queue and one daemon thread per process publishes it. Receivers
call ``enqueue`` or ``enqueue_each`` from ``transaction.on_commit``, so
nothing is queued for a transaction that rolls back.

``enqueue(task, *args, **options)`` publishes one call as soon as the thread
gets to it. ``enqueue_each(task, item)`` coalesces: the items of one task
queued in one burst (no pause longer than ``LINGER_IDLE_SECONDS``, and for
at most ``LINGER_MAX_SECONDS``) are published as one call,
``task([item, ...])``, at most ``BATCH_MAX`` items per call. A burst of a
hundred messages is then one broker publish, not a hundred.

A publish that fails with a connection error is tried again, with backoff,
``PUBLISH_ATTEMPTS`` times in all, then given up and logged as an error.

NOTE: a process that dies between commit and publish loses those tasks (the
window is the publish time, normally well under a millisecond, plus the
wait of coalesced items); so does a
full queue (``ENQUEUE_QUEUE_SIZE``), which is logged as an error. At normal
exit the queue is flushed (``atexit``). Apps that cannot afford a loss keep
a sweep: notifications pends messages whose task never ran, stats recounts.
"""

import atexit
import logging
import queue
import random
import threading
import time

from django.conf import settings
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

BATCH_MAX = 500
PUBLISH_ATTEMPTS = 4
# Coalesced items wait for more until none came for LINGER_IDLE_SECONDS, and
# the first of them waits at most LINGER_MAX_SECONDS: the sends of a batch run
# their receivers one message after another, milliseconds apart, and under a
# steady stream a call goes out twice a second. Plain calls never wait.
LINGER_IDLE_SECONDS = 0.05
LINGER_MAX_SECONDS = 0.5

_TRANSIENT = (OperationalError, OSError)


class Publisher:
    """A bounded queue of task calls and the daemon thread that publishes them."""

    def __init__(
        self,
        *,
        maxsize=None,
        batch_max=BATCH_MAX,
        linger_idle=LINGER_IDLE_SECONDS,
        linger_max=LINGER_MAX_SECONDS,
        attempts=PUBLISH_ATTEMPTS,
        name="enqueue",
    ):
        self.maxsize = maxsize
        self.batch_max = batch_max
        self.linger_idle = linger_idle
        self.linger_max = linger_max
        self.attempts = attempts
        self.name = name
        self._lock = threading.Lock()
        self._queue = None
        self._thread = None

    # --- the caller's side (never blocks) ------------------------------

    def enqueue(self, task, *args, **options):
        """Publish ``task.apply_async(args, **options)`` from the background thread."""
        self._put((task, args, options, False))

    def enqueue_each(self, task, item):
        """Publish ``task([item, ...])`` together with the other items waiting for ``task``."""
        self._put((task, item, None, True))

    def flush(self, timeout=5.0):
        """Wait until everything queued so far was published or given up (``timeout`` at most)."""
        jobs = self._queue
        if jobs is None:
            return True
        done = threading.Event()

        def wait():
            jobs.join()
            done.set()

        threading.Thread(target=wait, name=f"{self.name}-flush", daemon=True).start()
        return done.wait(timeout)

    def _put(self, job):
        try:
            self._jobs().put_nowait(job)
        except queue.Full:
            task = job[0]
            logger.error("enqueue queue full: dropped a call of %s", task.name)

    def _jobs(self):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                maxsize = self.maxsize
                if maxsize is None:
                    maxsize = settings.ENQUEUE_QUEUE_SIZE
                self._queue = queue.Queue(maxsize=maxsize)
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name=self.name, daemon=True
                )
                self._thread.start()
            return self._queue

    # --- the publishing thread -------------------------------------------

    def _run(self, jobs):
        held = {}  # task name -> (task, items) waiting to be published together
        deadline = latest = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                task, payload, options, coalesce = jobs.get(timeout=timeout)
            except queue.Empty:
                task = None
            try:
                if task is not None and not coalesce:
                    self._publish(task, payload, options)
                    jobs.task_done()
                elif task is not None:
                    _, items = held.setdefault(task.name, (task, []))
                    items.append(payload)
                    now = time.monotonic()
                    if latest is None:
                        latest = now + self.linger_max
                    deadline = min(now + self.linger_idle, latest)
                    if len(items) >= self.batch_max:
                        self._release(jobs, held.pop(task.name))
                if held and time.monotonic() >= deadline:
                    for entry in held.values():
                        self._release(jobs, entry)
                    held.clear()
                if not held:
                    deadline = latest = None
            except Exception:
                # Never let the thread die: later callers would queue into nothing.
                logger.exception("enqueue thread: unexpected error")

    def _release(self, jobs, entry):
        """Publish held items as calls of at most ``batch_max`` items each."""
        task, items = entry
        try:
            for start in range(0, len(items), self.batch_max):
                self._publish(task, (items[start : start + self.batch_max],), {})
        finally:
            for _ in items:
                jobs.task_done()

    def _publish(self, task, args, options):
        for attempt in range(1, self.attempts + 1):
            try:
                task.apply_async(args=args, **options)
                return
            except _TRANSIENT:
                if attempt == self.attempts:
                    logger.exception(
                        "gave up publishing %s after %s attempts (%s)",
                        task.name,
                        attempt,
                        _describe(args),
                    )
                    return
                delay = min(0.25 * 2**attempt, 5.0) * random.uniform(0.5, 1.5)
                logger.warning(
                    "publishing %s failed (attempt %s), retrying in %.1fs",
                    task.name,
                    attempt,
                    delay,
                )
                time.sleep(delay)
            except Exception:
                logger.exception("could not publish %s (%s)", task.name, _describe(args))
                return


def _describe(args):
    """Ids for the log; a coalesced call says how many items it carried."""
    if len(args) == 1 and isinstance(args[0], list):
        return f"{len(args[0])} items"
    return repr(args)


_default = Publisher(name="enqueue")
enqueue = _default.enqueue
enqueue_each = _default.enqueue_each
flush = _default.flush

atexit.register(flush)

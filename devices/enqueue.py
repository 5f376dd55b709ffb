"""Hand tasks to the broker without ever making the caller wait for it.

The chat's signals are sent on the thread that serves a websocket. Publishing
to a broker that is slow or down can block for seconds (kombu retries the
connection), so receivers put the task on an in-process queue and one daemon
thread publishes it. Nothing is queued for a transaction that rolls back:
receivers call ``enqueue`` from ``transaction.on_commit``.

NOTE: a process that dies between commit and publish loses those tasks (the
window is the publish time, normally well under a millisecond); so does a
full queue (``PUSH_ENQUEUE_QUEUE_SIZE``), which is logged as an error. At
normal exit the queue is flushed (``atexit``).
"""

import atexit
import logging
import queue
import threading

from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_queue = None
_thread = None


def _worker(jobs):
    while True:
        task, args = jobs.get()
        try:
            task.apply_async(args=args)
        except Exception:
            logger.exception("could not enqueue %s%s", task.name, args)
        finally:
            jobs.task_done()


def _jobs():
    global _queue, _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _queue = queue.Queue(maxsize=settings.PUSH_ENQUEUE_QUEUE_SIZE)
            _thread = threading.Thread(
                target=_worker, args=(_queue,), name="push-enqueue", daemon=True
            )
            _thread.start()
        return _queue


def enqueue(task, *args):
    """Publish ``task(*args)`` from the background thread; never blocks."""
    try:
        _jobs().put_nowait((task, args))
    except queue.Full:
        logger.error("enqueue queue full: dropped %s%s", task.name, args)


def flush(timeout=5.0):
    """Wait until everything queued so far was handed to the broker (or ``timeout``)."""
    jobs = _queue
    if jobs is None:
        return True
    done = threading.Event()

    def wait():
        jobs.join()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done.wait(timeout)


atexit.register(flush)

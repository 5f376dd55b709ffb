"""A Celery worker's task counters, read from its own metrics port (multiprocess mode)."""

import time
import urllib.request

from tests.live import free_port
from tests.ops.helpers import parse_metrics, value


def test_a_workers_metrics_port_counts_the_tasks_its_pool_ran(live_stack, tmp_path):
    stack = live_stack()
    port = free_port()
    stack.start_worker(
        "-c",
        "2",
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "METRICS_WORKER_PORT": str(port)},
    )
    stack.shell(
        "import json\n"
        "from stats.tasks import usage_sweep\n"
        "for _ in range(3):\n"
        "    usage_sweep.delay()\n"
        "print(json.dumps(True))"
    )
    succeeded = 0
    deadline = time.time() + 30
    while time.time() < deadline and succeeded < 3:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            samples = parse_metrics(response.read().decode())
        succeeded = value(
            samples, "chat_celery_tasks_total", task="stats.tasks.usage_sweep", outcome="succeeded"
        )
        time.sleep(0.5)
    assert succeeded == 3

"""A tiny run of ``make bench`` so that the benchmark cannot rot unnoticed.

It starts the same three servers as the real run (the project's daphne on
the embedded default, the minimal Channels chat, the bare websockets
server), at one low step, and checks the results file rather than the figures.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.live import ROOT


@pytest.mark.live
@pytest.mark.slow
def test_a_smoke_run_of_the_benchmark_delivers_every_message_and_writes_its_results(tmp_path):
    out = tmp_path / "smoke.json"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Targets:" in run.stdout

    results = json.loads(out.read_text())
    assert {"fanout", "idle", "history", "ratios", "targets", "project_setup"} <= set(results)
    assert set(results["fanout"]) == {"project", "minimal_channels", "bare_websockets"}
    for name, figures in results["fanout"].items():
        (step,) = figures["steps"]
        assert step["deliveries_expected"] > 0, name
        assert step["lost"] == 0, f"{name} lost {step['lost']} messages at the smoke step"
        assert step["duplicates"] == 0, name
    assert set(results["idle"]) == {"project", "minimal_channels", "bare_websockets"}
    assert all(idle["connections"] == 50 for idle in results["idle"].values())
    assert "rate limit is raised" in " ".join(results["notes"])
    (history,) = results["history"].values()
    assert history["newest"]["failures"] == 0 and history["deep"]["failures"] == 0
    assert "fanout_vs_minimal_channels" in results["ratios"]

"""The benchmark's ratios and targets (bench/report.py), from made-up results."""

from bench import report


def _fanout(capacity, steps):
    return {
        "capacity_per_s": capacity,
        "deliveries_per_server_cpu_s": 1000,
        "lost_in_sweep": 0,
        "p99_ms_at_5000": 10.0,
        "steps": [{"offered_per_s": rate, "passed": passed} for rate, passed in steps],
    }


def _results(minimal):
    return {
        "fanout": {
            "minimal_channels": minimal,
            "bare_websockets": _fanout(60_000, [(1_000, True), (80_000, False)]),
            "project": _fanout(40_000, [(1_000, True), (50_000, False)]),
        },
        "idle": {},
    }


def test_a_baseline_that_held_a_step_gives_a_plain_ratio():
    _, targets = report.ratios_and_targets(
        _results(_fanout(2_000, [(1_000, True), (2_000, True), (3_000, False)]))
    )
    fanout = targets["fanout >= 4.0x minimal Channels chat"]
    assert fanout == {"target": 4.0, "value": 20.0, "met": True}


def test_a_baseline_behind_at_the_first_step_gives_a_lower_bound_said_as_such():
    ratios, targets = report.ratios_and_targets(_results(_fanout(0, [(1_000, False)])))
    assert ratios["fanout_vs_minimal_channels"] is None
    assert ratios["fanout_vs_minimal_channels_at_least"] == 40.0
    fanout = targets["fanout >= 4.0x minimal Channels chat"]
    assert fanout["value"] == 40.0 and fanout["met"] is True
    assert fanout["bound"].startswith("at least")


def test_a_baseline_with_no_steps_at_all_meets_nothing():
    _, targets = report.ratios_and_targets(_results(_fanout(0, [])))
    assert targets["fanout >= 4.0x minimal Channels chat"]["met"] is False

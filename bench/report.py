"""Ratios, targets and the printed table of one benchmark run."""

TARGETS_DOC = "docs/performance.md"


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


def _below_first_step(figures):
    """The first offered rate when a server fell behind already there, else None.

    Its capacity is then below the sweep's range, so a ratio against it is
    only known from below: at least (the other's capacity / that rate).
    """
    steps = figures.get("steps") or []
    if figures.get("capacity_per_s") == 0 and steps and not steps[0]["passed"]:
        return steps[0]["offered_per_s"]
    return None


def ratios_and_targets(results):
    fanout, idle = results["fanout"], results["idle"]
    project = fanout.get("project", {})
    capacity = project.get("capacity_per_s")
    minimal = fanout.get("minimal_channels", {}).get("capacity_per_s")
    minimal_below = _below_first_step(fanout.get("minimal_channels", {}))
    bare = fanout.get("bare_websockets", {}).get("capacity_per_s")
    embedded = fanout.get("project_embedded", {}).get("capacity_per_s")
    ratios = {
        "fanout_vs_minimal_channels": _ratio(capacity, minimal),
        "fanout_vs_bare_websockets": _ratio(capacity, bare),
    }
    cpu = {name: f.get("deliveries_per_server_cpu_s") for name, f in fanout.items()}
    ratios["cpu_efficiency_vs_minimal_channels"] = _ratio(
        cpu.get("project"), cpu.get("minimal_channels")
    )
    ratios["cpu_efficiency_vs_bare_websockets"] = _ratio(
        cpu.get("project"), cpu.get("bare_websockets")
    )
    if "project_embedded" in fanout:
        ratios["redis_layer_vs_embedded"] = _ratio(capacity, embedded)
        ratios["embedded_vs_minimal_channels"] = _ratio(embedded, minimal)
    if "project_two_nodes" in fanout:
        ratios["two_nodes_vs_one"] = _ratio(fanout["project_two_nodes"]["capacity_per_s"], capacity)
    if "project" in idle:
        for base in ("minimal_channels", "bare_websockets"):
            if base in idle:
                ratios[f"connect_rate_vs_{base}"] = _ratio(
                    idle["project"]["connects_per_s"], idle[base]["connects_per_s"]
                )

    if minimal_below and capacity:
        ratios["fanout_vs_minimal_channels_at_least"] = _ratio(capacity, minimal_below)

    targets = {}

    def target(name, wanted, value, met):
        targets[name] = {"target": wanted, "value": value, "met": bool(met) if value else False}

    bound = ratios.get("fanout_vs_minimal_channels_at_least")
    if ratios["fanout_vs_minimal_channels"] is None and bound:
        target("fanout >= 4.0x minimal Channels chat", 4.0, bound, bound >= 4.0)
        targets["fanout >= 4.0x minimal Channels chat"]["bound"] = (
            f"at least: the minimal chat fell behind at {minimal_below:,}/s, the first step"
        )
    else:
        target(
            "fanout >= 4.0x minimal Channels chat",
            4.0,
            ratios["fanout_vs_minimal_channels"],
            (ratios["fanout_vs_minimal_channels"] or 0) >= 4.0,
        )
    target(
        "fanout >= 0.5x bare websockets",
        0.5,
        ratios["fanout_vs_bare_websockets"],
        (ratios["fanout_vs_bare_websockets"] or 0) >= 0.5,
    )
    lost = {
        name: figures["lost_in_sweep"]
        for name, figures in fanout.items()
        if name.startswith("project")
    }
    target(
        "zero loss at every step, every project setup",
        0,
        lost or None,
        lost and all(v == 0 for v in lost.values()),
    )
    p99 = project.get("p99_ms_at_5000")
    target("p99 at 5,000/s <= 20 ms", 20, p99, p99 is not None and p99 <= 20)
    if "redis_layer_vs_embedded" in ratios:
        value = ratios["redis_layer_vs_embedded"]
        target("Redis layer >= 0.7x embedded", 0.7, value, (value or 0) >= 0.7)
    if "project" in idle:
        value = idle["project"]["kib_per_connection"]
        target("idle <= 40 KiB per connection", 40, value, value <= 40)
    for label, figures in results.get("history", {}).items():
        if "deep_over_newest_p99" in figures:
            value = figures["deep_over_newest_p99"]
            target(f"history deep p99 <= 1.2x newest ({label})", 1.2, value, value <= 1.2)
    for label, figures in results.get("push", {}).items():
        if figures.get("on_over_off") is not None:
            value = figures["on_over_off"]
            target(f"send rate push on >= 0.9x off ({label})", 0.9, value, value >= 0.9)
    return ratios, targets


def _fmt(value, suffix=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return f"{value}{suffix}"


def table(results):
    lines = [""]
    lines.append(f"Project setup: {results['project_setup']}")
    lines.append(
        f"Load average at start {results['load_at_start']}, at end {results.get('load_at_end')}"
    )
    for note in results["notes"]:
        lines.append(f"Note: {note}")
    lines.append("")
    header = (
        f"{'server':<20} {'capacity/s':>11} {'per cpu-s':>10} {'lost':>5} {'p50@5k':>8} "
        f"{'p99@5k':>8} {'idle KiB':>9} {'conn/s':>8}"
    )
    lines += [header, "-" * len(header)]
    for name, figures in results["fanout"].items():
        idle = results["idle"].get(name, {})
        lines.append(
            f"{name:<20} {_fmt(figures['capacity_per_s']):>11} "
            f"{_fmt(figures.get('deliveries_per_server_cpu_s')):>10} {figures['lost_in_sweep']:>5} "
            f"{_fmt(figures['p50_ms_at_5000'], ' ms'):>8} "
            f"{_fmt(figures['p99_ms_at_5000'], ' ms'):>8} "
            f"{_fmt(idle.get('kib_per_connection')):>9} {_fmt(idle.get('connects_per_s')):>8}"
        )
    for name, idle in results["idle"].items():
        if name not in results["fanout"]:
            lines.append(
                f"{name:<20} {'':>11} {'':>10} {'':>5} {'':>8} {'':>8} "
                f"{_fmt(idle['kib_per_connection']):>9} {_fmt(idle['connects_per_s']):>8}"
            )
    if results.get("history"):
        lines += ["", "History pages (50 messages, 4 concurrent requests):"]
        for label, h in results["history"].items():
            if "skipped" in h:
                lines.append(f"  {label}: skipped ({h['skipped']})")
                continue
            lines.append(
                f"  {label}: newest {h['newest']['requests_per_s']}/s p99 "
                f"{h['newest']['p99_ms']} ms; {h['messages_in_room'] - h['deep_page_before_seq']:,}"
                f" deep {h['deep']['requests_per_s']}/s p99 {h['deep']['p99_ms']} ms "
                f"({h['deep_over_newest_p99']}x)"
            )
    if results.get("push"):
        lines += ["", "Send throughput, push on against push off:"]
        for label, p in results["push"].items():
            if "skipped" in p:
                lines.append(f"  {label}: skipped ({p['skipped']})")
                continue
            lines.append(
                f"  {label}: off {p['sends_per_s_push_off']}/s, on {p['sends_per_s_push_on']}/s "
                f"({p['on_over_off']}x)"
            )
    lines += ["", "Ratios (same run):"]
    for name, value in results["ratios"].items():
        lines.append(f"  {name}: {_fmt(value)}")
    lines += ["", "Targets:"]
    for name, t in results["targets"].items():
        mark = "met" if t["met"] else "NOT met"
        bound = f" ({t['bound']})" if t.get("bound") else ""
        lines.append(f"  [{mark:>7}] {name}: {_fmt(t['value'])}{bound}")
    return "\n".join(lines)

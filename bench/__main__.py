"""``make bench``: this project against two baselines, under one load client, in one run.

Servers run pinned to core 0 and this process (the load client) to core 1.
See docs/performance.md for what each figure means and what it measured.
"""

import argparse
import asyncio
import atexit
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import measure, report
from .servers import (
    BENCH_ENV,
    CLIENT_CORES,
    BaselineServer,
    ProjectStack,
    describe_machine,
    services_available,
    usable_cores,
)
from .sweep import DEFAULT_STEPS

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few-second run of every part")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per sweep step")
    parser.add_argument("--steps", type=str, default="", help="comma-separated deliveries/s")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections (0: skip)")
    parser.add_argument("--history-depth", type=int, default=100_000)
    parser.add_argument("--only", type=str, default="", help="comma-separated setup names")
    parser.add_argument("--embedded", action="store_true", help="do not use PostgreSQL/Redis")
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--no-push", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="results file (JSON)")
    args = parser.parse_args(argv)
    if args.steps:
        args.steps = tuple(int(s) for s in args.steps.split(","))
    else:
        args.steps = DEFAULT_STEPS
    if args.smoke:
        args.duration, args.steps = 1.0, (500,)
        args.members, args.senders = 10, 2
        args.idle = min(args.idle, 50)
        args.history_depth = 1_000
        args.embedded, args.no_push = True, True
    return args


def prepare_process():
    """Pin this process to the client core and allow enough open sockets."""
    if len(usable_cores()) >= 2:
        os.sched_setaffinity(0, CLIENT_CORES)
    else:
        print("warning: fewer than 2 cores; server and client share one", file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def log(line):
    print(line, flush=True)


async def run(args):
    fd_limit = prepare_process()
    use_services = services_available() and not args.embedded
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "machine": describe_machine(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "load": {
            "members": args.members,
            "senders": args.senders,
            "step_seconds": args.duration,
            "latency_limit_ms": 100,
        },
        "project_env": BENCH_ENV,
        "notes": [
            "The per-socket rate limit is raised for the benchmark "
            f"(CHAT_RATE_PER_SECOND={BENCH_ENV['CHAT_RATE_PER_SECOND']}, "
            f"CHAT_RATE_BURST={BENCH_ENV['CHAT_RATE_BURST']}); every other setting is "
            "the project's default.",
        ],
        "project_setup": "PostgreSQL + Redis layer"
        if use_services
        else "SQLite + in-memory layer (embedded default)",
        "fanout": {},
        "idle": {},
        "history": {},
        "push": {},
    }
    idle_count = args.idle
    if idle_count and fd_limit < idle_count + 500:
        idle_count = fd_limit - 500
        results["notes"].append(f"open-file limit {fd_limit}: idle run uses {idle_count}")
    only = set(args.only.split(",")) if args.only else None

    def wanted(name):
        return only is None or name in only

    log(f"bench: project on {results['project_setup']}; server core 0, client core 1")
    # The baselines' logs; kept with BENCH_KEEP_LOGS=1 (the project's go with its LiveStack).
    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    if not os.environ.get("BENCH_KEEP_LOGS"):
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)

    # --- baselines -----------------------------------------------------
    for kind in ("minimal_channels", "bare_websockets"):
        if not wanted(kind):
            continue
        log(f"{kind}:")
        server = BaselineServer(kind, workdir)
        try:
            results["fanout"][kind] = await measure.fanout_baseline(server, args, log)
        finally:
            server.stop()
        if idle_count:
            # A fresh process, so that the sweep's allocations do not count.
            server = BaselineServer(kind, workdir)
            try:
                results["idle"][kind] = await measure.idle_baseline(
                    server, idle_count, log, settle=0.2 if args.smoke else 3.0
                )
            finally:
                server.stop()

    # --- the project ---------------------------------------------------
    setups = []
    if use_services:
        setups.append(("project", "postgres", "redis"))
        setups.append(("project_embedded", "sqlite", "memory"))
    else:
        setups.append(("project", "sqlite", "memory"))
    for name, db, layer in setups:
        if not (wanted(name) or (name == "project" and wanted("project_two_nodes"))):
            continue
        stack = ProjectStack(db=db, layer=layer)
        log(f"{name} ({stack.label}):")
        try:
            if wanted(name):
                node = stack.start_node()
                results["fanout"][name] = await measure.fanout_project(stack, [node], args, log)
                results["fanout"][name]["setup"] = stack.label
                if not args.no_push:
                    results["push"][stack.label] = await measure.push_ratio(stack, node, args, log)
                if not args.no_history:
                    results["history"][stack.label] = await measure.history(stack, node, args, log)
                if idle_count and name == "project" and args.smoke:
                    # The smoke run checks that the code works, not the figures.
                    results["idle"][name] = await measure.idle_project(
                        stack, idle_count, log, node=node, settle=0.2
                    )
                stack.stop_node(node)
                if idle_count and name == "project" and not args.smoke:
                    # A fresh process, so that the sweep's allocations do not count.
                    results["idle"][name] = await measure.idle_project(stack, idle_count, log)
            if layer == "redis" and wanted("project_two_nodes"):
                log("project_two_nodes:")
                nodes = [stack.start_node(), stack.start_node()]
                fig = await measure.fanout_project(stack, nodes, args, log)
                fig["setup"] = stack.label + ", two daphne nodes"
                results["fanout"]["project_two_nodes"] = fig
                for node in nodes:
                    stack.stop_node(node)
        finally:
            stack.stop()

    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if max(results["load_at_start"][0], results["load_at_end"][0]) > 1.5:
        results["notes"].append(
            "Other work was running on this machine (load average above 1.5): the "
            "servers got only part of their core, so absolute figures are low and "
            "ratios are noisy. 'per cpu-s' (deliveries per second of server CPU) is "
            "the steadier comparison."
        )
    results["ratios"], results["targets"] = report.ratios_and_targets(results)
    out = args.out or RESULTS_DIR / (
        ("smoke-" if args.smoke else "bench-") + time.strftime("%Y%m%d-%H%M%S") + ".json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    if not args.smoke and args.out is None:
        (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    log(f"results: {out}")
    return results


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

"""A queue of small jobs (1,000 by default) drained by two workers, on PostgreSQL and Redis.

    python -m bench.queue_drain [--jobs 1000] [--workers 2] [--start both|fork|fresh] [--json PATH]

Method. Starts the cluster setup (uvicorn with 2 processes, `--workers` Celery workers, each
`-c 1` with its own node name, PostgreSQL and Redis on loopback), submits `--jobs` small jobs
as fast as one client can (a 1-epoch regression on the built-in cdnow-spend table, 2,357
rows), then polls the job list until every job has ended. It reports the submit rate, the
wall time to drain, jobs/s, each job's queue wait (created -> started) and run time
(started -> finished) at p50/p99, how the jobs split across the workers, and checks that every
job ran exactly once (attempt 1) and succeeded. Next to it: the floor set by the trainer
process itself — one job's run time x jobs / workers — so the queue's own overhead shows.
With `--start both` (the default) it drains the queue twice on fresh stacks: each job's process
forked from the worker's warm fork server (worker/job_process.py, the default), then each in a
fresh interpreter (ADAMANT_FORK_JOBS=false, as before), and prints the two side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from bench.service_load import percentile  # noqa: E402
from support.stack import create_tenant, drop_pg_database, make_stack, postgres_available, redis_available  # noqa: E402

SPEC = {
    "task": "regression",
    "dataset": {"ref": "builtin:cdnow-spend", "target": "future_spend", "id_column": "customer_id"},
    "model": {"type": "mlp", "hidden": [16]},
    "training": {"epochs": 1, "batch_size": 512},
    "checkpointing": {"every_epochs": 1, "keep_last": 1},
}


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def all_jobs(client) -> list[dict]:  # type: ignore[no-untyped-def]
    jobs, cursor = [], None
    while True:
        page = client.get("/v1/jobs", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        jobs += page["jobs"]
        cursor = page.get("next_cursor")
        if not cursor:
            return jobs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--start", choices=("both", "fork", "fresh"), default="both",
                        help="how each job's process starts: forked from the warm server, a fresh interpreter, or both runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not (postgres_available() and redis_available()):
        raise SystemExit("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (scripts/services.sh)")
    modes = ["fork", "fresh"] if args.start == "both" else [args.start]
    results = {}
    for mode in modes:
        results[mode] = drain(args.jobs, args.workers, fork=mode == "fork")
        print_table(results[mode])
    if len(results) == 2:
        print(f"drain time, forked / fresh interpreter: {results['fork']['drain_s'] / results['fresh']['drain_s']:.2f}x; "
              f"p50 run time {results['fork']['run_s']['p50']:.2f} s vs {results['fresh']['run_s']['p50']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def drain(n_jobs: int, workers: int, *, fork: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="adamant-drain-") as tmp:
        stack = make_stack("cluster", Path(tmp) / "stack", ADAMANT_LEASE_TTL_S="30", ADAMANT_HEARTBEAT_S="5",
                           ADAMANT_REAPER_INTERVAL_S="2", ADAMANT_FORK_JOBS=str(fork).lower())
        try:
            stack.start_api(workers=2)
            key = create_tenant(stack, "drain", max_concurrent_jobs=n_jobs)
            with stack.client(key) as client:
                started = time.monotonic()
                for i in range(n_jobs):
                    reply = client.post("/v1/jobs", json={**SPEC, "name": f"drain {i}"}, headers={"Idempotency-Key": f"drain-{i}"})
                    reply.raise_for_status()
                submit_s = time.monotonic() - started
                for n in range(workers):  # workers start on a full queue: the drain alone is timed
                    stack.start_worker(name=f"drain{n}", concurrency=1, queues="cpu")
                drain_started = time.monotonic()
                while True:
                    jobs = all_jobs(client)
                    ended = [j for j in jobs if j["status"] in ("succeeded", "failed", "cancelled")]
                    if len(ended) == n_jobs:
                        break
                    time.sleep(2)
                drain_s = time.monotonic() - drain_started
        finally:
            stack.stop_all()
            if stack.database_url:
                drop_pg_database(stack.database_url)

    run_s = [seconds(j["finished_at"]) - seconds(j["started_at"]) for j in jobs if j.get("started_at") and j.get("finished_at")]
    return {
        "start": "forked from the warm fork server" if fork else "a fresh interpreter per job",
        "jobs": n_jobs,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "submit_s": submit_s,
        "submit_per_s": n_jobs / submit_s,
        "drain_s": drain_s,
        "jobs_per_s": n_jobs / drain_s,
        "statuses": dict(Counter(j["status"] for j in jobs)),
        "attempts": dict(Counter(str(j["attempt"]) for j in jobs)),
        "by_worker": dict(Counter(str(j.get("worker")) for j in jobs)),
        "run_s": {"p50": percentile(run_s, 50), "p99": percentile(run_s, 99)} if run_s else None,
        "floor_s": statistics.median(run_s) * n_jobs / workers if run_s else None,
    }


def print_table(r: dict) -> None:
    print(f"queue drain — {r['jobs']} jobs, {r['workers']} workers (-c 1 each), {r['cpu_count']} cores, PostgreSQL + Redis on loopback; "
          f"each job's process {r['start']}")
    print(f"submitted in {r['submit_s']:.1f} s ({r['submit_per_s']:.0f} jobs/s from one client)")
    print(f"drained in {r['drain_s']:.1f} s: {r['jobs_per_s']:.2f} jobs/s")
    if r["run_s"]:
        print(f"per-job run time (trainer process start to finish) p50 {r['run_s']['p50']:.2f} s, p99 {r['run_s']['p99']:.2f} s; "
              f"floor (p50 x jobs / workers) {r['floor_s']:.1f} s -> queue overhead {r['drain_s'] / r['floor_s']:.2f}x the floor")
    print(f"statuses {r['statuses']}; attempts {r['attempts']}; jobs per worker {r['by_worker']}")


if __name__ == "__main__":
    main()

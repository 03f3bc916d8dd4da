"""Service latency and poll throughput, with Redis and PostgreSQL, each next to its ceiling.

1. submit -> running on an idle worker: wall time from the HTTP POST until a poll shows
   `running`, next to a bare Celery round trip (an empty task, from
   apply_async until it starts) on the same Redis. The client polls every 1 ms, over one
   kept-alive connection after 3 warm-up jobs; the POST's own time and the wait after it are
   reported apart, and every sample is kept in the JSON.
   Targets: p50 < 20 ms, p99 < 50 ms.
2. poll throughput and latency with 100 concurrent clients (wrk, 2 threads, 10 s each):
   GET /v1/jobs/{id} (status), the same with If-None-Match (304), GET .../metrics?after=<latest>
   (an incremental poll with nothing new), next to a bare FastAPI endpoint returning a constant,
   served the same way (uvicorn, same worker count). Targets: >= 5,000 req/s, p99 < 50 ms, and
   at least half the bare endpoint's rate.

Run: `python -m bench.service_load [--workers 2] [--samples 50] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from support.stack import drop_pg_database, free_port, make_stack, wait_for_status  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 4096},
}
POLL_EVERY_S = 0.001
BARE_APP = textwrap.dedent('''
    from fastapi import FastAPI
    app = FastAPI()
    @app.get("/bare")
    async def bare():
        return {"id": "job_0", "status": "running", "progress": {"step": 10, "fraction": 0.5}}
''')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def submit_to_running(client: httpx.Client, samples: int) -> list[tuple[float, float]]:
    """Per sample: (the HTTP POST's own time, from its answer until a poll shows running), ms."""
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        job = client.post("/v1/jobs", json=SPEC).json()
        answered = time.perf_counter()
        while client.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued":
            time.sleep(POLL_EVERY_S)
        latencies.append(((answered - started) * 1000, (time.perf_counter() - answered) * 1000))
        wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout=120)
        time.sleep(1.5)  # the worker finishes settling the job: measure on an idle worker
    return latencies


def celery_round_trip(broker_url: str, samples: int, home: Path) -> list[float]:
    """apply_async of an empty task until it starts (the task records perf_counter in a file)."""
    module = home / "bare_tasks.py"
    module.write_text(textwrap.dedent(f'''
        import time
        from celery import Celery
        app = Celery("bare", broker="{broker_url}")
        app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=1, task_serializer="json", accept_content=["json"])
        @app.task(name="bare.ping")
        def ping(marker):
            with open(marker, "w") as f:
                f.write(repr(time.time()))
    '''))
    env = {**os.environ, "PYTHONPATH": str(home)}
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bare_tasks", "worker", "-c", "1", "--loglevel", "WARNING"],
                              cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    sys.path.insert(0, str(home))
    import bare_tasks  # type: ignore[import-not-found]

    try:
        time.sleep(4)
        latencies = []
        for i in range(samples + 5):
            marker = home / f"m{i}"
            started = time.time()
            bare_tasks.ping.apply_async(args=[str(marker)])
            while not marker.exists() or not marker.read_text():
                time.sleep(0.0005)
            if i >= 5:
                latencies.append((float(marker.read_text()) - started) * 1000)
        return latencies
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def wrk(url: str, headers: dict[str, str], seconds: int = 10, connections: int = 100) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"req_per_s": rate, "p50_ms": ms("50%"), "p99_ms": ms("99%"), "non_2xx": int(errors.group(1)) if errors else 0}


def bare_endpoint(workers: int, home: Path) -> dict[str, float]:
    (home / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--workers", str(workers),
                               "--log-level", "warning", "--no-access-log"], cwd=home, start_new_session=True)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/bare", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        wrk(f"http://127.0.0.1:{port}/bare", {}, seconds=2)
        return wrk(f"http://127.0.0.1:{port}/bare", {})
    finally:
        server.terminate()
        server.wait(timeout=20)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="service latency and poll throughput")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench.service_load needs wrk, the load generator: apt-get install -y wrk")
    results: dict = {"workers": args.workers, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="adamant-load-") as tmp:
        home = Path(tmp)
        stack = make_stack("cluster", home / "stack", ADAMANT_HEARTBEAT_S="5", ADAMANT_REAPER_INTERVAL_S="2")
        try:
            stack.start_api(workers=args.workers)
            stack.start_worker()
            with stack.client() as admin:
                key = admin.post("/v1/tenants", json={"name": "bench", "max_concurrent_jobs": 100}).json()["api_key"]
            # One client, one kept-alive connection, so one service process: the warm-up readies
            # the process that is measured (a cold process's first submit costs ~30 ms more:
            # statement compilation, auth lookup; not what an idle-worker latency is about).
            with stack.client(key) as client:
                submit_to_running(client, 3)  # warm-up: imports, pools, first trainer
                parts = submit_to_running(client, args.samples)
            latencies = [post + wait for post, wait in parts]
            results["submit_to_running_ms"] = {
                "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies), "n": len(latencies),
                "post_p50": percentile([p for p, _ in parts], 50), "post_p99": percentile([p for p, _ in parts], 99),
                "claim_p50": percentile([w for _, w in parts], 50), "claim_p99": percentile([w for _, w in parts], 99),
                "samples": [[round(p, 2), round(w, 2)] for p, w in parts],
            }
            stack.stop("worker")
            celery = celery_round_trip(stack.env["BROKER_URL"], args.samples, home)
            results["celery_round_trip_ms"] = {"p50": percentile(celery, 50), "p99": percentile(celery, 99), "n": len(celery)}

            with stack.client(key) as client:
                job = client.get("/v1/jobs", params={"limit": 1}).json()["jobs"][0]
                etag = client.get(f"/v1/jobs/{job['id']}").headers["ETag"]
                cursor = client.get(f"/v1/jobs/{job['id']}/metrics", params={"limit": 10000}).json()["next_cursor"]
            auth = {"Authorization": f"Bearer {key}"}
            base = stack.base_url + f"/v1/jobs/{job['id']}"
            wrk(base, auth, seconds=2)
            results["poll_status"] = wrk(base, auth)
            results["poll_status_304"] = wrk(base, {**auth, "If-None-Match": etag})
            results["poll_metrics_incremental"] = wrk(f"{base}/metrics?after={cursor}", auth)
        finally:
            stack.stop_all()
            if stack.database_url:
                drop_pg_database(stack.database_url)
        results["bare_fastapi"] = bare_endpoint(args.workers, home)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def print_table(r: dict) -> None:
    print(f"service load — {r['cpu_count']} cores, uvicorn --workers {r['workers']}, PostgreSQL + Redis on loopback, load from wrk -t2 -c100")
    s, c = r["submit_to_running_ms"], r["celery_round_trip_ms"]
    print(f"submit -> running (HTTP POST until a poll shows running): p50 {s['p50']:.1f} ms  p99 {s['p99']:.1f} ms  (n={s['n']})")
    if "post_p50" in s:
        print(f"  of which the POST itself:                                p50 {s['post_p50']:.1f} ms  p99 {s['post_p99']:.1f} ms")
        print(
            f"  of which answered -> a poll shows running:               p50 {s['claim_p50']:.1f} ms"
            f"  p99 {s['claim_p99']:.1f} ms  (max of the sum {s['max']:.1f} ms)"
        )
    print(f"bare Celery round trip (apply_async -> task starts):      p50 {c['p50']:.1f} ms  p99 {c['p99']:.1f} ms  (n={c['n']})")
    bare = r["bare_fastapi"]["req_per_s"]
    print(f"{'endpoint':<44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'non-2xx':>8}")
    for name in ("poll_status", "poll_status_304", "poll_metrics_incremental", "bare_fastapi"):
        row = r[name]
        print(f"{name:<44} {row['req_per_s']:>9,.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['req_per_s'] / bare:>7.2f}x {row['non_2xx']:>8}")


if __name__ == "__main__":
    main()

"""Faults on real processes: a killed trainer, a paused worker, a restarted API or Redis.

Each test owns its stack (it kills things). What must hold, whatever happens: every job ends
in one terminal state, trained to completion from its checkpoints, with each metric step once.
"""

from __future__ import annotations

import io
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from adamant.scoring import load_scorer
from support.data import synthetic_customers
from support.processes import CONT, KILL, STOP, pids_with, signal_group, trainer_pid, wait_gone
from support.stack import (
    Stack,
    all_metrics,
    create_tenant,
    free_port,
    job_report,
    wait_for_job,
    wait_for_status,
    wait_until,
)

# Up to 15 minutes each: a loaded CI machine, fifty jobs, ten restarts (pyproject's default is 10).
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def job_spec(epochs: int = 12, **extra: object) -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [32, 16], "dropout": 0.1},
        "training": {"epochs": epochs, "batch_size": 1024, "log_every_steps": 4, "seed": 1},
        "checkpointing": {"every_epochs": 1, "keep_last": 2},
        **extra,
    }


def assert_each_step_once(points: list[dict]) -> None:
    """In sequence order, every metric's steps strictly increase: nothing replayed twice."""
    by_name: dict[str, list[int]] = {}
    for point in sorted(points, key=lambda p: p["seq"]):
        by_name.setdefault(point["name"], []).append(point["step"])
    for name, steps in by_name.items():
        assert steps == sorted(set(steps)), f"{name}: steps repeat or go back: {steps}"


def download_best(client, job_id: str, into: Path) -> Path:  # type: ignore[no-untyped-def]
    reply = client.get(f"/v1/jobs/{job_id}/checkpoints/best/download")
    assert reply.status_code == 200, reply.text
    with tarfile.open(fileobj=io.BytesIO(reply.content)) as tar:
        tar.extractall(into, filter="data")
    return next(into.iterdir())


def checkpoint_steps(client, job_id: str) -> list[int]:  # type: ignore[no-untyped-def]
    return [c["step"] for c in client.get(f"/v1/jobs/{job_id}/checkpoints").json()["checkpoints"]]


def test_trainer_killed_ten_times_resumes_from_checkpoints_and_succeeds(own_stack, tmp_path: Path) -> None:
    stack: Stack = own_stack("cluster")
    stack.start_api()
    stack.start_worker()
    key = create_tenant(stack, "kill9")
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json=job_spec(epochs=30, max_restarts=12)).json()
        kills = 0
        while kills < 10:
            pid = trainer_pid(job["id"])
            seen = set(checkpoint_steps(client, job["id"]))
            # Kill only after this attempt has written a checkpoint of its own: each restart
            # must resume from a checkpoint, and training must make progress between kills.
            deadline = time.monotonic() + 120
            while not (set(checkpoint_steps(client, job["id"])) - seen):
                if time.monotonic() > deadline:
                    state = client.get(f"/v1/jobs/{job['id']}").json()
                    raise AssertionError(
                        f"no new checkpoint after {kills} kills: {state['status']} attempt {state['attempt']} "
                        f"step {state['progress']}\n{stack.log_tail('worker', 60)}"
                    )
                time.sleep(0.1)
            signal_group(pid, KILL)
            wait_gone(pid)
            kills += 1
        done = wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout=300, stack=stack)
        points = all_metrics(client, job["id"])
        best = download_best(client, job["id"], tmp_path / "best")
    assert done["status"] == "succeeded", done["error"]
    assert done["attempt"] == 11
    resumed = [e for e in done["history"] if e["to_status"] == "queued" and e["reason"] and "SIGKILL" in e["reason"]]
    assert len(resumed) == 10
    assert done["result"]["resumed_from_step"] > 0
    assert_each_step_once(points)
    assert max(p["step"] for p in points if p["name"] == "val_auc") == done["result"]["step"]
    scorer = load_scorer(best)
    assert scorer.task == "binary_classification" and scorer.manifest["metrics"]["val_auc"] > 0.7


def test_a_paused_worker_loses_its_job_and_its_writes_are_refused(own_stack) -> None:
    stack: Stack = own_stack("cluster", ADAMANT_LEASE_TTL_S="8")  # 4 s lapsed under a loaded full run
    stack.start_api()
    first = stack.start_worker("first")
    key = create_tenant(stack, "pause")
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json=job_spec(epochs=30)).json()
        running = wait_for_status(client, job["id"], {"running"})
        pid = trainer_pid(job["id"])
        wait_for_job(client, job["id"], lambda j: j["progress"]["step"] >= 10, "step 10", timeout=120, stack=stack)
        # Freeze the whole first worker: its Celery processes and its trainer's group.
        signal_group(first.pid, STOP)
        # On a loaded machine a 4 s lease can lapse before the freeze and the first worker take the
        # job again itself: the frozen attempt is whichever holds it now, its trainers every one left.
        frozen = client.get(f"/v1/jobs/{job['id']}").json()["attempt"]
        trainers = pids_with("worker.trainer_process", job["id"]) or [pid]
        for trainer in trainers:
            signal_group(trainer, STOP)
        stack.start_worker("second")
        taken = wait_for_status_where(client, job["id"], lambda j: j["attempt"] > frozen and j["status"] == "running", 90)
        assert taken["worker"].startswith("second")
        for trainer in trainers:
            signal_group(trainer, CONT)
        signal_group(first.pid, CONT)
        for trainer in trainers:
            wait_gone(trainer, timeout=60)  # the old trainer's next write is refused: it stops
        done = wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout=300, stack=stack)
        points = all_metrics(client, job["id"])
    assert running["attempt"] == 1
    # A loaded machine may lapse the second worker's lease too (attempt 4 in one full run): the job still
    # ends on a later attempt with every step once, and the frozen worker's writes were refused.
    assert done["status"] == "succeeded" and done["attempt"] >= taken["attempt"], done["error"]
    assert f"job {job['id']}: lease {frozen} is no longer ours" in stack.log_tail("first", 400)
    assert_each_step_once(points)


def wait_for_status_where(client, job_id: str, condition, timeout: float) -> dict:  # type: ignore[no-untyped-def]
    return wait_for_job(client, job_id, condition, "the condition", timeout)


def test_restarting_the_api_mid_job_changes_nothing_for_the_job(own_stack) -> None:
    stack: Stack = own_stack("cluster")
    stack.start_api()
    stack.start_worker()
    key = create_tenant(stack, "api-restart")
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json=job_spec(epochs=8)).json()
        wait_for_status(client, job["id"], {"running"})
        before = client.get(f"/v1/jobs/{job['id']}/metrics").json()["next_cursor"]
        stack.stop("api", signal.SIGKILL)
        time.sleep(2)
        stack.start_api()
        page = client.get(f"/v1/jobs/{job['id']}/metrics", params={"after": before}).json()
        done = wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout=300, stack=stack)
    assert done["status"] == "succeeded" and done["attempt"] == 1
    assert all(p["seq"] > before for p in page["points"])


def start_redis(port: int, directory: Path) -> subprocess.Popen:
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
        assert time.monotonic() < deadline, "redis did not start"
        time.sleep(0.1)
    return process


def test_redis_restarted_with_fifty_jobs_queued_loses_none_and_runs_none_twice(own_stack, tmp_path: Path) -> None:
    port = free_port()
    redis = start_redis(port, tmp_path / "redis")
    stack: Stack = own_stack("cluster", BROKER_URL=f"redis://127.0.0.1:{port}/0", ADAMANT_DISPATCH_STALE_S="5")
    try:
        stack.start_api()
        stack.start_worker("w1", concurrency=2)
        key = create_tenant(stack, "redis-restart")
        synthetic_customers(rows=600).to_csv(stack.home / "files" / "customers.csv", index=False)
        spec = {
            "task": "binary_classification",
            "dataset": {"ref": f"file:{stack.home / 'files' / 'customers.csv'}", "target": "converted"},
            "model": {"type": "logistic"},
            "training": {"epochs": 2, "batch_size": 100, "log_every_steps": 2},
        }
        with stack.client(key) as client:
            ids = [client.post("/v1/jobs", json={**spec, "name": f"j{i}"}).json()["id"] for i in range(50)]
            wait_for_status(client, ids[0], {"running", "succeeded"})
            redis.kill()  # no AOF, no RDB: every queued message is gone
            redis.wait()
            time.sleep(3)
            redis = start_redis(port, tmp_path / "redis")
            finished = [wait_for_status(client, job_id, {"succeeded", "failed"}, timeout=600) for job_id in ids]
            for job in finished:
                assert job["status"] == "succeeded", (job["id"], job["error"])
                assert job["attempt"] == 1, job["id"]
                assert [e["to_status"] for e in job["history"]].count("running") == 1
                assert_each_step_once(all_metrics(client, job["id"]))
    finally:
        redis.kill()
        redis.wait()


def test_a_worker_stopped_mid_job_drains_it_and_another_worker_resumes_it(own_stack) -> None:
    stack: Stack = own_stack("cluster")
    stack.start_api()
    first = stack.start_worker("first")
    key = create_tenant(stack, "drain")
    with stack.client(key) as client:
        job = client.post("/v1/jobs", json=job_spec(epochs=40)).json()
        wait_for_status(client, job["id"], {"running"})
        wait_until(lambda: checkpoint_steps(client, job["id"]), "a first checkpoint", 120,
                   lambda: job_report(client, job["id"], stack=stack))
        stack.start_worker("second")
        started = time.monotonic()
        first.send_signal(signal.SIGTERM)  # what `docker stop` sends the worker's main process
        first.wait(timeout=60)
        stopped_in = time.monotonic() - started
        done = wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout=300, stack=stack)
        points = all_metrics(client, job["id"])
    assert stopped_in < 30, f"the worker took {stopped_in:.0f}s to stop"
    assert done["status"] == "succeeded" and done["attempt"] == 2, done["error"]
    history = [(e["to_status"], e["reason"] or "") for e in done["history"]]
    assert any(to == "queued" and "shut down" in why for to, why in history), history
    assert done["worker"].startswith("second") and done["result"]["resumed_from_step"] > 0
    assert_each_step_once(points)

"""Property-based fuzzing of the live API with schemathesis: no 5xx, no schema violations.

Starts the service on the embedded defaults or on PostgreSQL + Redis, gives a tenant one of
everything (an upload, a trained job, its checkpoint and a scoring job, a sweep, a comparison, a
spare API key) so routes with
an id reach their logic instead of answering 404, stops the worker (generated jobs stay
queued), and runs `st run` with every check (see schemathesis.toml) against /openapi.json.
A run passes only when schemathesis exits 0 with no failure, no error and no warning that
says an operation went untested. One schemathesis worker: two threads hit a race in
hypothesis (an "AST constructor recursion depth mismatch" error). The test suite runs a shorter version.

Run: `python -m bench.fuzz_api [--examples 100] [--kind cluster]`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from support.stack import Stack, drop_pg_database, make_stack, wait_for_status  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPEC = {
    "task": "binary_classification",
    "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
    "model": {"type": "logistic"},
    "training": {"epochs": 1, "batch_size": 2048},
}


@dataclass
class FuzzRun:
    exit_code: int
    generated: int
    failures: int
    errors: int
    output: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and self.failures == 0 and self.errors == 0

    def summary(self) -> str:
        start = self.output.find("FAILURES")
        if start < 0:
            start = self.output.find("ERRORS")
        if start < 0:
            start = max(0, self.output.find("WARNINGS"))
        return self.output[start:][:12000]


def seed_tenant(stack: Stack) -> dict[str, str]:
    """One of each thing a route's id can name, owned by a fresh tenant; ids as ADAMANT_FUZZ_* variables."""
    with stack.client() as admin:
        tenant = admin.post("/v1/tenants", json={"name": "fuzz", "max_concurrent_jobs": 1000}).json()
        patched = admin.post("/v1/tenants", json={"name": "fuzz-patched"}).json()  # PATCHed by the fuzzer, not used
    with stack.client(tenant["api_key"]) as client:
        hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})  # nothing listens
        spare_hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/spare", "events": ["model.drift"]})
        assert hook.status_code == spare_hook.status_code == 201, hook.text
        dataset = client.post("/v1/datasets", files={"file": ("t.csv", b"x,y\n1,0\n2,1\n3,0\n4,1\n", "text/csv")})
        assert dataset.status_code == 201, dataset.text
        job = client.post("/v1/jobs", json=SPEC).json()
        done = wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout=300, stack=stack)
        assert done["status"] == "succeeded", done["error"]
        checkpoint = client.get(f"/v1/jobs/{job['id']}/checkpoints").json()["checkpoints"][0]
        scoring = client.post(f"/v1/jobs/{job['id']}/predictions", json={"dataset": {"ref": "builtin:bank-marketing"}})
        assert scoring.status_code == 202, scoring.text
        scored = wait_for_status(client, scoring.json()["id"], {"succeeded", "failed"}, timeout=300, stack=stack)
        assert scored["status"] == "succeeded", scored["error"]
        # A model with two versions of the job: the fuzzer may move `staging`; `production` stays on
        # version 1, so deleting it is always a 409 (a deleted version would be a 404 ever after).
        assert client.post("/v1/models", json={"name": "fuzz-model", "task": SPEC["task"]}).status_code == 201
        for _ in range(2):
            assert client.post("/v1/models/fuzz-model/versions", json={"job_id": job["id"]}).status_code == 201
        assert client.put("/v1/models/fuzz-model/aliases/production", json={"version": 1}).status_code == 200
        run = client.post("/v1/models/fuzz-model/monitor-runs", json={"dataset": {"ref": "builtin:bank-marketing"}})
        schedule = client.post("/v1/models/fuzz-model/schedules", json={"cron": "0 2 * * *", "dataset": {"ref": "builtin:bank-marketing"}})
        assert run.status_code == 202 and schedule.status_code == 201, (run.text, schedule.text)
        delivery = client.get(f"/v1/webhooks/{hook.json()['id']}/deliveries").json()[0]
        stack.stop("worker")  # from here on, generated jobs (thousands) stay queued
        sweep = client.post("/v1/sweeps", json={"base": SPEC, "method": "grid", "trials": 1,
                                                "space": {"optimizer.lr": {"type": "choice", "values": [0.01]}}})
        comparison = client.post("/v1/comparisons", json={"base": SPEC, "optimizers": ["sgd"]})
        assert sweep.status_code == comparison.status_code == 202, (sweep.text, comparison.text)
        # Keys the fuzzer may revoke and rotate: never the one it signs in with.
        spare_key = client.post("/v1/keys", json={"name": "fuzz-spare"})
        assert spare_key.status_code == 201, spare_key.text
    with stack.client() as admin:
        patched_key = admin.get(f"/v1/tenants/{patched['tenant_id']}/keys").json()["keys"][0]
    return {
        "ADAMANT_FUZZ_KEY": tenant["api_key"],
        "ADAMANT_FUZZ_ADMIN_KEY": stack.admin_key,
        "ADAMANT_FUZZ_TENANT_ID": patched["tenant_id"],
        "ADAMANT_FUZZ_DATASET_ID": dataset.json()["id"],
        "ADAMANT_FUZZ_JOB_ID": job["id"],
        "ADAMANT_FUZZ_SCORING_JOB_ID": scored["id"],
        "ADAMANT_FUZZ_CHECKPOINT_ID": checkpoint["id"],
        "ADAMANT_FUZZ_SWEEP_ID": sweep.json()["id"],
        "ADAMANT_FUZZ_COMPARISON_ID": comparison.json()["id"],
        "ADAMANT_FUZZ_KEY_ID": spare_key.json()["id"],
        "ADAMANT_FUZZ_TENANT_KEY_ID": patched_key["id"],
        "ADAMANT_FUZZ_MODEL": "fuzz-model",
        "ADAMANT_FUZZ_RUN_ID": run.json()["id"],
        "ADAMANT_FUZZ_SCHEDULE_ID": schedule.json()["id"],
        "ADAMANT_FUZZ_WEBHOOK_ID": hook.json()["id"],
        "ADAMANT_FUZZ_SPARE_WEBHOOK_ID": spare_hook.json()["id"],
        "ADAMANT_FUZZ_DELIVERY_ID": delivery["id"],
    }


def fuzz(kind: str, examples: int, seed: int = 1) -> FuzzRun:
    """One schemathesis run against a fresh, seeded stack."""
    with tempfile.TemporaryDirectory(prefix="adamant-fuzz-") as tmp:
        stack = make_stack(kind, Path(tmp) / "stack", ADAMANT_WEBHOOK_ALLOW_PRIVATE="true")  # the seeded webhook's 127.0.0.1
        try:
            stack.start_api()
            stack.start_worker(queues="cpu")
            ids = seed_tenant(stack)
            command = [
                str(Path(sys.executable).parent / "st"), "--config-file", str(REPO / "schemathesis.toml"), "run",
                f"{stack.base_url}/openapi.json",
                "--max-examples", str(examples), "--seed", str(seed), "--no-color",
            ]
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env={**os.environ, **ids},
                                  timeout=1800)
            output = done.stdout + done.stderr
        finally:
            stack.stop_all()
            if stack.database_url:
                drop_pg_database(stack.database_url)
    return FuzzRun(done.returncode, _count(r"(\d+) generated", output), _count(r"(\d+) unique failures?", output),
                   _count(r"(\d+) errors?\b", output), output)


def _count(pattern: str, output: str) -> int:
    """A number from schemathesis's closing summary ("5181 generated, 5181 passed, 3 failed"), 0 if absent."""
    summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output
    found = re.search(pattern, summary)
    return int(found.group(1)) if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="schemathesis against the live API")
    parser.add_argument("--examples", type=int, default=100, help="max examples per operation and phase")
    parser.add_argument("--kind", choices=["embedded", "cluster"], default="cluster")
    args = parser.parse_args(argv)
    run = fuzz(args.kind, args.examples)
    print(run.output[run.output.find("SUMMARY") - 40:] if "SUMMARY" in run.output else run.output[-4000:])
    print(f"schemathesis on the {args.kind} stack: {run.generated} generated cases, {run.failures} failures, "
          f"{run.errors} errors, exit code {run.exit_code}")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main())

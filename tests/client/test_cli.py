"""The `adamant` command against a live service: real API and worker processes, the CLI run as a
user runs it (a subprocess with ADAMANT_URL/ADAMANT_API_KEY), its stdout, stderr and exit code.

One stack and one tenant for the module; the worker trains one job at a time, so the tests run
in file order: the quick ones, then one finished job every artifact command reads, then the
failing and cancelled jobs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from support.stack import REPO, Stack, create_tenant, make_stack, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADAMANT = [sys.executable, "-m", "client.cli"]


class Cli:
    """Runs `adamant ...` with this tenant's URL and key in the environment."""

    def __init__(self, stack: Stack, key: str, home: Path) -> None:
        self.stack, self.key, self.home = stack, key, home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ADAMANT_")}
        self.env.update({
            "ADAMANT_URL": stack.base_url, "ADAMANT_API_KEY": key,
            "ADAMANT_CONFIG": str(home / "no-config.json"),  # never the user's own login
            "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1",
        })

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ADAMANT, *args], cwd=self.home, env=env or self.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = make_stack("embedded", tmp_path_factory.mktemp("client-stack"))
    try:
        stack.start_api()
        stack.start_worker(queues="cpu")
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="module")
def adamant(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(stack, create_tenant(stack, "cli-user"), tmp_path_factory.mktemp("cli-home"))


def write_spec(cli: Cli, name: str, spec: dict) -> str:
    (cli.home / name).write_text(json.dumps(spec))
    return name


def example(name: str, **training: object) -> dict:
    spec = json.loads((REPO / "examples" / name).read_text())
    spec["training"] = {**spec.get("training", {}), **training}
    return spec


def small_bank_spec(**training: object) -> dict:
    return {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [16]},
        "training": {"epochs": 1, "batch_size": 1024, "log_every_steps": 5, **training},
    }


# --- no training needed ---------------------------------------------------------------------


def test_an_invalid_spec_prints_each_field_error_and_exits_2(adamant: Cli) -> None:
    spec = example("cdnow-spend-regression.json", epochs=0)
    spec["optimizer"]["lr"] = -1
    result = adamant("submit", write_spec(adamant, "invalid.json", spec), "--follow")
    assert result.returncode == 2, result.stderr
    assert "Invalid request (422)" in result.stderr
    assert "optimizer.lr: " in result.stderr and "training.epochs: " in result.stderr
    assert "Traceback" not in result.stderr


def test_a_yaml_spec_that_is_not_a_mapping_exits_2_before_any_request(adamant: Cli) -> None:
    (adamant.home / "list.yaml").write_text("- task: regression\n")
    result = adamant("submit", "list.yaml")
    assert result.returncode == 2 and "a spec is a mapping" in result.stderr


def test_an_unknown_job_is_a_404_exit_2(adamant: Cli) -> None:
    result = adamant("status", "job_doesnotexist")
    assert result.returncode == 2
    assert "Not found (404)" in result.stderr


def test_a_wrong_key_says_how_to_fix_it(adamant: Cli) -> None:
    result = adamant("status", "job_x", env={**adamant.env, "ADAMANT_API_KEY": "not-a-key"})
    assert result.returncode == 2 and "Unauthorized (401)" in result.stderr and "adamant login" in result.stderr


def test_login_stores_url_and_key_privately_and_later_commands_use_them(adamant: Cli) -> None:
    config = adamant.home / "login" / "config.json"
    env = {k: v for k, v in adamant.env.items() if k not in ("ADAMANT_URL", "ADAMANT_API_KEY")}
    env["ADAMANT_CONFIG"] = str(config)
    logged_in = adamant("login", "--url", adamant.stack.base_url, "--key", adamant.key, env=env)
    assert logged_in.returncode == 0, logged_in.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"url": adamant.stack.base_url, "api_key": adamant.key}
    listed = adamant("jobs", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    refused = adamant("login", "--url", adamant.stack.base_url, "--key", "wrong", env={**env, "ADAMANT_CONFIG": str(config) + ".2"})
    assert refused.returncode == 2 and not Path(str(config) + ".2").exists()


def test_datasets_upload_prints_the_id_to_use_in_a_spec(adamant: Cli) -> None:
    (adamant.home / "customers.csv").write_text("customer_id;age;spend;converted\nc1;34;12.5;yes\nc2;51;80;no\nc3;29;3.25;no\n")
    result = adamant("datasets", "upload", "customers.csv", "--name", "three customers")
    assert result.returncode == 0, result.stderr
    dataset_id = result.stdout.strip()
    assert dataset_id and f"dataset:{dataset_id}" in result.stderr and "3 rows" in result.stderr
    shown = adamant("datasets", "show", dataset_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == "three customers"


# --- one finished job, read back by every artifact command ------------------------------------


@pytest.fixture(scope="module")
def followed(adamant: Cli) -> tuple[str, subprocess.CompletedProcess[str]]:
    spec = example("cdnow-spend-regression.json", epochs=2, log_every_steps=5)
    result = adamant("submit", write_spec(adamant, "spend.json", spec), "--follow", "--interval", "0.3", timeout=180)
    return result.stdout.split()[0] if result.stdout.strip() else "", result


def test_submit_follow_shows_progress_then_the_final_metrics_and_exits_0(followed: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    job_id, result = followed
    assert result.returncode == 0, result.stderr
    assert job_id.startswith("job_")
    assert f"job {job_id} succeeded" in result.stdout
    assert "val_rmse" in result.stdout and "best checkpoint" in result.stdout  # the metrics table
    assert "epoch 2.00" in result.stderr  # each evaluation as it came


def test_status_metrics_and_logs_of_the_finished_job(adamant: Cli, followed: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    job_id, _ = followed
    status = adamant("status", job_id)
    assert status.returncode == 0, status.stderr
    assert "succeeded" in status.stdout and "val_rmse" in status.stdout
    assert json.loads(adamant("status", job_id, "--json").stdout)["status"] == "succeeded"

    metrics = adamant("metrics", job_id, "--names", "loss,val_rmse")
    assert metrics.returncode == 0, metrics.stderr
    rows = [line.split("\t") for line in metrics.stdout.splitlines()]
    assert rows[0] == ["step", "epoch", "name", "value"]
    assert {r[2] for r in rows[1:]} == {"loss", "val_rmse"}
    assert sum(r[2] == "val_rmse" for r in rows[1:]) == 2

    logs = adamant("logs", job_id)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip()


def test_checkpoints_download_best_writes_a_verified_checkpoint(adamant: Cli, followed: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    job_id, _ = followed
    listed = adamant("checkpoints", "list", job_id, "--json")
    assert listed.returncode == 0, listed.stderr
    best = next(c for c in json.loads(listed.stdout) if c["is_best"])
    result = adamant("checkpoints", "download", job_id, "--best", "--out", "best")
    assert result.returncode == 0, result.stderr
    assert f"checkpoint {best['id']}" in result.stdout and "verified" in result.stdout
    manifest = json.loads((adamant.home / "best" / "manifest.json").read_text())
    assert set(manifest["files"]) <= {p.name for p in (adamant.home / "best").iterdir()}


def test_predict_scores_each_row_with_the_jobs_model(adamant: Cli, followed: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    job_id, _ = followed
    rows = pd.DataFrame({
        "customer_id": ["a1", "a2", "a3"], "recency_days": [272, 20, 181], "frequency": [1, 9, 3],
        "monetary": [11.77, 40.0, 20.35], "total_spend": [11.77, 360.0, 61.06], "tenure_days": [272, 270, 271],
    })
    rows.to_csv(adamant.home / "rows.csv", index=False)
    result = adamant("predict", job_id, "rows.csv")
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(scored["customer_id"]) == ["a1", "a2", "a3"]
    assert scored["prediction"].notna().all()


def test_tensorboard_extracts_the_event_files(adamant: Cli, followed: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    job_id, _ = followed
    result = adamant("tensorboard", job_id, "--out", "tb")
    assert result.returncode == 0, result.stderr
    events = list((adamant.home / "tb").glob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    assert "tensorboard --logdir" in result.stdout


def test_logs_follow_prints_each_line_of_a_running_job_once_and_exits_when_it_ends(adamant: Cli) -> None:
    submitted = adamant("submit", write_spec(adamant, "logged.json", small_bank_spec(epochs=3)))
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    follow = subprocess.Popen(  # started while the job is queued or running: its lines arrive over time
        [*ADAMANT, "logs", job_id, "-f", "--interval", "0.2"], cwd=adamant.home, env=adamant.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stdout, stderr = follow.communicate(timeout=180)
    assert follow.returncode == 0, stderr
    with adamant.stack.client(adamant.key) as client:
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
        lines = client.get(f"/v1/jobs/{job_id}/logs", params={"after": 0, "limit": 10_000}).json()["lines"]
    printed = stdout.splitlines()  # "time  LEVEL  message" each
    assert len(printed) == len(lines), (stdout, lines)  # every line once: none repeated, none missed
    assert all(shown.endswith(line["message"]) for shown, line in zip(printed, lines)), stdout  # in order
    assert len(printed) >= 3


# --- jobs that do not succeed ---------------------------------------------------------------


def test_a_job_that_fails_in_the_worker_exits_1_with_the_reason(adamant: Cli) -> None:
    spec = small_bank_spec()
    spec["dataset"]["target"] = "subscribed"  # passes validation; only the worker's data load finds out
    result = adamant("submit", write_spec(adamant, "fails.json", spec), "--follow", "--interval", "0.3", timeout=120)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "failed" in result.stderr and "dataset_error" in result.stderr and "subscribed" in result.stderr
    assert "succeeded" not in result.stdout


def test_cancel_stops_a_long_job_and_resume_queues_it_again(adamant: Cli) -> None:
    long = example("cdnow-spend-regression.json", epochs=500, batch_size=64)
    submitted = adamant("submit", write_spec(adamant, "long.json", long))
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    with adamant.stack.client(adamant.key) as client:
        wait_for_status(client, job_id, {"running"}, timeout=60)
        cancelled = adamant("cancel", job_id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"{job_id} cancelling" in cancelled.stdout or f"{job_id} cancelled" in cancelled.stdout
        done = wait_for_status(client, job_id, {"cancelled", "failed", "succeeded"}, timeout=60)
        assert done["status"] == "cancelled", done["error"]

        again = adamant("cancel", job_id)  # a finished job cannot be cancelled: the service says why
        assert again.returncode == 2 and "(409)" in again.stderr

        adamant.stack.stop("worker")  # the last test: the resumed job stays queued, so cancel is immediate
        resumed = adamant("resume", job_id)
        assert resumed.returncode == 0, resumed.stderr
        assert f"{job_id} queued" in resumed.stdout
        stopped = adamant("cancel", job_id)
        assert stopped.returncode == 0 and f"{job_id} cancelled" in stopped.stdout


def test_models_register_alias_and_predict_by_name(adamant: Cli, followed: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    job_id, _ = followed
    assert adamant("models", "create", "spend", "--task", "regression").returncode == 0
    for expected in ("1", "2"):
        registered = adamant("models", "register", "spend", job_id)
        assert registered.returncode == 0 and registered.stdout.strip() == expected, registered.stderr
    moved = adamant("models", "alias", "spend", "production", "2", "--reason", "first release")
    assert moved.returncode == 0 and "spend@production: version none -> 2" in moved.stdout, moved.stderr
    stale = adamant("models", "alias", "spend", "production", "1", "--expected", "1")
    assert stale.returncode == 2 and "points at version 2, not 1" in stale.stderr  # a 409 is the user's to fix

    shown = adamant("models", "show", "spend")
    assert shown.returncode == 0 and "production" in shown.stdout and "val_rmse" in shown.stdout, shown.stdout
    assert "spend" in adamant("models", "list").stdout
    (adamant.home / "rows.json").write_text(json.dumps([{"customer_id": "a1", "recency_days": 272, "frequency": 1,
        "monetary": 11.77, "total_spend": 11.77, "tenure_days": 272}]))
    served = json.loads(adamant("models", "predict", "spend", "rows.json").stdout)
    assert served["version"] == 2 and served["alias"] == "production" and len(served["predictions"]) == 1
    history = adamant("models", "history", "spend")
    assert "production: none -> 2" in history.stdout and "first release" in history.stdout


def test_models_score_policy_schedules_and_runs_from_the_command_line(
    adamant: Cli, followed: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    job_id, _ = followed
    assert adamant("models", "create", "spend-nightly", "--task", "regression").returncode == 0
    assert adamant("models", "register", "spend-nightly", job_id).returncode == 0
    assert adamant("models", "alias", "spend-nightly", "production", "1").returncode == 0
    ref = json.loads(adamant("models", "show", "spend-nightly", "--json").stdout)["versions"][0]["dataset_ref"]

    scored = adamant("models", "score", "spend-nightly", ref)
    assert scored.returncode == 0, scored.stderr
    with adamant.stack.client(adamant.key) as client:  # queued behind other tests' jobs: that it exists is enough here
        job = client.get(f"/v1/jobs/{scored.stdout.strip()}").json()
    assert job["kind"] == "score" and job["parent_id"] == job_id and job["spec"]["dataset"]["ref"] == ref

    policy = json.loads(adamant("models", "policy", "spend-nightly", "--retrain-on", "never", "--margin", "0.5").stdout)
    assert (policy["retrain_on"], policy["margin"], policy["approval"]) == ("never", 0.5, "auto")
    assert json.loads(adamant("models", "policy", "spend-nightly").stdout) == policy  # shown, unchanged

    created = adamant("models", "schedule", "spend-nightly", "--cron", "0 2 * * *", "--timezone", "Europe/Paris", "--dataset", ref)
    assert created.returncode == 0 and "next run" in created.stderr, created.stderr
    schedule_id = created.stdout.strip()
    listed = adamant("models", "schedules", "spend-nightly")
    assert schedule_id in listed.stdout and "Europe/Paris" in listed.stdout, listed.stdout
    assert "paused" in adamant("models", "pause", schedule_id).stdout
    assert "next run" in adamant("models", "pause", schedule_id, "--resume").stdout
    bad = adamant("models", "schedule", "spend-nightly", "--cron", "at two every night", "--dataset", ref)
    assert bad.returncode == 2 and "cron" in bad.stderr

    assert json.loads(adamant("models", "runs", "spend-nightly", "--json").stdout) == []
    missing = adamant("models", "approve", "spend-nightly", "mrn_0000")
    assert missing.returncode == 2 and "not found" in missing.stderr

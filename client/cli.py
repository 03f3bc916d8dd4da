"""The `adamant` command: the Adamant service from a terminal, plus local training and scoring.

Commands that need torch (`train`, and `predict` of a local checkpoint) import the worker
lazily, so the client stays light where the worker is not installed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from client.api import TERMINAL_STATUSES, AdamantClient
from client.config import DEFAULT_URL, read_config, require_credentials, save_config
from client.display import (
    checkpoints_table,
    dataset_schema_table,
    datasets_table,
    duration,
    elapsed_s,
    failure_text,
    job_table,
    jobs_table,
    keys_table,
    metrics_table,
    models_table,
    number,
    runs_table,
    schedules_table,
    size,
    versions_table,
)
from client.exceptions import EXIT_FAILURE, EXIT_USER_ERROR, ApiError, ProblemError, UsageError
from client.follow import follow_job

HELP = """Adamant: training-as-a-service for marketing data.

Service commands read the URL and API key stored by `adamant login` (or ADAMANT_URL and
ADAMANT_API_KEY, which win over the file).

Exit codes: 0 done (a followed job succeeded); 1 a failure (a followed job failed or was
cancelled, the service could not be reached or erred (5xx), a download did not match its
checksum); 2 a user error (the service refused the request (4xx): a bad spec, key or id; an
unreadable file; a wrong command line); 130 interrupted while following (the job goes on).
"""

EXIT_INTERRUPTED = 130
JOB_EXIT_CODES = {"succeeded": 0, "failed": EXIT_FAILURE, "cancelled": EXIT_FAILURE}

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP, rich_markup_mode="markdown")
datasets_app = typer.Typer(no_args_is_help=True, help="Upload and inspect datasets on the service.")
checkpoints_app = typer.Typer(no_args_is_help=True, help="List and download a job's checkpoints.")
keys_app = typer.Typer(no_args_is_help=True, help="List, create, revoke and rotate your API keys.")
models_app = typer.Typer(no_args_is_help=True, help="Registered models: versions from jobs, aliases, predict by name.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(checkpoints_app, name="checkpoints")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

JsonOption = typer.Option(False, "--json", help="Print the service's JSON instead of a table.")


def service() -> AdamantClient:
    credentials = require_credentials()
    assert credentials.api_key is not None
    return AdamantClient(credentials.url, credentials.api_key)


def show(data: Any, table: Callable[[Any], Any], as_json: bool) -> None:
    """What a listing command prints: the service's JSON with --json, else the table made of it."""
    if as_json:
        print_json(data)
    else:
        out.print(table(data))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    """Say what is wrong on stderr; the Exit to raise (by default: the user's to fix)."""
    err.print(f"[red]error[/red]: {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


# --- local: train and score on this machine ----------------------------------------------------


@app.command()
def train(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="Job spec, JSON or YAML."),
    out: Path = typer.Option(..., "--out", help="Run directory: metrics.jsonl, checkpoints/, best/."),
    resume: bool = typer.Option(True, help="Continue from the newest checkpoint in --out if there is one."),
) -> None:
    """Train a job spec on this machine and print its metrics."""
    from worker.cli import train_command

    raise typer.Exit(train_command(spec, out, resume))


@app.command()
def predict(
    target: str = typer.Argument(..., help="A local checkpoint directory (e.g. DIR/best), or a job id on the service."),
    rows: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV/Parquet rows to score."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write CSV here instead of stdout."),
    top_k: int = typer.Option(10, help="Recommendation: items per user when rows give only users."),
    checkpoint: str = typer.Option("best", help="Job id only: 'best' or a checkpoint id."),
    items: Path | None = typer.Option(None, exists=True, dir_okay=False,
                                      help="Local checkpoint, recommendation: a table of item metadata joined to each recommended item."),
) -> None:
    """Score rows, one output row per input row, in order, with the id column (or row number).

    TARGET is a checkpoint directory when one exists at that path: it is scored on this machine
    (same preprocessing as training). Otherwise TARGET is a job id, and the service scores the
    rows with the job's model (POST /v1/jobs/{id}/predict, 5,000 rows a request).
    """
    local = Path(target)
    if local.is_dir():
        from worker.cli import predict_command

        raise typer.Exit(predict_command(local, rows, output, top_k, items))
    if local.exists() or os.sep in target or target.startswith("."):
        raise fail(f"{target} is not a checkpoint directory (nor a job id)")
    if items is not None:
        raise UsageError("--items joins item metadata to a local checkpoint's top-k; on the service, a scoring job "
                         "takes it: POST /v1/jobs/{id}/predictions with \"items\"")
    predict_remote(target, rows, output, top_k, checkpoint)


def predict_remote(job_id: str, rows_path: Path, output: Path | None, top_k: int, checkpoint: str) -> None:
    import pandas as pd

    from adamant.datasets import read_table
    from adamant.exceptions import DatasetError

    try:
        frame = read_table(rows_path)
    except (DatasetError, OSError, ValueError) as exc:
        raise UsageError(f"{rows_path}: {exc}") from None
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))  # NaN -> null, numpy -> JSON
    with service() as adamant:
        predictions = adamant.predict(job_id, rows, top_k=top_k, checkpoint=checkpoint)
    result = pd.DataFrame.from_records(predictions)
    if output is None:
        result.to_csv(sys.stdout, index=False)
    else:
        result.to_csv(output, index=False)
        err.print(f"wrote {len(result)} rows to {escape(str(output))}")


# --- the service: account and datasets -------------------------------------------------------


@app.command()
def login(
    url: str | None = typer.Option(None, help=f"Service URL (default: ADAMANT_URL, the stored one, or {DEFAULT_URL})."),
    key: str | None = typer.Option(None, help="API key; asked for (hidden) when not given."),
) -> None:
    """Check an API key against the service and store URL and key (mode 600) for later commands."""
    url = (url or os.environ.get("ADAMANT_URL") or read_config().get("url") or DEFAULT_URL).rstrip("/")
    if key is None:
        key = typer.prompt("API key", hide_input=True)
    with AdamantClient(url, key.strip()) as adamant:
        adamant.list_jobs(limit=1)
    path = save_config(url, key.strip())
    err.print(f"logged in to {escape(url)}; URL and key saved in {escape(str(path))}")


@datasets_app.command("upload")
def datasets_upload(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV (any delimiter), whitespace text or Parquet."),
    name: str | None = typer.Option(None, help="A name to list it by (default: the file name)."),
) -> None:
    """Upload a table; prints its id. Use `dataset:<id>` as a spec's dataset.ref."""
    with service() as adamant:
        dataset = adamant.upload_dataset(file, name)
    print(dataset["id"])
    err.print(f"uploaded {escape(dataset['name'])}: {dataset.get('rows')} rows, {size(dataset.get('size_bytes'))}; "
              f"use it as dataset.ref \"{dataset['ref']}\"")


@datasets_app.command("list")
def datasets_list(as_json: bool = JsonOption) -> None:
    """Your uploaded datasets, newest first."""
    with service() as adamant:
        datasets = adamant.list_datasets()
    show(datasets, datasets_table, as_json)


@datasets_app.command("show")
def datasets_show(dataset_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOption) -> None:
    """A dataset's columns: kind, missing values, range or top values."""
    with service() as adamant:
        dataset = adamant.get_dataset(dataset_id)
    show(dataset, dataset_schema_table, as_json)


@keys_app.command("list")
def keys_list(as_json: bool = JsonOption) -> None:
    """Your API keys, oldest first: id, name, first 8 characters, created, revoked (never the keys)."""
    with service() as adamant:
        keys = adamant.list_keys()
    show(keys, keys_table, as_json)


@keys_app.command("create")
def keys_create(name: str = typer.Option("default", help="A name to tell it apart (where it is used).")) -> None:
    """Create a key; prints it (the only time it is shown): store it now."""
    with service() as adamant:
        created = adamant.create_key(name)
    print(created["api_key"])
    err.print(f"key {created['id']} ({escape(created['name'])}) created; it is shown only this once")


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., metavar="ID"),
    force: bool = typer.Option(False, "--force", help="Even your last key (only an admin can give you a new one)."),
) -> None:
    """Revoke a key: it stops working at once."""
    with service() as adamant:
        revoked = adamant.revoke_key(key_id, force=force)
    out.print(f"key {revoked['id']} ({escape(revoked['name'])}) revoked at {revoked['revoked_at']}")


@keys_app.command("rotate")
def keys_rotate(
    key_id: str = typer.Argument(..., metavar="ID"),
    grace: float = typer.Option(0.0, "--grace", min=0, help="Seconds the old key keeps working (default: it stops now)."),
) -> None:
    """Replace a key: prints the new one (shown only this once); the old one stops now or after --grace."""
    with service() as adamant:
        created = adamant.rotate_key(key_id, grace_s=grace)
    print(created["api_key"])
    when = f"in {grace:g} s" if grace else "now"
    err.print(f"key {created['id']} replaces {key_id}, which stops working {when}; run `adamant login` with the new key")


# --- the service: the model registry ------------------------------------------------------------


@models_app.command("create")
def models_create(name: str = typer.Argument(...), task: str = typer.Option(..., "--task", help="The task its versions solve.")) -> None:
    """Register a model name (lower-case letters, digits, '_', '.', '-')."""
    with service() as adamant:
        created = adamant.create_model(name, task)
    out.print(f"model {escape(created['name'])} ({created['task']}) created")


@models_app.command("list")
def models_list(as_json: bool = JsonOption) -> None:
    """Your registered models with their latest version and aliases."""
    with service() as adamant:
        models = adamant.list_models()
    show(models, models_table, as_json)


@models_app.command("show")
def models_show(name: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """A model's versions: job, checkpoint step, validation metrics, dataset, aliases."""
    with service() as adamant:
        model = adamant.get_model(name)
    show(model, versions_table, as_json)


@models_app.command("register")
def models_register(name: str = typer.Argument(...), job_id: str = typer.Argument(..., metavar="JOB"),
                    checkpoint: str | None = typer.Option(None, "--checkpoint", help="A checkpoint id (default: the best).")) -> None:
    """Register a succeeded job's checkpoint as the model's next version; prints its number."""
    with service() as adamant:
        version = adamant.register_version(name, job_id, checkpoint_id=checkpoint)
    print(version["version"])


@models_app.command("alias")
def models_alias(
    name: str = typer.Argument(...), alias: str = typer.Argument(...), version: int = typer.Argument(...),
    expected: int | None = typer.Option(None, "--expected", help="Move only if the alias points at this version now."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the alias history."),
) -> None:
    """Point an alias (production, staging, ...) at a version; predict by name follows at once."""
    with service() as adamant:
        event = adamant.set_alias(name, alias, version, expected_version=expected, reason=reason)
    before = event["from_version"] if event["from_version"] is not None else "none"
    out.print(f"{escape(name)}@{escape(alias)}: version {before} -> {event['to_version']}")


@models_app.command("history")
def models_history(name: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Every move of the model's aliases, newest first: who, when, from and to."""
    with service() as adamant:
        events = adamant.alias_history(name)
    if as_json:
        print_json(events)
        return
    for e in events:
        out.print(f"{e['at']}  {escape(e['alias'])}: {e['from_version'] or 'none'} -> {e['to_version'] or 'none'}  "
                  f"by {escape(e['actor'])}" + (f"  ({escape(e['reason'])})" if e["reason"] else ""))


@models_app.command("predict")
def models_predict(
    name: str = typer.Argument(...),
    rows: Path = typer.Argument(..., exists=True, dir_okay=False, help="A JSON list of rows."),
    version: str = typer.Option("production", "--version", help="An alias or a version number."),
) -> None:
    """Score a JSON list of rows with the version an alias names now; prints the service's answer."""
    try:
        loaded = json.loads(rows.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"{rows}: not a JSON list of rows ({exc})") from None
    with service() as adamant:
        print_json(adamant.predict_model(name, loaded, version=version))


@models_app.command("score")
def models_score(name: str = typer.Argument(...), dataset: str = typer.Argument(..., help="The table's reference."),
                 version: str = typer.Option("production", "--version", help="An alias or a version number.")) -> None:
    """Batch-score a table with the version an alias names now; prints the scoring job's id."""
    with service() as adamant:
        print(adamant.score_model(name, dataset, version=version)["id"])


@models_app.command("policy")
def models_policy(
    name: str = typer.Argument(...),
    retrain_on: str | None = typer.Option(None, "--retrain-on", help="'retrain recommended', 'monitor' or 'never'."),
    margin: float | None = typer.Option(None, "--margin", help="How much better a challenger must be to be promoted."),
    approval: str | None = typer.Option(None, "--approval", help="'auto' or 'manual'."),
    max_metric_drop: float | None = typer.Option(None, "--max-metric-drop", help="On labelled rows: retrain past this drop."),
    retrain_dataset: str | None = typer.Option(None, "--retrain-dataset", help="The newest data to retrain on."),
) -> None:
    """Show the model's monitoring policy; with options, change those fields and keep the rest."""
    changes: dict[str, Any] = {"retrain_on": retrain_on, "margin": margin, "approval": approval,
                               "max_metric_drop": max_metric_drop,
                               "retrain_dataset": {"ref": retrain_dataset} if retrain_dataset else None}
    with service() as adamant:
        policy = adamant.get_policy(name)
        if any(value is not None for value in changes.values()):
            policy = adamant.set_policy(name, {**policy, **{k: v for k, v in changes.items() if v is not None}})
    print_json(policy)


@models_app.command("schedule")
def models_schedule(
    name: str = typer.Argument(...),
    cron: str = typer.Option(..., "--cron", help="Five fields: minute hour day month weekday, e.g. '0 2 * * *'."),
    dataset: str = typer.Option(..., "--dataset", help="The table each tick scores (or retrains on)."),
    timezone: str = typer.Option("UTC", "--timezone", help="An IANA time zone, e.g. Europe/Paris."),
    kind: str = typer.Option("score", "--kind", help="'score' (then the policy) or 'retrain'."),
    target: str = typer.Option("production", "--target", help="The alias it scores or retrains."),
) -> None:
    """Schedule a recurring scoring or retraining of the model; prints its id and next run."""
    with service() as adamant:
        created = adamant.create_schedule(name, {"cron": cron, "timezone": timezone, "kind": kind, "target": target,
                                                 "dataset": {"ref": dataset}})
    print(created["id"])
    err.print(f"next run {created['next_run_at']}")


@models_app.command("schedules")
def models_schedules(name: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """The model's schedules with their next run."""
    with service() as adamant:
        schedules = adamant.list_schedules(name)
    show(schedules, schedules_table, as_json)


@models_app.command("pause")
def models_pause(schedule_id: str = typer.Argument(...),
                 resume: bool = typer.Option(False, "--resume", help="Resume from the next tick instead.")) -> None:
    """Pause a schedule (or, with --resume, resume it from the next tick after now)."""
    with service() as adamant:
        schedule = adamant.pause_schedule(schedule_id, not resume)
    out.print(f"{schedule['id']}: " + ("paused" if schedule["paused"] else f"next run {schedule['next_run_at']}"))


@models_app.command("runs")
def models_runs(name: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """The model's monitoring runs, newest first: verdict, retraining, comparison, decision."""
    with service() as adamant:
        runs = adamant.monitor_runs(name)
    show(runs, runs_table, as_json)


@models_app.command("approve")
def models_approve(name: str = typer.Argument(...), run_id: str = typer.Argument(..., metavar="RUN"),
                   reject: bool = typer.Option(False, "--reject", help="Keep the challenger as a candidate instead.")) -> None:
    """Promote (or --reject) the challenger of a monitoring run awaiting approval."""
    with service() as adamant:
        run = adamant.approve_run(name, run_id, not reject)
    out.print(f"{run['id']}: {run['state']}: {escape(run['decision'] or '')}")


# --- the service: jobs -----------------------------------------------------------------------


def load_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text()
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not a readable JSON/YAML spec: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a spec is a mapping (task, dataset, model, ...), not {type(data).__name__}")
    return data


@app.command()
def validate(spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="Job spec, JSON or YAML.")) -> None:
    """Dry run on the service: the spec checked against its dataset, steps and checkpoint size
    estimated; nothing is queued."""
    with service() as adamant:
        report = adamant.validate(load_spec(spec))
    out.print(f"valid: {'yes' if report['valid'] else 'no'}")
    for key, value in {**report.get("dataset", {}), **report.get("estimate", {})}.items():
        if not isinstance(value, (dict, list)):
            out.print(f"  {escape(key)}: {escape(number(value))}")
    for warning in report.get("warnings", []):
        out.print(f"[yellow]warning[/yellow]: {escape(warning)}")
    if not report["valid"]:
        raise typer.Exit(EXIT_USER_ERROR)


@app.command()
def submit(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="Job spec, JSON or YAML."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Show progress until the job ends; exit with its outcome."),
    idempotency_key: str | None = typer.Option(None, help="Submitting again with the same key returns the same job."),
    interval: float = typer.Option(1.0, help="--follow: seconds between polls.", min=0.1),
) -> None:
    """Queue a training job; prints its id.

    With --follow: a progress bar (epoch, step, loss, ETA), each evaluation as it arrives, then
    the best and last metrics. Exits 0 if the job succeeded, 1 if it failed (printing the
    reason) or was cancelled; 2 if the service refused the spec (naming each bad field).
    """
    body = load_spec(spec)
    with service() as adamant:
        job = adamant.submit(body, idempotency_key)
        print(job["id"], flush=True)
        if not follow:
            err.print(f"{job['status']}; watch it with `adamant status {job['id']}`")
            return
        try:
            job = follow_job(adamant, job["id"], err, interval=interval)
        except KeyboardInterrupt:
            err.print(f"stopped following; the job goes on (`adamant cancel {job['id']}` stops it)")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(report_outcome(job))


def report_outcome(job: dict[str, Any]) -> int:
    """Print how a job ended; its exit code."""
    status = job["status"]
    result = job.get("result") or {}
    if status == "succeeded":
        reason = f", {result['stop_reason']}" if result.get("stop_reason") else ""
        out.print(f"job {job['id']} succeeded in {duration(elapsed_s(job))} (attempt {job.get('attempt')}{escape(reason)})")
        out.print(metrics_table(job.get("best_metrics") or {}, job.get("last_metrics") or {}))
        for segment in (result.get("summary") or {}).get("segments", []):
            out.print(escape(f"segment {segment['segment']}: {segment['size']} customers ({segment['share']:.1%}) {segment.get('profile', '')}"))
    elif status == "failed":
        err.print(f"[red]job {job['id']} failed[/red]: {escape(failure_text(job))}", soft_wrap=True)
    else:
        err.print(f"job {job['id']} cancelled at step {(job.get('progress') or {}).get('step', 0)}; "
                  f"`adamant resume {job['id']}` continues from its last checkpoint")
    return JOB_EXIT_CODES.get(status, EXIT_FAILURE)


@app.command()
def status(job_id: str = typer.Argument(..., metavar="JOB"), as_json: bool = JsonOption) -> None:
    """A job's status, progress, ETA, best metrics, error and history."""
    with service() as adamant:
        job, _ = adamant.get_job(job_id)
    assert job is not None  # asked without an ETag: never "not modified"
    show(job, job_table, as_json)


@app.command()
def jobs(
    status: list[str] = typer.Option([], "--status", "-s", help="Only jobs in this status (repeat for several)."),
    limit: int = typer.Option(20, min=1, max=200),
    as_json: bool = JsonOption,
) -> None:
    """Your jobs, newest first."""
    with service() as adamant:
        listed, _ = adamant.list_jobs(status or None, limit=limit)
    show(listed, jobs_table, as_json)


def poll_job_output(adamant: AdamantClient, job_id: str, drain: Callable[[], None], follow: bool, interval: float) -> None:
    """Drain once; with follow, keep draining until the job has ended (and its output with it)."""
    job: dict[str, Any] | None = None
    etag: str | None = None
    try:
        while True:
            if follow:
                fresh, etag = adamant.get_job(job_id, etag)
                job = fresh or job
            drain()
            if not follow or (job is not None and job["status"] in TERMINAL_STATUSES):
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


@app.command()
def metrics(
    job_id: str = typer.Argument(..., metavar="JOB"),
    names: str | None = typer.Option(None, help="Only these metrics, comma-separated (e.g. loss,val_auc)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new points until the job ends."),
    interval: float = typer.Option(1.0, min=0.1, help="--follow: seconds between polls."),
) -> None:
    """A job's metric points as tab-separated step, epoch, name, value."""
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else None
    cursor = 0

    def drain() -> None:
        nonlocal cursor
        while True:
            points, cursor = adamant.metrics(job_id, after=cursor, names=wanted)
            for p in points:
                epoch = "" if p.get("epoch") is None else f"{p['epoch']:.4f}"
                print(f"{p['step']}\t{epoch}\t{p['name']}\t{'' if p['value'] is None else repr(p['value'])}", flush=True)
            if not points:
                return

    print("step\tepoch\tname\tvalue")
    with service() as adamant:
        poll_job_output(adamant, job_id, drain, follow, interval)


@app.command()
def logs(
    job_id: str = typer.Argument(..., metavar="JOB"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until the job ends."),
    interval: float = typer.Option(1.0, min=0.1, help="--follow: seconds between polls."),
) -> None:
    """A job's log lines (its worker's and trainer's)."""
    cursor = 0

    def drain() -> None:
        nonlocal cursor
        while True:
            lines, cursor = adamant.logs(job_id, after=cursor)
            for line in lines:
                at = datetime.fromtimestamp(line["time"], tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if line.get("time") else ""
                print(f"{at}  {line.get('level', ''):<7}  {line['message']}", flush=True)
            if not lines:
                return

    with service() as adamant:
        poll_job_output(adamant, job_id, drain, follow, interval)


@app.command()
def cancel(job_id: str = typer.Argument(..., metavar="JOB")) -> None:
    """Cancel a job: a queued one at once, a running one at its next step (with a checkpoint)."""
    with service() as adamant:
        job = adamant.cancel(job_id)
    note = " (it stops at its next step, with a checkpoint)" if job["status"] == "cancelling" else ""
    out.print(f"{job['id']} {job['status']}{note}")


@app.command()
def resume(job_id: str = typer.Argument(..., metavar="JOB")) -> None:
    """Queue a cancelled or failed job again; it continues from its latest checkpoint."""
    with service() as adamant:
        job = adamant.resume(job_id)
    out.print(f"{job['id']} {job['status']}")


# --- the service: a job's artifacts ------------------------------------------------------------


@checkpoints_app.command("list")
def checkpoints_list(job_id: str = typer.Argument(..., metavar="JOB"), as_json: bool = JsonOption) -> None:
    """A job's checkpoints: step, validation metrics, size, sha256."""
    with service() as adamant:
        listed = adamant.checkpoints(job_id)
    show(listed, checkpoints_table, as_json)


@checkpoints_app.command("download")
def checkpoints_download(
    job_id: str = typer.Argument(..., metavar="JOB"),
    best: bool = typer.Option(False, "--best", help="The best checkpoint (the default)."),
    checkpoint_id: str | None = typer.Option(None, "--id", help="This checkpoint id instead of the best."),
    out_dir: Path | None = typer.Option(None, "--out", help="Directory to write (default: ./JOB-best or ./JOB-ID)."),
) -> None:
    """Download a checkpoint and verify it (manifest sha256 as listed, each file as the manifest
    records); the directory then scores rows locally: `adamant predict DIR rows.csv`."""
    if best and checkpoint_id:
        raise fail("give --best or --id, not both")
    wanted = checkpoint_id or "best"
    dest = out_dir or Path(f"{job_id}-{wanted}")
    with service() as adamant:
        entry = adamant.download_checkpoint(job_id, wanted, dest=dest)
    out.print(f"checkpoint {entry['id']} (step {entry.get('step')}) verified (sha256) and written to {escape(str(dest))}")


@app.command()
def tensorboard(
    job_id: str = typer.Argument(..., metavar="JOB"),
    out_dir: Path | None = typer.Option(None, "--out", help="Directory to write (default: ./tensorboard/JOB)."),
) -> None:
    """Download a job's TensorBoard event files; then run `tensorboard --logdir DIR`."""
    dest = out_dir or Path("tensorboard") / job_id
    with service() as adamant:
        written = adamant.tensorboard(job_id, dest)
    out.print(f"{len(written)} file(s) in {escape(str(dest))}; view them with: tensorboard --logdir {escape(str(dest))}")


def error_message(exc: Exception) -> str:
    if isinstance(exc, ProblemError) and exc.status == 401:
        return f"{exc}\n  check the key: `adamant login`, or ADAMANT_API_KEY"
    if isinstance(exc, ProblemError) and (exc.type or "").endswith("/last-key"):
        return f"{exc}\n  `adamant keys create` first, or `adamant keys revoke --force`"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def main() -> None:
    """The console script: errors become readable lines on stderr and their exit code (2 for
    what the user can fix, 1 otherwise)."""
    try:
        app()
    except ApiError as exc:
        err.print(f"[red]error[/red]: {escape(error_message(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        err.print(f"[red]error[/red]: {escape(error_message(exc))}", soft_wrap=True)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()

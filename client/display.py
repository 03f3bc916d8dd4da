"""How the service's jobs, datasets, checkpoints and metrics look on a terminal (rich renderables
and plain lines; nothing here talks to the service)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

# What the terminal shows of a job's metrics: the evaluation, not the optimizer's diagnostics.
EVALUATION_PREFIXES = ("val_", "train_loss")


def number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "nan" if isinstance(value, float) else "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return f"{value:.4g}"


def size(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "-"
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def elapsed_s(job: dict[str, Any]) -> float | None:
    try:
        start, end = job.get("started_at"), job.get("finished_at")
        if not start or not end:
            return None
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def is_evaluation(name: str) -> bool:
    return name.startswith(EVALUATION_PREFIXES) and not name.startswith("val_segment_share")


def evaluation_line(step: int, epoch: float | None, values: dict[str, Any]) -> str:
    """`step     258  epoch 2.00  val_auc=0.7948  val_loss=0.2973` (plain text)."""
    shown = "  ".join(f"{name}={number(value)}" for name, value in sorted(values.items()))
    at_epoch = f"  epoch {epoch:.2f}" if epoch is not None else ""
    return f"step {step:>7}{at_epoch}  {shown}"


def metrics_table(best: dict[str, Any], last: dict[str, Any], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("best checkpoint", justify="right")
    table.add_column("last", justify="right")
    for name in sorted(set(best) | set(last)):
        table.add_row(escape(name), number(best.get(name)), number(last.get(name)))
    return table


def data_phase_text(progress: dict[str, Any]) -> str | None:
    """`reading 1,200,000/10,000,000 rows, 850,000 rows/s, ETA 11s` while a job reads or prepares its
    table (progress.data); None once training has started or the job reports no data phase."""
    data = progress.get("data") or {}
    if data.get("phase") not in ("reading", "preparing") or progress.get("step"):
        return None
    total = f"/{data['rows_total']:,}" if data.get("rows_total") else ""
    parts = [f"{data['phase']} {data.get('rows_read') or 0:,}{total} rows"]
    if data.get("rows_per_s"):
        parts.append(f"{data['rows_per_s']:,.0f} rows/s")
    if data.get("eta_s") is not None:
        parts.append(f"ETA {duration(data['eta_s'])}")
    return ", ".join(parts)


def progress_text(progress: dict[str, Any]) -> str:
    if (reading := data_phase_text(progress)) is not None:
        return reading
    step, total = progress.get("step", 0), progress.get("total_steps")
    epoch, epochs = progress.get("epoch") or 0.0, progress.get("total_epochs")
    parts = [f"step {step}/{total}" if total else f"step {step}",
             f"epoch {epoch:.2f}/{epochs}" if epochs else f"epoch {epoch:.2f}",
             f"{100 * (progress.get('fraction') or 0):.0f}%"]
    if progress.get("eta_s") is not None:
        parts.append(f"ETA {duration(progress['eta_s'])}")
    return ", ".join(parts)


def failure_text(job: dict[str, Any]) -> str:
    """`dataset_error (user error: fix the spec or data): Column 'x' ...`"""
    error = job.get("error") or {}
    kind = error.get("type") or "error"
    failure_class = error.get("failure_class")
    hint = {"user": "user error: fix the spec or data", "infrastructure": "infrastructure failure"}.get(failure_class or "", failure_class)
    message = str(error.get("message") or "no message")
    located = [f"{key} {error[key]!r}" for key in ("path", "column", "row")
               if error.get(key) is not None and f"{key} {error[key]!r}" not in message]
    where = f" [{', '.join(located)}]" if located else ""
    return f"{kind} ({hint}): {message}{where}" if hint else f"{kind}: {message}{where}"


def job_table(job: dict[str, Any]) -> Table:
    """`adamant status`: one job, field by field."""
    table = Table(show_header=False, box=None, title=f"{job['id']}  {escape(job.get('name') or '')}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    status = job["status"] + (f" ({job['phase']})" if job.get("phase") else "")
    table.add_row("status", escape(status))
    table.add_row("task", escape(job.get("task", "")))
    table.add_row("attempt", f"{job.get('attempt', 0)} of at most {1 + job.get('max_restarts', 0)}")
    table.add_row("queue", f"{job.get('queue')} (device {job.get('device') or '-'}, worker {job.get('worker') or '-'})")
    table.add_row("progress", progress_text(job.get("progress") or {}))
    for label, key in (("created", "created_at"), ("started", "started_at"), ("finished", "finished_at")):
        if job.get(key):
            table.add_row(label, job[key])
    if job.get("error"):
        table.add_row("error", escape(failure_text(job)))
    best = job.get("best_metrics") or {}
    if best:
        table.add_row("best", escape("  ".join(f"{k}={number(v)}" for k, v in sorted(best.items()))))
    history = job.get("history") or []
    for event in history:
        table.add_row("history" if event is history[0] else "", escape(
            f"{event.get('at') or ''}  {event.get('from_status') or '-'} -> {event['to_status']}  {event.get('reason') or ''}"))
    return table


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("id", "name", "status", "progress", "best", "created"):
        table.add_column(column)
    for job in jobs:
        best = job.get("best_metrics") or {}
        monitored = next((f"{k}={number(v)}" for k, v in best.items() if k.startswith("val_")), "")
        progress = job.get("progress") or {}
        table.add_row(job["id"], escape(job.get("name") or ""), job["status"],
                      f"{100 * (progress.get('fraction') or 0):.0f}%", escape(monitored), job.get("created_at") or "")
    return table


def datasets_table(datasets: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("id", "name", "rows", "size", "format", "created"):
        table.add_column(column, justify="right" if column in ("rows", "size") else "left")
    for d in datasets:
        table.add_row(d["id"], escape(d.get("name") or ""), str(d.get("rows") if d.get("rows") is not None else "-"),
                      size(d.get("size_bytes")), d.get("format") or "-", d.get("created_at") or "")
    return table


def dataset_schema_table(dataset: dict[str, Any]) -> Table:
    schema = dataset.get("schema") or {}
    title = f"{dataset['id']}  {escape(dataset.get('name') or '')}  ({dataset.get('rows')} rows, {size(dataset.get('size_bytes'))}, ref {dataset.get('ref')})"
    table = Table(title=title, title_justify="left")
    for column in ("column", "kind", "missing", "distinct", "range / top values"):
        table.add_column(column)
    for column in schema.get("columns", []):
        if "min" in column:
            summary = f"{number(column.get('min'))} .. {number(column.get('max'))}"
        else:
            top = column.get("top") or []
            summary = ", ".join(str(t.get("value", t) if isinstance(t, dict) else t) for t in top[:5])
        table.add_row(escape(str(column.get("name"))), str(column.get("kind", "")), str(column.get("missing", "")),
                      str(column.get("distinct", "")), escape(summary))
    return table


def checkpoints_table(checkpoints: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("id", "step", "epoch", "best", "metrics", "size", "sha256"):
        table.add_column(column, justify="right" if column in ("step", "epoch", "size") else "left")
    for c in checkpoints:
        shown = "  ".join(f"{k}={number(v)}" for k, v in sorted((c.get("metrics") or {}).items()) if k.startswith("val_"))
        table.add_row(c["id"], str(c["step"]), number(c.get("epoch")), "best" if c.get("is_best") else "",
                      escape(shown), size(c.get("size_bytes")), c["sha256"][:16])
    return table


def keys_table(keys: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("id", "name", "prefix", "created", "last used", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(k["id"], escape(k.get("name") or ""), k.get("prefix") or "", k.get("created_at") or "",
                      k.get("last_used_at") or "", k.get("revoked_at") or "")
    return table


def models_table(models: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("name", "task", "latest version", "aliases", "created"):
        table.add_column(column)
    for m in models:
        aliases = ", ".join(f"{alias}={version}" for alias, version in m["aliases"].items())
        table.add_row(escape(m["name"]), m["task"], str(m.get("latest_version") or "-"), escape(aliases), m["created_at"])
    return table


def versions_table(model: dict[str, Any]) -> Table:
    table = Table(title=f"{escape(model['name'])} ({model['task']})")
    for column in ("version", "aliases", "job", "step", "metrics", "dataset", "created"):
        table.add_column(column)
    for v in model["versions"]:
        shown = ", ".join(f"{k}={number(x)}" for k, x in sorted(v["metrics"].items()) if k.startswith("val_"))
        table.add_row(str(v["version"]), escape(", ".join(v["aliases"])), v["job_id"], str(v["checkpoint_step"]),
                      shown, escape(v["dataset_ref"]), v["created_at"])
    return table


def schedules_table(schedules: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("id", "kind", "cron", "time zone", "target", "dataset", "next run", "runs"):
        table.add_column(column)
    for s in schedules:
        table.add_row(s["id"], s["kind"], escape(s["cron"]), s["timezone"], escape(s["target"]), escape(s["dataset"]["ref"]),
                      "paused" if s["paused"] else (s["next_run_at"] or "-"), str(s["runs"]))
    return table


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("run", "started", "state", "verdict", "champion", "challenger", "decision"):
        table.add_column(column)
    for r in runs:
        table.add_row(r["id"], r["created_at"], r["state"], r["verdict"] or "-", str(r["champion_version"] or "-"),
                      str(r["challenger_version"] or "-"), escape(r["decision"] or ""))
    return table

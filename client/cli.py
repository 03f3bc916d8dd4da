"""The `adamant` command: local training and scoring today; the HTTP client's commands join it.

Commands that need torch import the worker lazily, so the client stays light where the worker
is not installed.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Adamant: training-as-a-service for marketing data.")


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
    checkpoint: Path = typer.Argument(..., exists=True, file_okay=False, help="A checkpoint directory, e.g. DIR/best."),
    rows: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV/Parquet rows to score."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write CSV here instead of stdout."),
    top_k: int = typer.Option(10, help="Recommendation: items per user when rows give only users."),
) -> None:
    """Score rows with a trained checkpoint (same preprocessing as training)."""
    from worker.cli import predict_command

    raise typer.Exit(predict_command(checkpoint, rows, output, top_k))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

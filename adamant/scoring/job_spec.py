"""A scoring job's request and the spec it is stored with: torch-free, shared by service and worker.

The request is what a user posts to /v1/jobs/{id}/predictions; the job spec is what the
service stores on the scoring job (kind "score"): the request with the model's task and the
checkpoint it resolved, so a retried attempt scores with the very same weights.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from adamant.spec import DatasetSpec, Int, SpecModel, Task

OutputFormat = Literal["csv", "parquet"]


class ScoringDataset(SpecModel):
    """The table to score: the `ref` of a training spec's dataset, and how to read it."""

    ref: str = Field(
        ...,
        min_length=1,
        max_length=2048,
        description="builtin:<name>, dataset:<id> (an upload) or file:<path> under an allowed root.",
        examples=["builtin:bank-marketing"],
    )
    format: Literal["auto", "csv", "whitespace", "parquet"] = "auto"
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="CSV delimiter; sniffed when absent.")

    def as_dataset_spec(self) -> DatasetSpec:
        return DatasetSpec(ref=self.ref, format=self.format, delimiter=self.delimiter)


class ScoringRequest(SpecModel):
    dataset: ScoringDataset
    format: OutputFormat = Field("csv", description="The output file's format.")
    id_column: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The table's column that identifies each row in the output; default: the model's id column, else the row number.",
    )
    top_k: Int = Field(10, ge=1, le=1000, description="Recommenders given rows with only a user: items per user.")
    items: ScoringDataset | None = Field(
        None,
        description="Recommenders' top-k: a table of item metadata (title, category, price) with the model's item "
        "column; its other columns are joined to each recommended item.",
    )
    checkpoint: str = Field("best", min_length=1, max_length=40, description="`best` or a checkpoint id of the job.")
    holdout_of: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        description="Score only the rows that this training job held out for validation (the table must be the one it "
        "trained on): two models compared on the same rows neither trained on.",
    )
    name: str | None = Field(None, max_length=200)
    max_restarts: Int = Field(2, ge=0, le=10, description="Attempts after a lost worker before the job fails.")


class ScoringJobSpec(ScoringRequest):
    """The stored spec of a scoring job: the request, the model's task and the checkpoint it resolved."""

    task: Task
    model_job_id: str
    checkpoint_step: int

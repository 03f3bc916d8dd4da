"""The dry run (`POST /v1/jobs:validate`): everything a submit would find wrong, and what it
would cost — without queuing anything.

The spec is validated by pydantic before this runs; here the dataset is loaded and prepared
exactly as the worker will (columns, target, split, preprocessing), which catches a missing
column, a one-class target or a non-numeric value now, and the run's size is estimated from the
prepared data (adamant/model_size.py): steps, parameters, training memory and the bytes of one
checkpoint (weights + the optimizer's state). A model past the deployment's limits is a 422
naming the fields to change, with the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from adamant.datasets import load_dataset, resolve_reference
from adamant.datasets.object_store import ObjectReference, object_head
from adamant.datasets.parquet_parts import read_folder, table_rows
from adamant.datasets.readers import csv_head, parquet_head, parquet_rows
from adamant.model_size import check_model_size, prepared_shape
from adamant.preparation import prepare_training_data
from adamant.settings import Settings
from adamant.spec import JobSpec
from adamant.store import tenants as store_tenants
from service.caller import Caller
from service.submission import check_dataset_ref, check_limits

DRY_RUN_ROWS = 1_000_000  # of a larger table, what the dry run reads
DRY_RUN_TEXT_BYTES = 64 * 2**20  # a CSV file larger than this is read up to DRY_RUN_ROWS rows


def dry_run(session: Session, settings: Settings, caller: Caller, spec: JobSpec, uploads_root: Path) -> dict[str, Any]:
    tenant_id = caller.tenant_id
    check_dataset_ref(session, settings, tenant_id, spec)
    check_limits(session, tenant_id, spec, max_epochs=caller.max_epochs, max_run_time_s=caller.max_run_time_s)

    def uploads(dataset_id: str) -> Path:
        from adamant.store import datasets as store_datasets

        return uploads_root / store_datasets.dataset_path(session, tenant_id, dataset_id)

    prefixes = store_tenants.get_tenant(session, tenant_id).dataset_prefixes if tenant_id else ()
    frame, all_rows, how = table_to_check(spec, settings, uploads, prefixes or ())
    data = prepare_training_data(spec, frame)
    n_rows, n_train = len(frame), len(data.train_rows)
    warnings = []
    if all_rows is not None:  # the head stands for the table: scale its split to every row
        n_rows, n_train = all_rows, round(all_rows * len(data.train_rows) / len(frame))
        warnings.append(f"this check read the first {len(frame):,} of the table's {n_rows:,} rows ({how})"
                        + ("; the worker will prepare it by streaming (ADAMANT_STREAM_FROM_ROWS), fitting on a 2M-row "
                           "sample of all of them" if n_rows >= settings.stream_from_rows else ""))
    batch = min(spec.training.batch_size, n_train)
    # As the trainer counts (worker.engine.trainer.batches_per_epoch): a last batch of one row joins the one before.
    steps_per_epoch = math.ceil(n_train / batch) - (1 if n_train > batch and n_train % batch == 1 else 0)
    size = check_model_size(
        spec, prepared_shape(spec, data),
        max_parameters=settings.max_model_parameters, max_memory_bytes=settings.max_training_memory_bytes,
    )
    warnings += [f"column {c!r} is not used: {why}" for c, why in data.excluded_columns.items()]
    if spec.task == "recommendation" and data.cold_val_rows:
        warnings.append(f"{data.cold_val_rows} validation rows have a user or item unseen in training")
    return {
        "valid": True,
        "dataset": {
            "ref": spec.dataset.ref,
            "rows": n_rows,
            "columns": [str(c) for c in frame.columns],
            "train_rows": n_train,
            "validation_rows": n_rows - n_train,
            "features": data.n_features,
            "feature_names": data.feature_names[:200],
            "classes": data.class_labels,
            "users": data.n_users or None,
            "items": data.n_items or None,
        },
        "estimate": {
            "steps_per_epoch": steps_per_epoch,
            "total_steps": steps_per_epoch * spec.training.epochs,
            "parameters": size.parameters,
            "checkpoint_bytes": size.checkpoint_bytes,
            "training_memory_bytes": size.training_memory_bytes,
            "activation_bytes": size.activation_bytes,
            "limits": {"parameters": settings.max_model_parameters, "training_memory_bytes": settings.max_training_memory_bytes},
            "checkpoints_kept": spec.checkpointing.keep_last + (1 if spec.checkpointing.keep_best else 0),
        },
        "warnings": warnings,
    }


def table_to_check(
    spec: JobSpec, settings: Settings, uploads: Callable[[str], Path], prefixes: Sequence[str]
) -> tuple[pd.DataFrame, int | None, str]:
    """(the table to prepare here, None, ""), or for a file, object or object-store folder of more
    than DRY_RUN_ROWS rows (its first DRY_RUN_ROWS rows, its row count, how it is known): a Parquet
    table's from its footers, a CSV's (over DRY_RUN_TEXT_BYTES) estimated from its size. An API
    process holds at most that many rows of what a tenant names (a gzip or non-UTF-8 CSV still
    reads whole)."""
    source = resolve_reference(spec.dataset.ref, file_roots=settings.file_roots, uploads=uploads, object_prefixes=prefixes)
    if isinstance(source, Path) and source.is_dir():  # a partitioned Parquet folder
        rows = table_rows(source)
        if rows is not None and rows > DRY_RUN_ROWS:
            return read_folder(source, max_rows=DRY_RUN_ROWS), rows, "from the files' footers"
    elif isinstance(source, Path):
        rows = parquet_rows(source, spec.dataset.format)
        if rows is not None and rows > DRY_RUN_ROWS:
            return parquet_head(source, DRY_RUN_ROWS), rows, "from the file's footer"
        if rows is None and source.stat().st_size > DRY_RUN_TEXT_BYTES:
            head = csv_head(source, DRY_RUN_ROWS, spec.dataset.format, spec.dataset.delimiter)  # type: ignore[arg-type]
            if head is not None and len(head[0]) == DRY_RUN_ROWS:
                return head[0], head[1], "estimated from the file's size"
    elif isinstance(source, ObjectReference):
        found = object_head(source, DRY_RUN_ROWS, text_bytes=DRY_RUN_TEXT_BYTES, format=spec.dataset.format,
                            delimiter=spec.dataset.delimiter)
        if found is not None:  # its first DRY_RUN_ROWS rows, or those of its first DRY_RUN_TEXT_BYTES
            return found
    return load_dataset(spec.dataset, file_roots=settings.file_roots, uploads=uploads, object_prefixes=prefixes), None, ""

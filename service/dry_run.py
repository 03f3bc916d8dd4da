"""The dry run (`POST /v1/jobs:validate`): everything a submit would find wrong, and what it
would cost — without queuing anything.

The spec is validated by pydantic before this runs; here the dataset is loaded and prepared
exactly as the worker will (columns, target, split, preprocessing), which catches a missing
column, a one-class target or a non-numeric value now, and the run's size is estimated:
steps, parameters, and the bytes of one checkpoint (weights + Adam's two moments).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from adamant.datasets import load_dataset
from adamant.preparation import prepare_training_data
from adamant.settings import Settings
from adamant.spec import AutoencoderModel, JobSpec, LogisticModel, MatrixFactorizationModel, MLPModel
from service.api.deps import Caller
from service.submission import check_dataset_ref, check_limits

MANIFEST_BYTES = 16_384  # the JSON manifest: spec, preprocessing, metrics (order of magnitude)


def _dense(widths: list[int]) -> int:
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))


def parameter_count(spec: JobSpec, *, n_features: int, n_outputs: int, n_users: int, n_items: int) -> int:
    model = spec.model
    if isinstance(model, LogisticModel):
        return (n_features + 1) * n_outputs
    if isinstance(model, MLPModel):
        norms = 2 * sum(model.hidden) if model.batch_norm else 0
        return _dense([n_features, *model.hidden, n_outputs]) + norms
    if isinstance(model, MatrixFactorizationModel):
        d = model.embedding_dim
        count = (n_users + 1 + n_items + 1) * d + 1
        if model.biases:
            count += n_users + 1 + n_items + 1
        if model.ncf_hidden:
            count += _dense([2 * d, *model.ncf_hidden]) + (d + model.ncf_hidden[-1] + 1)
        return count
    if isinstance(model, AutoencoderModel):
        widths = [n_features, *model.hidden, model.latent_dim]
        return 2 * _dense(widths)
    raise TypeError(type(model).__name__)


def dry_run(session: Session, settings: Settings, caller: Caller, spec: JobSpec, uploads_root: Path) -> dict[str, Any]:
    tenant_id = caller.tenant_id
    check_dataset_ref(session, settings, tenant_id, spec)
    check_limits(session, tenant_id, spec, max_epochs=caller.max_epochs, max_run_time_s=caller.max_run_time_s)

    def uploads(dataset_id: str) -> Path:
        from adamant.store import datasets as store_datasets

        return uploads_root / store_datasets.dataset_path(session, tenant_id, dataset_id)

    frame = load_dataset(spec.dataset, file_roots=settings.file_roots, uploads=uploads)
    data = prepare_training_data(spec, frame)
    n_train = len(data.train_rows)
    batch = min(spec.training.batch_size, n_train)
    # As the trainer counts (worker.engine.trainer.batches_per_epoch): a last batch of one row joins the one before.
    steps_per_epoch = math.ceil(n_train / batch) - (1 if n_train > batch and n_train % batch == 1 else 0)
    outputs = data.n_classes if spec.task == "multiclass_classification" else 1
    params = parameter_count(spec, n_features=data.n_features, n_outputs=outputs or 1, n_users=data.n_users, n_items=data.n_items)
    moments = 3 if spec.optimizer.is_adam and spec.optimizer.effective_amsgrad else 2
    checkpoint_bytes = 4 * params * (1 + moments) + MANIFEST_BYTES
    warnings = [f"column {c!r} is not used: {why}" for c, why in data.excluded_columns.items()]
    if spec.task == "recommendation" and data.cold_val_rows:
        warnings.append(f"{data.cold_val_rows} validation rows have a user or item unseen in training")
    return {
        "valid": True,
        "dataset": {
            "ref": spec.dataset.ref,
            "rows": len(frame),
            "columns": [str(c) for c in frame.columns],
            "train_rows": n_train,
            "validation_rows": len(data.val_rows),
            "features": data.n_features,
            "feature_names": data.feature_names[:200],
            "classes": data.class_labels,
            "users": data.n_users or None,
            "items": data.n_items or None,
        },
        "estimate": {
            "steps_per_epoch": steps_per_epoch,
            "total_steps": steps_per_epoch * spec.training.epochs,
            "parameters": params,
            "checkpoint_bytes": checkpoint_bytes,
            "checkpoints_kept": spec.checkpointing.keep_last + (1 if spec.checkpointing.keep_best else 0),
        },
        "warnings": warnings,
    }

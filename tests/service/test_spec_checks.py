"""What the service checks in a spec before it queues anything, answered as a 422 naming the field.

Issue 10, item 16: a misspelt `training.monitor` ("val_acu") was accepted and the run ended
with no best checkpoint. Item 7: an 8-billion-parameter model passed the dry run and died in
the worker as "a bug in Adamant".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adamant.metric_names import monitorable
from adamant.settings import Settings

pytestmark = [pytest.mark.integration]

ADMIN_KEY = "spec-checks-admin-key-0123456789"
PROBLEM = "application/problem+json"


def spec(**parts: object) -> dict:
    base: dict = {
        "task": "binary_classification",
        "dataset": {"ref": "builtin:bank-marketing", "target": "y", "drop": ["duration"]},
        "model": {"type": "mlp", "hidden": [16]},
        "training": {"epochs": 1},
        "resources": {"device": "cuda"},  # never runs: there is no worker here
    }
    return base | parts


def service_for(home: Path, **settings: object) -> TestClient:
    from service.app import create_app

    app = create_app(Settings(home=home, admin_key=ADMIN_KEY, local_user=False, **settings), run_sweeps=False)
    return TestClient(app)


def tenant_headers(client: TestClient) -> dict[str, str]:
    reply = client.post("/v1/tenants", json={"name": "specchecks"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['api_key']}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with service_for(tmp_path_factory.mktemp("spec-checks")) as client:
        yield client, tenant_headers(client)


def errors_at(reply, path: str) -> list[dict]:  # type: ignore[no-untyped-def]
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    found = [error for error in reply.json()["errors"] if error["path"] == path]
    assert found, reply.json()["errors"]
    return found


# --- item 16: the monitored metric is one the task reports -------------------------------------


def test_a_misspelt_monitor_is_a_422_naming_training_monitor_and_listing_the_valid_names(service) -> None:
    client, headers = service
    body = spec(training={"epochs": 1, "monitor": "val_acu"})
    for route in ("/v1/jobs", "/v1/jobs:validate"):
        [error] = errors_at(client.post(route, json=body, headers=headers), "training.monitor")
        assert "val_acu" in error["message"]
        for name in monitorable("binary_classification"):
            assert name in error["message"]
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []


def test_a_metric_of_another_task_is_refused_too(service) -> None:
    client, headers = service
    body = spec(training={"epochs": 1, "monitor": "val_rmse"})  # regression's, not classification's
    errors_at(client.post("/v1/jobs", json=body, headers=headers), "training.monitor")
    sweep = {"base": body, "space": {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}, "trials": 2}
    errors_at(client.post("/v1/sweeps", json=sweep, headers=headers), "base.training.monitor")


def test_a_valid_monitor_is_accepted_with_its_direction(service) -> None:
    client, headers = service
    reply = client.post("/v1/jobs", json=spec(training={"epochs": 1, "monitor": "val_log_loss"}), headers=headers)
    assert reply.status_code == 202, reply.text


def test_a_sweep_metric_or_comparison_target_the_task_never_reports_is_a_422(service) -> None:
    client, headers = service
    space = {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}
    sweep = client.post("/v1/sweeps", json={"base": spec(), "space": space, "trials": 2, "metric": "val_acu"}, headers=headers)
    [error] = errors_at(sweep, "metric")
    assert "val_auc" in error["message"]
    comparison = client.post("/v1/comparisons", json={"base": spec(), "target": {"metric": "auc", "value": 0.7}}, headers=headers)
    errors_at(comparison, "target.metric")


# --- item 7: a model past the deployment's size limits is refused before it is queued ----------


def test_an_8b_parameter_mlp_is_refused_with_the_fields_to_change_and_the_estimate() -> None:
    from adamant.exceptions import ModelTooLarge
    from adamant.model_size import DataShape, check_model_size
    from adamant.spec import JobSpec

    wide = JobSpec.model_validate(spec(model={"type": "mlp", "hidden": [4096, 4096]}))
    with pytest.raises(ModelTooLarge) as refused:
        check_model_size(wide, DataShape(n_features=2_000_000), max_parameters=200_000_000, max_memory_bytes=2**40)
    assert refused.value.estimate["parameters"] == (2_000_000 + 1) * 4096 + 4097 * 4096 + 4097  # 8.2 billion
    assert refused.value.estimate["checkpoint_bytes"] > 98e9
    assert refused.value.fields[0] == "model.hidden" and "dataset.features" in refused.value.fields
    assert "8,208," in str(refused.value) and "ADAMANT_MAX_MODEL_PARAMETERS" in str(refused.value)


def test_submit_and_dry_run_refuse_a_model_past_max_model_parameters(tmp_path: Path) -> None:
    body = spec(model={"type": "mlp", "hidden": [2048, 2048]})  # 4.6 M parameters on bank-marketing
    with service_for(tmp_path, max_model_parameters=1_000_000) as client:
        headers = tenant_headers(client)
        submitted = client.post("/v1/jobs", json=body, headers=headers)
        [error] = errors_at(submitted, "model.hidden")
        assert submitted.json()["type"].endswith("/model-too-large")
        assert submitted.json()["estimate"]["parameters"] > 4_000_000
        assert "1,000,000" in error["message"]
        validated = client.post("/v1/jobs:validate", json=body, headers=headers)
        errors_at(validated, "model.hidden")
        assert validated.json()["estimate"]["parameters"] >= submitted.json()["estimate"]["parameters"]  # exact >= lower bound
        assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []
        fits = client.post("/v1/jobs:validate", json=spec(), headers=headers)
        assert fits.status_code == 200, fits.text
        estimate = fits.json()["estimate"]
        assert estimate["parameters"] < 1_000_000 and estimate["limits"]["parameters"] == 1_000_000
        assert estimate["training_memory_bytes"] > estimate["checkpoint_bytes"] > 4 * estimate["parameters"]


def test_a_batch_whose_activations_exceed_the_memory_limit_is_refused_naming_batch_size(service) -> None:
    client, headers = service
    body = spec(model={"type": "mlp", "hidden": [4096] * 8}, training={"epochs": 1, "batch_size": 1_000_000})
    reply = client.post("/v1/jobs", json=body, headers=headers)
    errors_at(reply, "training.batch_size")
    paths = [error["path"] for error in reply.json()["errors"]]
    assert "model.hidden" in paths and reply.json()["estimate"]["activation_bytes"] > 64 * 1024**3


def test_the_schema_bound_never_exceeds_the_prepared_data_shape() -> None:
    """The submit check sizes from the schema: a lower bound, so it refuses nothing that fits."""
    from adamant.datasets import get_builtin
    from adamant.datasets.schema import describe_table
    from adamant.model_size import prepared_shape, shape_from_schema
    from adamant.preparation import prepare_training_data
    from adamant.spec import JobSpec

    frame = get_builtin("bank-marketing").load()
    columns = describe_table(frame, rows=0)["columns"]
    for model in ({"type": "mlp", "hidden": [16]}, {"type": "logistic"}):
        for task, target in (("binary_classification", "y"), ("multiclass_classification", "job")):
            job = JobSpec.model_validate(spec(task=task, model=model, dataset={"ref": "builtin:bank-marketing", "target": target}))
            bound, exact = shape_from_schema(job, columns), prepared_shape(job, prepare_training_data(job, frame))
            # At least one input per feature column (20 here), at most what preprocessing makes of them.
            assert 20 <= bound.n_features <= exact.n_features
            assert bound.n_outputs == exact.n_outputs


def test_a_sweep_whose_base_model_is_too_large_is_refused_before_it_exists(tmp_path: Path) -> None:
    space = {"optimizer.lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}
    with service_for(tmp_path, max_model_parameters=1_000_000) as client:
        headers = tenant_headers(client)
        body = {"base": spec(model={"type": "mlp", "hidden": [2048, 2048]}), "space": space, "trials": 2}
        errors_at(client.post("/v1/sweeps", json=body, headers=headers), "base.model.hidden")
        assert client.get("/v1/sweeps", headers=headers).json()["items"] == []


def test_the_dry_run_of_a_large_parquet_table_reads_its_head_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An API process must not hold a table that the worker itself would not hold: a 100M-row
    # Parquet file is checked on its first rows, and the estimate scales to every row.
    import numpy as np
    import pandas as pd

    from adamant.datasets import readers
    from service import dry_run

    rows = 5_000
    rng = np.random.default_rng(0)
    pd.DataFrame({"age": rng.integers(18, 90, rows), "y": rng.choice(["no", "yes"], rows)}).to_parquet(tmp_path / "big.parquet")
    monkeypatch.setattr(dry_run, "DRY_RUN_ROWS", 1_000)
    read: list[int] = []
    head = readers.parquet_head
    monkeypatch.setattr(dry_run, "parquet_head", lambda path, n: read.append(n) or head(path, n))
    job = spec(dataset={"ref": f"file:{tmp_path / 'big.parquet'}", "target": "y"}, training={"epochs": 1, "batch_size": 100})
    with service_for(tmp_path / "home", file_roots=[tmp_path], stream_from_rows=2_000) as client:
        report = client.post("/v1/jobs:validate", json=job, headers=tenant_headers(client))
    assert report.status_code == 200, report.text
    body = report.json()
    assert read == [1_000] and body["dataset"]["rows"] == rows
    assert body["dataset"]["train_rows"] + body["dataset"]["validation_rows"] == rows
    assert abs(body["dataset"]["train_rows"] - 4_000) < 100 and body["estimate"]["steps_per_epoch"] == -(-body["dataset"]["train_rows"] // 100)
    assert any("by streaming" in warning and "first 1,000 of the table's 5,000" in warning for warning in body["warnings"])

    # Below the streaming threshold too: an API process holds at most DRY_RUN_ROWS rows of a Parquet table.
    with service_for(tmp_path / "home2", file_roots=[tmp_path], stream_from_rows=10**9) as client:
        report = client.post("/v1/jobs:validate", json=job, headers=tenant_headers(client))
    assert report.status_code == 200 and read == [1_000, 1_000] and report.json()["dataset"]["rows"] == rows
    assert not any("streaming" in warning for warning in report.json()["warnings"])


def test_the_dry_run_of_a_large_csv_reads_its_head_and_estimates_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import pandas as pd

    from service import dry_run

    rows = 20_000
    rng = np.random.default_rng(0)
    pd.DataFrame({"age": rng.integers(18, 90, rows), "y": rng.choice(["no", "yes"], rows)}).to_csv(tmp_path / "big.csv", index=False)
    monkeypatch.setattr(dry_run, "DRY_RUN_ROWS", 2_000)
    monkeypatch.setattr(dry_run, "DRY_RUN_TEXT_BYTES", 1_000)
    loaded: list[str] = []
    whole = dry_run.load_dataset
    monkeypatch.setattr(dry_run, "load_dataset", lambda *a, **k: loaded.append("whole") or whole(*a, **k))
    job = spec(dataset={"ref": f"file:{tmp_path / 'big.csv'}", "target": "y"}, training={"epochs": 1, "batch_size": 100})
    with service_for(tmp_path / "home", file_roots=[tmp_path]) as client:
        report = client.post("/v1/jobs:validate", json=job, headers=tenant_headers(client))
    assert report.status_code == 200, report.text
    body = report.json()
    assert loaded == [] and abs(body["dataset"]["rows"] - rows) < rows * 0.05  # estimated from the file's size
    assert any("first 2,000 of the table's" in w and "estimated from the file's size" in w for w in body["warnings"])

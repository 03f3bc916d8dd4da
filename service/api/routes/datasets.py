"""Datasets: upload, list, show (schema and preview), delete, and the built-in catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from adamant.datasets import BUILTIN, describe_table, get_builtin
from adamant.datasets.readers import TableTooLarge
from adamant.exceptions import DatasetError
from adamant.store import datasets as store_datasets
from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.problems import Problem
from service.api.schemas import BuiltinDatasetOut, DatasetList, DatasetOut
from service.api.views import dataset_view
from service.uploads import remove_upload, store_upload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


def builtin_view(name: str) -> BuiltinDatasetOut:
    entry = get_builtin(name)
    return BuiltinDatasetOut(
        name=entry.name, ref=entry.ref, title=entry.title, description=entry.description, task=entry.task,
        target=entry.target, drop=list(entry.drop), id_column=entry.id_column, rows=entry.rows,
        licence=entry.licence, source=entry.source, citation=entry.citation,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetOut, response_model_by_alias=True)
def upload_dataset(
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV (any delimiter), whitespace text or Parquet; may be gzip-compressed")],
    name: Annotated[str | None, Form(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                                     description="what to call it (default: the file's name); no control characters")] = None,
) -> DatasetOut:
    """Upload a table; it is parsed once now, so a file training could not read is refused here.

    A sync route, so the read runs in the thread pool (and mostly in a reader process), never
    on the event loop. Refused: 422 naming the row and column, or the read limit passed
    (upload_max_columns, _rows, _decompressed_bytes); 409 at the tenant's max_datasets or
    artifact quota."""
    try:
        dataset = store_upload(session, settings, caller.tenant_id, file.file, file.filename, name)
    except TableTooLarge as exc:
        errors = [{"path": "file", "message": str(exc), "limit": f"upload_max_{exc.limit}", "found": exc.found, "cap": exc.cap}]
        raise Problem(422, "Table too large", str(exc), kind="table-too-large", errors=errors) from None
    except DatasetError as exc:
        errors = [{"path": "file", "message": str(exc), "column": exc.column, "row": exc.row}]
        raise Problem(422, "Invalid dataset", str(exc), kind="dataset-error", errors=errors) from None
    response.headers["Location"] = f"/v1/datasets/{dataset.id}"
    return dataset_view(dataset, with_schema=True)


@router.get("", response_model=DatasetList, response_model_by_alias=True)
def list_datasets(
    caller: CallerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DatasetList:
    datasets, next_cursor = store_datasets.list_datasets(session, caller.tenant_id, limit=limit, cursor=cursor)
    return DatasetList(datasets=[dataset_view(d) for d in datasets], next_cursor=next_cursor)


@router.get("/builtin", response_model=list[BuiltinDatasetOut])
def list_builtin(_: CallerDep) -> list[BuiltinDatasetOut]:
    """The datasets shipped with Adamant (use them as `builtin:<name>`)."""
    return [builtin_view(name) for name in BUILTIN]


@router.get("/builtin/{name}")
def show_builtin(name: str, _: CallerDep, rows: Annotated[int, Query(ge=0, le=100)] = 10) -> dict:
    """A built-in dataset with its schema and a preview."""
    entry = get_builtin(name)
    return {**builtin_view(name).model_dump(), "schema": describe_table(entry.load(), rows=rows)}


@router.get("/{dataset_id}", response_model=DatasetOut, response_model_by_alias=True)
def show_dataset(dataset_id: str, caller: CallerDep, session: SessionDep) -> DatasetOut:
    return dataset_view(store_datasets.get_dataset(session, caller.tenant_id, dataset_id), with_schema=True)


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(dataset_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep) -> Response:
    """Delete the dataset and its file (jobs that already trained on it keep their checkpoints)."""
    dataset = store_datasets.delete_dataset(session, caller.tenant_id, dataset_id)
    remove_upload(settings, dataset)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

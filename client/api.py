"""The Python client of the Adamant HTTP API: one method per thing a user does, JSON in and out.

    from client.api import AdamantClient

    with AdamantClient("http://127.0.0.1:8000", key) as adamant:
        job = adamant.submit(spec)                      # safe to retry: it carries an Idempotency-Key
        job = adamant.wait(job["id"])
        adamant.download_checkpoint(job["id"], dest=Path("bank-best"))   # verified against its sha256

Requests are retried as client.retries.RetryPolicy decides: GETs and POSTs that carry an
Idempotency-Key (submit, cancel, resume, predict, the dry run: the client adds one, the same on
each attempt) on connection errors and 502/503/504, anything on 429 (waiting its Retry-After),
and an upload only when it never reached the service. Errors are raised as client.exceptions
(ProblemError for the service's problem details, ServiceUnreachable naming the URL).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import httpx

from client.archives import unpack_checkpoint, unpack_files
from client.exceptions import ProblemError, ServiceUnreachable
from client.retries import RetryPolicy

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
PREDICT_CHUNK_ROWS = 5000
UPLOAD_READ_TIMEOUT_S = 600.0  # the service parses an upload before it answers


class AdamantClient:
    """A connection to one Adamant service with one tenant's API key."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30, retry: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "adamant-client"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdamantClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # --- datasets ---------------------------------------------------------------------------

    def upload_dataset(self, path: str | Path, name: str | None = None) -> dict[str, Any]:
        """Upload a CSV (any delimiter), whitespace text or Parquet file; returns the dataset with
        its schema. Use its `ref` (`dataset:<id>`) as a spec's dataset.ref."""
        path = Path(path)
        with path.open("rb") as file:
            response = self._request(
                "POST", "/v1/datasets", idempotent=False, rewind=file,
                files={"file": (path.name, file, "application/octet-stream")},
                data={"name": name} if name else None,
                timeout=httpx.Timeout(self._http.timeout.connect, read=UPLOAD_READ_TIMEOUT_S),
            )
        return response.json()

    def list_datasets(self) -> list[dict[str, Any]]:
        """Every dataset this tenant uploaded, newest first."""
        return list(self._paged("/v1/datasets", "datasets", {"limit": 200}))

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        """A dataset with its schema (columns, kinds, a preview)."""
        return self._request("GET", f"/v1/datasets/{dataset_id}").json()

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

    def builtin_datasets(self) -> list[dict[str, Any]]:
        """The datasets shipped with the service (use them as `builtin:<name>`)."""
        return self._request("GET", "/v1/datasets/builtin").json()

    # --- jobs -------------------------------------------------------------------------------

    def submit(self, spec: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Queue a training job; returns it (status `queued`). A key is generated when none is
        given, so the retries of this call never create a second job; pass your own to make a
        resubmission from another process return the same job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._request("POST", "/v1/jobs", json=spec, headers=headers).json()

    def validate(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Dry run: the spec checked against its dataset, with steps and checkpoint size estimated."""
        return self._request("POST", "/v1/jobs:validate", json=spec).json()

    def get_job(self, job_id: str, etag: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
        """(job, etag); (None, etag) when `etag` is given and the job has not changed since."""
        headers = {"If-None-Match": etag} if etag else None
        response = self._request("GET", f"/v1/jobs/{job_id}", headers=headers, ok_statuses=(304,))
        new_etag = response.headers.get("ETag", etag)
        if response.status_code == 304:
            return None, new_etag
        return response.json(), new_etag

    def list_jobs(self, status: str | Sequence[str] | None = None, *, limit: int = 50, cursor: str | None = None,
                  parent_id: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of jobs, newest first, and the cursor of the next page (None at the end)."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = [status] if isinstance(status, str) else list(status)
        if cursor:
            params["cursor"] = cursor
        if parent_id:
            params["parent_id"] = parent_id
        page = self._request("GET", "/v1/jobs", params=params).json()
        return page["jobs"], page["next_cursor"]

    def iter_jobs(self, status: str | Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every job (optionally of these statuses), newest first, fetched page by page."""
        cursor: str | None = None
        while True:
            jobs, cursor = self.list_jobs(status, limit=200, cursor=cursor)
            yield from jobs
            if not cursor:
                return

    def wait(self, job_id: str, *, timeout: float | None = None, interval: float = 1.0) -> dict[str, Any]:
        """Poll (with the job's ETag) until it succeeds, fails or is cancelled; returns it then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job, etag = self.get_job(job_id)
        while job is None or job["status"] not in TERMINAL_STATUSES:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status'] if job else 'unfinished'} after {timeout} s")
            time.sleep(interval)
            fresh, etag = self.get_job(job_id, etag)
            job = fresh or job
        return job

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel: a queued job at once, a running one at its next step (`cancelling`)."""
        return self._request("POST", f"/v1/jobs/{job_id}/cancel").json()

    def resume(self, job_id: str) -> dict[str, Any]:
        """Queue a cancelled or failed job again; it continues from its latest checkpoint."""
        return self._request("POST", f"/v1/jobs/{job_id}/resume").json()

    # --- metrics and logs -------------------------------------------------------------------

    def metrics(self, job_id: str, after: int = 0, names: Sequence[str] | None = None,
                limit: int = 5000) -> tuple[list[dict[str, Any]], int]:
        """The metric points after cursor `after` (at most `limit`) and the next cursor: poll with
        it to get only new points."""
        params: dict[str, Any] = {"after": after, "limit": limit}
        if names:
            params["names"] = ",".join(names)
        page = self._request("GET", f"/v1/jobs/{job_id}/metrics", params=params).json()
        return page["points"], page["next_cursor"]

    def metric_curves(self, job_id: str, names: Sequence[str] | None = None, max_points: int = 500) -> dict[str, list[dict[str, Any]]]:
        """The whole history of each metric, downsampled to at most `max_points` per series."""
        params: dict[str, Any] = {"max_points": max_points}
        if names:
            params["names"] = ",".join(names)
        return self._request("GET", f"/v1/jobs/{job_id}/metrics", params=params).json()["series"]

    def logs(self, job_id: str, after: int = 0, limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        """The log lines after cursor `after` and the next cursor."""
        page = self._request("GET", f"/v1/jobs/{job_id}/logs", params={"after": after, "limit": limit}).json()
        return page["lines"], page["next_cursor"]

    # --- checkpoints, predictions, artifacts ------------------------------------------------

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        """The job's checkpoints: step, metrics, size, sha256 (of the manifest) and files."""
        return self._request("GET", f"/v1/jobs/{job_id}/checkpoints").json()["checkpoints"]

    def download_checkpoint(self, job_id: str, checkpoint_id: str = "best", *, dest: str | Path) -> dict[str, Any]:
        """Download a checkpoint (`best` or an id) into the directory `dest`, verified: the sha256
        of manifest.json is the one the service lists, and each file's is the manifest's. Raises
        IntegrityError otherwise, leaving `dest` untouched. Returns the checkpoint's listing.

        `dest` then works with the local `adamant predict DEST rows.csv`."""
        listed = self.checkpoints(job_id)
        entry = next((c for c in listed if (c["is_best"] if checkpoint_id == "best" else c["id"] == checkpoint_id)), None)
        # Download the listed checkpoint by id: "best" can move on while a job still runs.
        wanted = entry["id"] if entry else checkpoint_id
        with tempfile.TemporaryDirectory(prefix="adamant-download-") as scratch:
            archive = Path(scratch) / "checkpoint.tar"
            response = self._request("GET", f"/v1/jobs/{job_id}/checkpoints/{wanted}/download", stream_to=archive)
            expected = entry["sha256"] if entry else response.headers["X-Checkpoint-Sha256"]
            unpack_checkpoint(archive, expected, Path(dest))
        return entry or {"id": wanted, "sha256": expected, "step": int(response.headers.get("X-Checkpoint-Step", 0))}

    def predict(self, job_id: str, rows: Sequence[dict[str, Any]], *, top_k: int = 10, checkpoint: str = "best",
                chunk_rows: int = PREDICT_CHUNK_ROWS) -> list[dict[str, Any]]:
        """Score rows (dicts of the training columns) with the job's model: one prediction per row,
        in order, sent in requests of at most `chunk_rows` rows."""
        rows = list(rows)
        if not rows:
            return []
        if len(rows) > chunk_rows and checkpoint == "best":
            # Every chunk must be scored by the same model, even if a running job finds a new best.
            best = next((c for c in self.checkpoints(job_id) if c["is_best"]), None)
            checkpoint = best["id"] if best else checkpoint
        predictions: list[dict[str, Any]] = []
        for start in range(0, len(rows), chunk_rows):
            chunk = rows[start:start + chunk_rows]
            body = {"rows": chunk, "top_k": top_k, "checkpoint": checkpoint}
            answer = self._request("POST", f"/v1/jobs/{job_id}/predict", json=body).json()["predictions"]
            predictions += _numbered_from(answer, chunk, start)
        return predictions

    def tensorboard(self, job_id: str, dest: str | Path) -> list[Path]:
        """Download the job's TensorBoard event files into `dest`; then `tensorboard --logdir dest`."""
        with tempfile.TemporaryDirectory(prefix="adamant-download-") as scratch:
            archive = Path(scratch) / "tensorboard.tar"
            self._request("GET", f"/v1/jobs/{job_id}/tensorboard", stream_to=archive)
            return unpack_files(archive, Path(dest))

    # --- API keys ---------------------------------------------------------------------------

    def list_keys(self) -> list[dict[str, Any]]:
        """This tenant's API keys (id, name, prefix, created_at, last_used_at, revoked_at), never the keys."""
        return self._request("GET", "/v1/keys").json()["keys"]

    def create_key(self, name: str = "default") -> dict[str, Any]:
        """A new key for this tenant; its plaintext (`api_key`) is in this answer only. Not
        retried once sent: a retry could leave a second key."""
        return self._request("POST", "/v1/keys", idempotent=False, json={"name": name}).json()

    def revoke_key(self, key_id: str, *, force: bool = False) -> dict[str, Any]:
        """Revoke a key at once. The service refuses (409 last-key) to revoke the last key
        unless `force`."""
        return self._request("DELETE", f"/v1/keys/{key_id}", params={"force": "true"} if force else None).json()

    def rotate_key(self, key_id: str, *, grace_s: float = 0.0) -> dict[str, Any]:
        """A new key replacing `key_id`, which stops working now or after `grace_s` seconds."""
        return self._request("POST", f"/v1/keys/{key_id}/rotate", idempotent=False, json={"grace_s": grace_s}).json()

    # --- the model registry ------------------------------------------------------------------

    def create_model(self, name: str, task: str, description: str | None = None) -> dict[str, Any]:
        return self._request("POST", "/v1/models", idempotent=False,
                             json={"name": name, "task": task, "description": description}).json()

    def list_models(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/models").json()

    def get_model(self, name: str) -> dict[str, Any]:
        """The model with its versions (metrics, job, checkpoint) and aliases."""
        return self._request("GET", f"/v1/models/{name}").json()

    def register_version(self, name: str, job_id: str, *, checkpoint_id: str | None = None) -> dict[str, Any]:
        """A succeeded job's checkpoint (its best by default) as the model's next version. Not
        retried once sent: a retry could register it twice."""
        return self._request("POST", f"/v1/models/{name}/versions", idempotent=False,
                             json={"job_id": job_id, "checkpoint_id": checkpoint_id}).json()

    def set_alias(self, name: str, alias: str, version: int, *, expected_version: int | None = None,
                  reason: str | None = None) -> dict[str, Any]:
        """Point `alias` at `version`; with `expected_version`, only if it points there now (409 otherwise)."""
        body = {"version": version, "expected_version": expected_version, "reason": reason}
        return self._request("PUT", f"/v1/models/{name}/aliases/{alias}", json=body).json()

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/v1/models/{name}/aliases/history").json()

    def predict_model(self, name: str, rows: Sequence[dict[str, Any]], *, version: str = "production",
                      top_k: int = 10) -> dict[str, Any]:
        """Score rows with the version an alias (or a number) names now; the answer says which."""
        body = {"rows": list(rows), "top_k": top_k, "version": version}
        return self._request("POST", f"/v1/models/{name}/predict", json=body).json()

    def score_model(self, name: str, dataset_ref: str, *, version: str = "production") -> dict[str, Any]:
        """A scoring job of the version an alias names now, over a whole table."""
        return self._request("POST", f"/v1/models/{name}/predictions", idempotent=False,
                             json={"dataset": {"ref": dataset_ref}, "version": version}).json()

    def get_policy(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/models/{name}/policy").json()

    def set_policy(self, name: str, policy: dict[str, Any]) -> dict[str, Any]:
        return self._request("PUT", f"/v1/models/{name}/policy", json=policy).json()

    def create_schedule(self, name: str, schedule: dict[str, Any]) -> dict[str, Any]:
        """Not retried once sent: a retry could create it twice."""
        return self._request("POST", f"/v1/models/{name}/schedules", idempotent=False, json=schedule).json()

    def list_schedules(self, name: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/v1/models/{name}/schedules").json()

    def pause_schedule(self, schedule_id: str, paused: bool) -> dict[str, Any]:
        return self._request("PATCH", f"/v1/schedules/{schedule_id}", json={"paused": paused}).json()

    def monitor_runs(self, name: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/v1/models/{name}/monitor-runs").json()

    def approve_run(self, name: str, run_id: str, approve: bool) -> dict[str, Any]:
        return self._request("POST", f"/v1/models/{name}/monitor-runs/{run_id}/approve", json={"approve": approve}).json()

    # --- transport --------------------------------------------------------------------------

    def _paged(self, path: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = self._request("GET", path, params={**params, **({"cursor": cursor} if cursor else {})}).json()
            yield from page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _request(self, method: str, path: str, *, idempotent: bool = True, ok_statuses: tuple[int, ...] = (),
                 stream_to: Path | None = None, rewind: BinaryIO | None = None, **kwargs: Any) -> httpx.Response:
        """Send one request, again while the retry policy says so; a 4xx/5xx becomes a ProblemError.

        `idempotent` POSTs carry an Idempotency-Key, the same on every attempt, so a retry the
        service already ran is answered with the first result. A request that is not idempotent
        (an upload) is sent again only when it cannot have run. `rewind` is a file the body
        reads, put back at its start before each attempt."""
        replay_safe = idempotent
        if method == "POST" and idempotent:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("Idempotency-Key", f"adamant-client-{uuid.uuid4()}")
            kwargs["headers"] = headers
        attempt = 0
        while True:
            if rewind is not None:
                rewind.seek(0)
            try:
                response = self._send(method, path, stream_to, **kwargs)
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt, replay_safe=replay_safe, error=exc)
                if delay is None:
                    raise ServiceUnreachable(f"{self.base_url}{path}", _transport_reason(exc)) from exc
            else:
                if not response.is_error or response.status_code in ok_statuses:
                    return response
                delay = self.retry.delay(attempt, replay_safe=replay_safe, status=response.status_code,
                                         retry_after=response.headers.get("Retry-After"))
                if delay is None:
                    raise problem_from(response)
            time.sleep(delay)
            attempt += 1

    def _send(self, method: str, path: str, stream_to: Path | None, **kwargs: Any) -> httpx.Response:
        if stream_to is None:
            return self._http.request(method, path, **kwargs)
        with self._http.stream(method, path, **kwargs) as response:
            if response.is_success:
                with stream_to.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
            else:
                response.read()  # the problem detail
        return response


def problem_from(response: httpx.Response) -> ProblemError:
    """The service's problem detail as a ProblemError; a bare error (a proxy's 502 page) keeps its
    status and a little of its text."""
    body: Any = None
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        detail = body.get("detail")
        return ProblemError(
            response.status_code, body.get("title") or response.reason_phrase, detail if isinstance(detail, str) else "",
            body.get("errors") if isinstance(body.get("errors"), list) else None,
            type=body.get("type"), instance=body.get("instance"),
        )
    text = " ".join(response.text.split())[:300]
    return ProblemError(response.status_code, response.reason_phrase or "Error", text)


def _numbered_from(predictions: list[dict[str, Any]], rows: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """Rows without the job's id column are identified by their number, which the service counts
    from 0 in each request: shift a later chunk's numbers so they count from the first row."""
    if not start or not predictions:
        return predictions
    id_key = next(iter(predictions[0]))
    if id_key in rows[0]:
        return predictions
    return [{**p, id_key: p[id_key] + start} for p in predictions]


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return str(exc) or type(exc).__name__

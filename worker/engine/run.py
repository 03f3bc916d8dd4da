"""One training run from a spec: load the data, prepare it, build, train, write the result.

This is the plain function under both the CLI (`adamant train`) and the Celery task; neither
adds logic of its own. The run directory holds spec.json, checkpoints/, best/, result.json and,
once training ends, reference-profile.json: what batch scoring later checks its tables against
for drift (adamant/monitoring/reference.py).

Prepared data goes through the prepared-data cache (adamant/preparation/cache.py, under
ADAMANT_HOME/cache/prepared): runs that differ only in what preparation does not read (the
trials of a sweep, the runs of a comparison, a resumed job) read the encoded arrays back instead
of loading and preparing the table again. The training rows' part of the reference profile is
computed in the same pass as the preparation and cached with it; the scores' part needs the
trained model, and is computed at the end from the cached validation arrays.

Before the first step, the reporter hears the data phase as Progress.data (DataPhase): rows read
so far while the table is read, then "preparing", then "ready" (or "from cache").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from adamant.checkpoint_files import MANIFEST, sha256_of
from adamant.datasets import load_dataset, resolve_reference
from adamant.datasets.csv_stream import convert_csv, csv_rows_estimate
from adamant.datasets.object_store import ObjectListing, ObjectReference, list_object
from adamant.datasets.readers import RowsCallback
from adamant.exceptions import DatasetError
from adamant.model_size import check_model_size, prepared_shape
from adamant.monitoring.holdout import write_holdout
from adamant.monitoring.profile import reference_profile, score_profile
from adamant.monitoring.reference import write_reference
from adamant.preparation import PreparedData, PreparedDataCache, PreparedRows, prepare_training_data
from adamant.preparation.cache import NotCacheable, dataset_identity, path_identity, preparation_key
from adamant.preparation.mapped import release_pages
from adamant.preparation.preprocessing import EMBED_MIN_ROWS, EmbeddedFeature
from adamant.preparation.streamed import STREAMED_TASKS, prepare_streamed, streams
from adamant.scoring.scorer import Scorer, load_scorer, output_frame
from adamant.scoring.table import SCORE_COLUMNS
from adamant.settings import get_settings
from adamant.spec import JobSpec
from worker.engine.checkpoints import latest_valid_checkpoint
from worker.engine.reporting import DataProgress, NullReporter, Progress, Reporter
from worker.engine.setup import build_setup
from worker.engine.trainer import TrainResult, train

REFERENCE_FEATURES = "reference_features"  # the cached training rows' profile (extras of a cache entry)
REFERENCE_ERROR = "reference_error"


@dataclass
class TrainingData:
    """What training needs from the table: the prepared arrays, the training rows' reference
    profile (or why there is none) and, where a step still needs the raw rows, the table."""

    data: PreparedData
    frame: pd.DataFrame | None
    reference_features: dict[str, Any] | None = None
    reference_error: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    dataset_sha256: str | None = None  # what the table's bytes were (prepare_for_training)


class DataPhase:
    """Tells a reporter how reading and preparing the table goes: `on_rows` is read_table's
    callback; `phase` reports the steps after the read, with the read's numbers kept."""

    def __init__(self, reporter: Reporter, total_epochs: int) -> None:
        self.reporter = reporter
        self.total_epochs = total_epochs
        self.started = time.monotonic()
        self.rows = 0
        self.total: int | None = None
        self.rows_per_s: float | None = None

    def on_rows(self, rows: int, total: int | None) -> None:
        self._rows("reading", self.started, rows, total)

    def converting(self) -> Callable[[int, int | None], None]:
        """A rows callback for rewriting a CSV as Parquet before streaming it (csv_stream.py): its two passes."""
        return self._timed("converting")

    def encoding(self) -> Callable[[int, int | None], None]:
        """A rows callback for a streamed table's encode pass: told as "preparing" with its own rate and ETA."""
        return self._timed("preparing")

    def _timed(self, phase: str) -> Callable[[int, int | None], None]:
        started = time.monotonic()
        return lambda rows, total: self._rows(phase, started, rows, total)

    def _rows(self, phase: str, started: float, rows: int, total: int | None) -> None:
        elapsed = time.monotonic() - started
        self.rows, self.total = rows, total
        self.rows_per_s = rows / elapsed if rows and elapsed > 0 else None
        remaining = max(0, total - rows) if total is not None else None
        eta = remaining / self.rows_per_s if remaining is not None and self.rows_per_s else None
        self._tell(phase, eta)

    def phase(self, phase: str, rows: int | None = None) -> None:
        """preparing | ready | from cache; `rows` when known better than by the read (the cache's)."""
        if rows is not None:
            self.rows = self.total = rows
        self._tell(phase, None if phase == "preparing" else 0.0)

    def _tell(self, phase: str, eta_s: float | None) -> None:
        rate = round(self.rows_per_s, 1) if self.rows_per_s is not None else None
        self.reporter.progress(Progress(
            step=0, total_steps=0, epoch=0.0, total_epochs=self.total_epochs, samples_per_s=0.0,
            elapsed_s=time.monotonic() - self.started, eta_s=None, phase="loading",
            data=DataProgress(phase, self.rows, self.total, rate, round(eta_s, 1) if eta_s is not None else None),
        ))


def load_frame(
    spec: JobSpec,
    *,
    file_roots: list[Path],
    uploads: Callable[[str], Path] | None = None,
    object_prefixes: Sequence[str] = (),
    on_rows: Callable[[int, int | None], None] | None = None,
) -> pd.DataFrame:
    """The job's table: the one place a run reads its dataset. `object_prefixes`, the tenant's
    allowed object-store prefixes, are passed on only where there are some."""
    options: dict[str, Any] = {"object_prefixes": list(object_prefixes)} if object_prefixes else {}
    if on_rows is not None:
        options["on_rows"] = on_rows
    return load_dataset(spec.dataset, file_roots=file_roots, uploads=uploads, **options)


def load_training_data(
    spec: JobSpec,
    *,
    file_roots: list[Path],
    uploads: Callable[[str], Path] | None = None,
    object_prefixes: Sequence[str] = (),
    data_phase: DataPhase | None = None,
) -> tuple[pd.DataFrame, PreparedData]:
    on_rows = data_phase.on_rows if data_phase is not None else None
    frame = load_frame(spec, file_roots=file_roots, uploads=uploads, object_prefixes=object_prefixes, on_rows=on_rows)
    if data_phase is not None:
        data_phase.phase("preparing", len(frame))
    return frame, prepare_training_data(spec, frame)


def settings_cache() -> PreparedDataCache | None:
    """The worker's prepared-data cache, from ADAMANT_HOME and ADAMANT_PREPARED_CACHE_BYTES (None when 0)."""
    settings = get_settings()
    cache = PreparedDataCache(settings.home.absolute() / "cache" / "prepared", settings.prepared_cache_bytes)
    return cache if cache.enabled else None


def prepare_for_training(
    spec: JobSpec,
    reporter: Reporter,
    *,
    file_roots: list[Path],
    uploads: Callable[[str], Path] | None = None,
    object_prefixes: Sequence[str] = (),
    cache: PreparedDataCache | None = None,
    stream_from_rows: int | None = None,
) -> TrainingData:
    """The prepared data from `cache` when an earlier run prepared the same table the same way,
    else loaded and prepared here (and stored there). Object-store references read whole are not
    cached: the key needs the bytes' sha256, which would mean reading the object twice. A Parquet
    table of at least `stream_from_rows` rows (settings' by default) is prepared by streaming
    (streamed_table): a file in place, an object from a copy, keyed by its version in the store
    (ETag or md5 and size: a cache hit never copies it) or else by the copy's sha256."""
    sources: dict[str, Any] = {"file_roots": file_roots, "uploads": uploads, "object_prefixes": object_prefixes}
    with streamed_table(spec, stream_from_rows=stream_from_rows, **sources) as streamed:
        try:
            identity = _table_identity(spec, streamed, sources, cache)
        except OSError as exc:  # an unreadable cache folder costs the run its preparation, never the run
            reporter.log(f"warning: prepared-data cache unavailable: {type(exc).__name__}: {exc}")
            identity, cache = None, None
        prepared = _prepare_for_training(spec, reporter, streamed, sources, cache, identity)
        prepared.dataset_sha256 = None if identity is None else str(
            identity.get("file_sha256") or hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest())
        return prepared


def _table_identity(spec: JobSpec, streamed: StreamedTable | None, sources: dict[str, Any],
                    cache: PreparedDataCache | None) -> dict[str, Any] | None:
    """What names the table's bytes, once: the prepared-data cache's key is made of it, and a
    registered version records its sha256. A file's sha256 comes from the cache's record of it; an
    object's from its version in the store, else from its copy (a cache hit never copies it). None
    without a cache (bar an object's version), rather than reading a large table once more for it."""
    version = {"object": streamed.identity} if streamed is not None and streamed.identity else None
    if cache is None:
        return version
    identity = dataset_identity(spec, file_roots=sources["file_roots"], uploads=sources["uploads"], hashes=cache.hashes)
    if identity is None and streamed is not None:  # an object: its version, else its copy's bytes
        identity = version or path_identity(streamed.path())
    return identity


def _prepare_for_training(
    spec: JobSpec, reporter: Reporter, streamed: StreamedTable | None, sources: dict[str, Any],
    cache: PreparedDataCache | None, identity: dict[str, Any] | None,
) -> TrainingData:
    data_phase = DataPhase(reporter, spec.training.epochs)

    def uncached() -> TrainingData:
        if streamed is not None:
            return _prepare_streamed(spec, streamed, data_phase, reporter, cache=None, key=None)
        return _prepare(spec, data_phase, **sources)

    if cache is None or identity is None:
        return uncached()
    key = preparation_key(spec, identity)
    try:
        cached = cache.get(key)
    except OSError as exc:  # an unreadable cache folder costs the run its preparation, never the run
        reporter.log(f"warning: prepared-data cache unavailable: {type(exc).__name__}: {exc}")
        return uncached()
    if cached is None:
        with contextlib.ExitStack() as stack:
            try:  # a concurrent run preparing the same key finishes first; then its entry is read
                stack.enter_context(cache.preparing(key, on_wait=lambda: reporter.log(
                    f"waiting for another run preparing the same data ({key[:12]})")))
                cached = cache.get(key)
            except OSError as exc:
                reporter.log(f"warning: prepared-data cache unavailable: {type(exc).__name__}: {exc}")
            if cached is None and streamed is not None:
                return _prepare_streamed(spec, streamed, data_phase, reporter, cache=cache, key=key)
            if cached is None:
                started = time.monotonic()
                prepared = _prepare(spec, data_phase, **sources)
                seconds = time.monotonic() - started
                try:
                    refused = cache.put(key, prepared.data, prepared.extras)
                except (NotCacheable, OSError) as exc:
                    refused = f"{type(exc).__name__}: {exc}"
                outcome = f"not cached ({refused})" if refused else f"cached as {key[:12]}"
                reporter.log(f"prepared data in {seconds:.1f}s; {outcome}")
                return prepared
    data = cached.data
    data_phase.phase("from cache", len(data.train_rows) + len(data.val_rows))
    reporter.log(f"prepared data from cache {key[:12]} ({len(data.train_rows) + len(data.val_rows)} rows, {cached.seconds:.1f}s)")
    frame = None
    if spec.task == "segmentation":  # segment profiles describe the raw training rows
        frame = load_frame(spec, **sources)
    return TrainingData(
        data,
        frame,
        cached.extras.get(REFERENCE_FEATURES),
        cached.extras.get(REFERENCE_ERROR),
        cached.extras,
    )


@dataclass
class StreamedTable:
    """A table to prepare by streaming: a local Parquet file, or an object copied to local disk
    the first time `path()` is asked for (a cache hit never copies it). `identity` is what names
    an object's bytes for the cache key (its store's ETag or md5 and size), None for a file."""

    identity: dict[str, Any] | None
    fetch: Callable[[RowsCallback | None], Path]
    local: Path | None = None
    rewritten_from: Path | None = None  # a delimited file, rewritten as Parquet by fetch

    def path(self, on_rows: RowsCallback | None = None) -> Path:
        """The Parquet table, copied or converted first if need be (`on_rows` hears a CSV's conversion)."""
        if self.local is None:
            self.local = self.fetch(on_rows)
        return self.local


@contextlib.contextmanager
def streamed_table(
    spec: JobSpec, *, file_roots: list[Path], uploads: Callable[[str], Path] | None, object_prefixes: Sequence[str] = (),
    stream_from_rows: int | None = None,
) -> Iterator[StreamedTable | None]:
    """The table to prepare by streaming (adamant/preparation/streamed.py) when the job's table is
    one of at least `stream_from_rows` rows (the settings' by default) and its task streams: a
    `file:`/`dataset:` Parquet file in place; a `file:`/`dataset:` delimited UTF-8 file (its rows
    estimated from its size), rewritten as Parquet (adamant/datasets/csv_stream.py); or an s3://
    (gs://, az://) Parquet object or folder of them partitioned Hive-style (its row count from the
    footers), copied. Copies and rewrites go to $ADAMANT_HOME/cache/objects when the table must be
    read (a cache hit needs neither) and are removed after. Else None: the table is read whole."""
    threshold = get_settings().stream_from_rows if stream_from_rows is None else stream_from_rows
    dataset = spec.dataset
    found: Path | ObjectListing | None = None
    rewrite = False
    try:
        if spec.task in STREAMED_TASKS:
            source = resolve_reference(dataset.ref, file_roots=file_roots, uploads=uploads, object_prefixes=object_prefixes)
            if isinstance(source, Path) and streams(spec.task, source, dataset.format, threshold):
                found = source
            elif isinstance(source, Path) and (csv_rows_estimate(source, dataset.format, dataset.delimiter) or 0) >= threshold:
                found, rewrite = source, True
            elif isinstance(source, ObjectReference):
                listing = list_object(source)  # once: the row count, the version and the copy all come from it
                if (listing.rows(dataset.format) or 0) >= threshold:
                    found = listing
    except DatasetError:
        pass  # the in-memory path reads the reference again and reports its error to the user
    if isinstance(found, Path) and not rewrite:
        yield StreamedTable(None, lambda _: found, found)  # type: ignore[arg-type, return-value]
        return
    if found is None:
        yield None
        return
    objects = get_settings().home.absolute() / "cache" / "objects"
    local = objects / uuid.uuid4().hex  # a file, or a folder's files under their partition folders

    def fetch(on_rows: RowsCallback | None) -> Path:
        objects.mkdir(parents=True, exist_ok=True)
        if isinstance(found, Path):
            convert_csv(found, local, dataset.format, dataset.delimiter, on_rows=on_rows)
        else:
            found.download(local)  # type: ignore[union-attr]
        return local

    try:
        if isinstance(found, Path):
            yield StreamedTable(None, fetch, rewritten_from=found)
        else:
            yield StreamedTable(found.version(), fetch)
    finally:
        if local.is_dir():
            shutil.rmtree(local, ignore_errors=True)
        local.unlink(missing_ok=True)


def _prepare_streamed(
    spec: JobSpec, streamed: StreamedTable, data_phase: DataPhase, reporter: Reporter, *,
    cache: PreparedDataCache | None, key: str | None,
) -> TrainingData:
    """Prepare `streamed`'s table by streaming into files: a cache entry when `cache` takes it, else
    files removed at once (their arrays stay mapped, and the space is freed when the run ends)."""
    started = time.monotonic()
    path = streamed.path(data_phase.converting())
    if streamed.rewritten_from is not None:
        reporter.log(f"rewrote {streamed.rewritten_from.name} as Parquet to stream it: {data_phase.rows // 2:,} rows in "
                     f"two passes, {time.monotonic() - started:.1f}s (adamant/datasets/csv_stream.py)")
    settings = get_settings()
    if cache is not None and key is not None:
        folder = cache.staging(key)
    else:
        scratch = settings.home.absolute() / "cache" / "streamed"
        scratch.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="prepared-", dir=scratch))
    started = time.monotonic()
    try:
        data, sample = prepare_streamed(spec, path, folder, on_read=data_phase.on_rows, on_encoded=data_phase.encoding())
        seconds = time.monotonic() - started
        on_disk = sum(part.stat().st_size for part in folder.glob("*.npy"))
        try:
            features, error = reference_profile(sample, data.preprocessing), None
        except Exception as exc:  # noqa: BLE001 - monitoring is an addition: see save_reference
            features, error = None, f"{type(exc).__name__}: {exc}"
        del sample
        extras = {REFERENCE_FEATURES: features} if features is not None else {REFERENCE_ERROR: error}
        refused = "the prepared-data cache is off"
        if cache is not None and key is not None:
            try:
                refused = cache.adopt(key, folder, data, extras)
            except OSError as exc:
                refused = f"{type(exc).__name__}: {exc}"
        outcome = f"cached as {key[:12]}" if refused is None else f"not cached ({refused}): the files go when the run ends"
        reporter.log(f"prepared data by streaming {len(data.train_rows) + len(data.val_rows):,} rows in {seconds:.1f}s "
                     f"({on_disk / 1e9:.2f} GB of encoded rows on disk); {outcome}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # gone already once adopted (renamed into the cache)
    data_phase.phase("ready")
    return TrainingData(data, None, features, error, extras)


def _prepare(
    spec: JobSpec, data_phase: DataPhase, *, file_roots: list[Path], uploads: Callable[[str], Path] | None,
    object_prefixes: Sequence[str],
) -> TrainingData:
    frame, data = load_training_data(spec, file_roots=file_roots, uploads=uploads, object_prefixes=object_prefixes,
                                     data_phase=data_phase)
    features, error = training_rows_profile(frame, data)
    data_phase.phase("ready")
    extras = {REFERENCE_FEATURES: features} if features is not None else {REFERENCE_ERROR: error}
    return TrainingData(data, frame, features, error, extras)


def training_rows_profile(frame: pd.DataFrame, data: PreparedData) -> tuple[dict[str, Any] | None, str | None]:
    """The reference profile of the training rows, without scores; or why it cannot be made."""
    try:
        rows = data.train_rows if data.fit_rows is None else data.fit_rows  # the rows preprocessing was fitted on
        return reference_profile(frame, data.preprocessing, positions=rows), None
    except Exception as exc:  # noqa: BLE001 - monitoring is an addition: see save_reference
        return None, f"{type(exc).__name__}: {exc}"


def run_training(
    spec: JobSpec,
    run_dir: Path,
    reporter: Reporter | None = None,
    *,
    file_roots: list[Path],
    uploads: Callable[[str], Path] | None = None,
    init_from: Path | None = None,
    resume: bool = True,
    max_parameters: int | None = None,
    max_memory_bytes: int | None = None,
    prepared_cache: PreparedDataCache | None | Literal["settings"] = "settings",
    object_prefixes: Sequence[str] = (),
    stream_from_rows: int | None = None,
) -> TrainResult:
    """With max_parameters (the worker passes its settings'), a model past the size limits is
    ModelTooLarge before anything is allocated: the user's error, recorded once. `prepared_cache`
    defaults to the one the settings name (settings_cache); None prepares without a cache."""
    reporter = reporter or NullReporter()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(spec.model_dump_json(indent=2))
    started = time.monotonic()
    cache = settings_cache() if prepared_cache == "settings" else prepared_cache
    prepared = prepare_for_training(
        spec, reporter, file_roots=file_roots, uploads=uploads, object_prefixes=object_prefixes, cache=cache,
        stream_from_rows=stream_from_rows,
    )
    data = prepared.data
    reporter.log(
        f"data: {len(data.train_rows)} training rows, {len(data.val_rows)} validation rows, "
        f"{data.n_features} features"
        + (f", {data.n_users} users x {data.n_items} items" if spec.task == "recommendation" else "")
        + f" (loaded in {time.monotonic() - started:.1f}s)"
    )
    if data.streamed:
        reporter.log(f"streamed table: column kinds, the target, numeric statistics and levels fitted on a random sample "
                     f"of {len(data.fit_rows):,} of the {len(data.train_rows):,} training rows; the split is by a hash of "
                     f"each row's number; training reads shuffled blocks of the encoded rows")
    elif data.fit_rows is not None:
        reporter.log(f"numeric statistics fitted on a random sample of {len(data.fit_rows):,} of the "
                     f"{len(data.train_rows):,} training rows (levels counted over all of them)")
    if spec.implicit:
        reporter.log(implicit_summary(spec, data))
    for column, reason in data.excluded_columns.items():
        reporter.log(f"column {column!r} not used as a feature: {reason}")
    for feature in data.preprocessing.features:
        if isinstance(feature, EmbeddedFeature):
            reporter.log(f"column {feature.column!r} is embedded: {len(feature.levels):,} levels with {EMBED_MIN_ROWS}+ "
                         f"training rows, {feature.dim} values each (dataset.high_cardinality)")
    if max_parameters is not None:
        check_model_size(spec, prepared_shape(spec, data), max_parameters=max_parameters,
                         max_memory_bytes=max_memory_bytes if max_memory_bytes is not None else 2**63)
    setup = build_setup(spec, data, init_from=init_from, frame=prepared.frame)
    reporter.log(f"device: {setup.device}; model: {sum(p.numel() for p in setup.model.parameters())} parameters")
    write_holdout(run_dir, data.val_rows, len(data.train_rows) + len(data.val_rows))  # the split covers every row
    result = train(setup, run_dir, reporter, resume=resume)
    result.summary["dataset"] = {"ref": spec.dataset.ref, "sha256": prepared.dataset_sha256}
    if result.stop_reason != "cancelled":
        save_reference(run_dir, prepared, result.best_checkpoint or latest_valid_checkpoint(run_dir), reporter)
    (run_dir / "result.json").write_text(json.dumps(_jsonable(asdict(result)), indent=2))
    return result


def implicit_summary(spec: JobSpec, data: PreparedData) -> str:
    """What an implicit-feedback run holds out and how it trains, for its log."""
    dataset, model = spec.dataset, spec.model
    how = (f"the rows dataset.validation.column {dataset.validation.column!r} marks" if dataset.validation.column
           else f"each user's latest interaction by {dataset.timestamp_column!r}" if dataset.timestamp_column
           else "a random interaction of each user (no timestamp_column)")
    cold = (f"; {data.cold_val_rows} of them with a user or item no training row has (never recommended: misses)"
            if data.cold_val_rows else "")
    return (f"implicit feedback: held out {len(data.val_rows):,} interactions, {how}{cold}; loss {model.ranking_loss()} "
            f"with {model.negatives_per_draw()} {model.negative_sampling} negatives"
            + (" per batch" if model.ranking_loss() == "softmax" else " per interaction")
            + (f"; weights from {dataset.weight_column!r}" if dataset.weight_column else ""))


def save_reference(run_dir: Path, prepared: TrainingData, checkpoint: Path | None, reporter: Reporter) -> None:
    """Profile the training rows and the checkpoint's validation scores for later drift reports.

    The same profile as adamant.monitoring.reference.build_reference over the table, assembled
    from the training rows' profile made while preparing and the scores of the prepared
    validation rows, so a run whose data came from the cache needs no table here. Monitoring is
    an addition to a model, not part of it: a profile that cannot be made is logged as a
    warning, and scoring jobs of this run then report no drift.
    """
    if checkpoint is None:
        return
    started = time.monotonic()
    try:
        if prepared.reference_features is None:
            raise ValueError(prepared.reference_error or "no profile of the training rows")
        profile = json.loads(json.dumps(prepared.reference_features))  # a copy: the cache's stays as it was
        scorer = load_scorer(checkpoint)
        scores = validation_scores(scorer, prepared.data)
        profile["score"] = score_profile(scores) if scores is not None else None
        profile["scores_from"] = {
            "checkpoint_step": int(scorer.manifest.get("step", 0)),
            "manifest_sha256": sha256_of(checkpoint / MANIFEST),
            "validation_rows": int(len(prepared.data.val_rows)) if scores is not None else 0,
        }
        write_reference(run_dir, profile)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        reporter.log(f"warning: no reference profile for drift monitoring: {type(exc).__name__}: {exc}")
        return
    reporter.log(
        f"reference profile for drift monitoring: {len(profile['features'])} features over {profile['rows']} "
        f"training rows, scores of {profile['scores_from']['validation_rows']} validation rows "
        f"({time.monotonic() - started:.1f}s)"
    )


def validation_scores(scorer: Scorer, data: PreparedData) -> np.ndarray | None:
    """The checkpoint's scores (the torch-free scorer's) of the prepared validation rows: what
    scoring the validation rows of the table gives, without the table."""
    score_column = SCORE_COLUMNS.get(scorer.task)
    if score_column is None or not len(data.val_rows):
        return None
    scores = []
    layout = data.preprocessing.layout()
    for start, x in layout.expand_in_chunks(data.val):  # never the whole validation matrix at once
        part = slice(start, start + len(x))
        rows = PreparedRows(
            x=x,
            ids=data.ids_val[part],
            y=None if data.y_val is None else data.y_val[part],
            user_idx=None if data.user_idx_val is None else data.user_idx_val[part],
            item_idx=None if data.item_idx_val is None else data.item_idx_val[part],
            embedded=data.embedded_val[part],
        )
        scored = output_frame(scorer, rows)
        if score_column not in scored.columns or len(scored) != len(x):
            return None
        scores.append(scored[score_column].to_numpy(dtype=np.float64))
        release_pages(data.ids_val, data.embedded_val, *(a for a in (data.y_val, data.user_idx_val, data.item_idx_val) if a is not None))
    return np.concatenate(scores) if scores else None


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:
        return None
    return value

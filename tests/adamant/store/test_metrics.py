import math
import random
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adamant.store import (
    Lease,
    MetricPoint,
    Tenant,
    append_metrics,
    downsample_metrics,
    drop_metrics_after,
    get_job_any_tenant,
    metric_names,
    next_metrics,
)

from .conftest import running


def points(steps: range, *names: str, value=lambda step: 1.0 / step) -> list[tuple[int, float, str, float, float]]:
    return [(step, step / 100, name, value(step), 1_000.0 + step) for step in steps for name in names]


def test_seqs_increase_by_one_per_point_with_no_gaps(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)

    last = [append_metrics(session, lease, points(range(s, s + 5), "loss", "val_loss")) for s in (1, 6, 11)]

    assert last == [10, 20, 30]
    stored = session.scalars(
        select(MetricPoint.seq).where(MetricPoint.job_id == lease.job_id).order_by(MetricPoint.seq)
    )
    assert list(stored) == list(range(1, 31))
    assert get_job_any_tenant(session, lease.job_id).metric_seq == 30


def test_points_are_stored_as_given_with_the_attempt(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    append_metrics(session, lease, [(7, 0.25, "val_auc", 0.8125, 1234.5)])

    (point,), cursor = next_metrics(session, lease.job_id)

    assert (point.seq, point.step, point.epoch, point.name, point.value, point.time) == (
        1,
        7,
        0.25,
        "val_auc",
        0.8125,
        1234.5,
    )
    assert point.attempt == lease.attempt and cursor == 1


def test_objects_with_metric_fields_are_accepted_like_tuples(session: Session, tenant: Tenant) -> None:
    class Point:
        def __init__(self, step: int) -> None:
            self.step, self.epoch, self.name, self.value, self.time = step, 0.0, "loss", 0.5, 0.0

    lease = running(session, tenant)

    assert append_metrics(session, lease, [Point(1), Point(2)]) == 2


def test_non_finite_values_are_kept_as_null(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    append_metrics(
        session, lease, [(1, 0.0, "loss", math.nan, 0.0), (2, 0.0, "loss", math.inf, 0.0), (3, 0.0, "loss", 2.0, 0.0)]
    )

    stored, _ = next_metrics(session, lease.job_id)

    assert [p.value for p in stored] == [None, None, 2.0]


def test_last_metrics_holds_the_newest_value_of_each_validation_metric(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    append_metrics(session, lease, points(range(1, 4), "loss", "val_auc", value=lambda s: s / 10))
    append_metrics(session, lease, [(4, 0.04, "val_auc", math.nan, 0.0)])

    assert get_job_any_tenant(session, lease.job_id).last_metrics == {"val_auc": None}
    append_metrics(session, lease, [(5, 0.05, "val_auc", 0.7, 0.0), (5, 0.05, "val_loss", 0.3, 0.0)])
    assert get_job_any_tenant(session, lease.job_id).last_metrics == {"val_auc": 0.7, "val_loss": 0.3}


def test_incremental_reads_return_each_point_exactly_once(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    seen: list[int] = []
    cursor = 0
    for batch in range(10):
        append_metrics(session, lease, points(range(batch * 10 + 1, batch * 10 + 11), "loss", "val_loss"))
        while True:
            page, cursor = next_metrics(session, lease.job_id, after=cursor, limit=7)
            if not page:
                break
            seen += [p.seq for p in page]

    assert seen == list(range(1, 201))
    assert next_metrics(session, lease.job_id, after=cursor) == ([], cursor)


def test_a_reader_polling_while_the_worker_appends_misses_and_repeats_nothing(
    session_factory: sessionmaker[Session], session: Session, tenant: Tenant
) -> None:
    lease = running(session, tenant)
    done = threading.Event()

    def worker() -> None:
        with session_factory() as own:
            for batch in range(40):
                append_metrics(own, lease, points(range(batch * 5 + 1, batch * 5 + 6), "loss"))
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    seen: list[int] = []
    cursor = 0
    with session_factory() as reader:
        while True:
            finished = done.is_set()
            page, cursor = next_metrics(reader, lease.job_id, after=cursor)
            reader.commit()  # each poll is its own request: a fresh snapshot
            seen += [p.seq for p in page]
            if finished and not page:
                break
            time.sleep(0.001)  # a dashboard polls every second; a spin loop only starves the writer of the GIL
    thread.join()

    assert seen == list(range(1, 201))


def test_names_filter_the_incremental_read(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    append_metrics(session, lease, points(range(1, 6), "loss", "val_auc", "lr"))

    page, cursor = next_metrics(session, lease.job_id, names=["val_auc"])

    assert [p.name for p in page] == ["val_auc"] * 5
    assert cursor == page[-1].seq
    assert metric_names(session, lease.job_id) == ["loss", "lr", "val_auc"]


def test_resuming_from_a_checkpoint_replays_each_step_once(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    append_metrics(session, lease, points(range(1, 11), "loss", "val_auc"))  # steps 1..10, then the worker dies
    resumed = Lease(lease.job_id, lease.token, lease.attempt, lease.worker)  # same attempt, for brevity

    assert drop_metrics_after(session, resumed, 6) == 8  # the checkpoint was at step 6
    last = append_metrics(session, resumed, points(range(7, 13), "loss", "val_auc"))

    assert last == 32  # the counter never goes back: cursors held by readers stay valid
    replay, _ = next_metrics(session, lease.job_id, after=0)
    steps = [(p.name, p.step) for p in replay]
    assert sorted(steps) == sorted(set(steps)) == sorted((n, s) for s in range(1, 13) for n in ("loss", "val_auc"))
    assert [p.seq for p in replay] == sorted(p.seq for p in replay)
    assert get_job_any_tenant(session, lease.job_id).last_metrics == {"val_auc": 1 / 12}


def test_dropping_every_validation_point_clears_last_metrics(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    append_metrics(session, lease, points(range(1, 4), "val_auc"))

    drop_metrics_after(session, lease, 0)

    assert get_job_any_tenant(session, lease.job_id).last_metrics is None


def test_short_histories_come_back_whole(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    append_metrics(session, lease, points(range(1, 51), "loss", "val_auc"))

    series = downsample_metrics(session, lease.job_id, max_points=200)

    assert {name: [p.step for p in pts] for name, pts in series.items()} == {
        "loss": list(range(1, 51)),
        "val_auc": list(range(1, 51)),
    }
    assert downsample_metrics(session, lease.job_id, names=["loss"], max_points=200).keys() == {"loss"}
    with pytest.raises(ValueError):
        downsample_metrics(session, lease.job_id, max_points=3)


@pytest.mark.slow
def test_downsampling_100k_points_keeps_the_shape_within_max_points_quickly(session: Session, tenant: Tenant) -> None:
    rng = random.Random(0)
    lease = running(session, tenant)
    history = []
    for step in range(1, 80_001):
        noisy = 1.0 / math.sqrt(step) + rng.random() * 0.05
        history.append((step, step / 800, "loss", noisy, 0.0))
        if step % 4 == 0:
            history.append((step, step / 800, "val_loss", noisy + 0.01, 0.0))
    history[31_337] = (history[31_337][0], history[31_337][1], "loss", -5.0, 0.0)  # a spike the chart must show
    history[50_000] = (history[50_000][0], history[50_000][1], "loss", math.nan, 0.0)
    assert len(history) == 100_000
    for start in range(0, len(history), 20_000):
        append_metrics(session, lease, history[start : start + 20_000])

    started = time.perf_counter()
    series = downsample_metrics(session, lease.job_id, max_points=200)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0, f"downsampling took {elapsed:.2f}s"
    for name, kept in series.items():
        full = [p for p in history if p[2] == name]
        finite = [p[3] for p in full if not math.isnan(p[3])]
        assert 4 <= len(kept) <= 200
        assert kept[0].step == full[0][0] and kept[-1].step == full[-1][0]  # spans the whole history
        assert min(p.value for p in kept if p.value is not None) == min(finite)
        assert max(p.value for p in kept if p.value is not None) == max(finite)
        assert [p.step for p in kept] == sorted(p.step for p in kept)
    assert min(p.value for p in series["loss"] if p.value is not None) == -5.0
    total = sum(map(len, series.values()))
    print(f"\ndownsample 100k -> {total} points in {elapsed * 1000:.0f} ms ({session.get_bind().dialect.name})")

import pickle
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adamant.store import (
    AlreadyExists,
    IdempotencyConflict,
    InvalidCursor,
    InvalidTransition,
    LeaseLost,
    LimitExceeded,
    NotFound,
    StoreError,
    Tenant,
    database_time,
    make_engine,
    normalize_url,
)
from adamant.store.db import decode_cursor, encode_cursor, write_transaction
from adamant.store.models import new_id

from .conftest import unique


def test_the_database_clock_reads_epoch_seconds(session: Session) -> None:
    assert abs(database_time(session) - time.time()) < 5


def test_ids_are_prefixed_time_ordered_hex() -> None:
    first = new_id("job")
    time.sleep(0.002)
    second = new_id("job")

    assert first.startswith("job_") and len(first) == 30 and int(first[4:], 16) >= 0
    assert first[4:16] < second[4:16]


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = encode_cursor(1_795_000_000.123456, "job_abc")

    assert decode_cursor(cursor, float, str) == (1_795_000_000.123456, "job_abc")
    for bad in ("", "!!!", encode_cursor("a", "b"), encode_cursor(1.0), encode_cursor(True, "x")):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, float, str)


def test_a_failed_write_rolls_back_everything_and_raises_a_store_error(session: Session) -> None:
    name = unique("rollback")

    with pytest.raises(StoreError), write_transaction(session):
        session.add(Tenant(name=name))
        session.flush()
        session.add(Tenant(name=name))  # violates the unique name
        session.flush()

    assert session.scalars(select(Tenant).where(Tenant.name == name)).all() == []


def test_postgres_urls_use_psycopg_3(tmp_path) -> None:
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'a.db'}")
    with engine.connect():
        assert (tmp_path / "nested" / "dir" / "a.db").exists()
    engine.dispose()


def test_ids_made_in_one_process_only_grow() -> None:
    ids = [new_id("job") for _ in range(10_000)]  # many share a millisecond

    assert ids == sorted(ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "error",
    [
        NotFound("job", "job_x"),
        AlreadyExists("tenant", "acme"),
        InvalidTransition("job_x", ("queued", "running"), "succeeded", "cancelled"),
        LeaseLost("job_x", 3),
        IdempotencyConflict("key", "job_x"),
        LimitExceeded("max_concurrent_jobs", 5, 4),
        InvalidCursor("bad cursor"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_pickling_with_their_fields(error: StoreError) -> None:
    # Celery's prefork pool pickles exceptions between processes.
    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is type(error) and str(copy) == str(error) and copy.to_dict() == error.to_dict()

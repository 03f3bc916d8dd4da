import pytest
from sqlalchemy.orm import Session

from adamant.store import LeaseLost, NotFound, Tenant, append_logs, next_logs, requeue_or_fail
from adamant.store.logs import MAX_MESSAGE_BYTES

from .conftest import running, submit


def test_lines_are_numbered_per_job_and_read_by_cursor(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    other = running(session, tenant)

    assert append_logs(session, lease.job_id, [(1.0, "INFO", "loading"), (2.0, "info", "training")], lease=lease) == 2
    assert append_logs(session, other.job_id, [(1.0, "info", "elsewhere")], lease=other) == 1
    assert append_logs(session, lease.job_id, [(3.0, "warning", "slow epoch")], lease=lease) == 3

    first, cursor = next_logs(session, lease.job_id, limit=2)
    rest, cursor = next_logs(session, lease.job_id, after=cursor)
    assert [(line.seq, line.level, line.message) for line in first + rest] == [
        (1, "info", "loading"), (2, "info", "training"), (3, "warning", "slow epoch")
    ]  # fmt: skip
    assert next_logs(session, lease.job_id, after=cursor) == ([], 3)


def test_the_service_logs_without_a_lease_and_a_stale_worker_cannot(session: Session, tenant: Tenant) -> None:
    job = submit(session, tenant)
    assert append_logs(session, job.id, [(0.0, "info", "queued behind 2 jobs")]) == 1
    assert append_logs(session, job.id, []) == 1

    lease = running(session, tenant)
    requeue_or_fail(session, lease, "worker lost")
    with pytest.raises(LeaseLost):
        append_logs(session, lease.job_id, [(0.0, "info", "late line")], lease=lease)
    with pytest.raises(NotFound):
        append_logs(session, "job_missing", [(0.0, "info", "x")])
    with pytest.raises(ValueError):
        append_logs(session, job.id, [(0.0, "info", "x")], lease=lease)


def test_long_messages_are_cut_at_4_kb_and_nul_characters_are_made_visible(session: Session, tenant: Tenant) -> None:
    job = submit(session, tenant)
    append_logs(session, job.id, [(0.0, "error", "é" * 5000), (0.0, "info", "nul\x00byte")])

    (long, nul), _ = next_logs(session, job.id)

    assert len(long.message.encode()) <= MAX_MESSAGE_BYTES and long.message.endswith("[truncated]")
    assert long.message.startswith("é" * 100)
    assert nul.message == "nul\\0byte"

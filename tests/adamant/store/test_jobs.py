import threading
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adamant.store import (
    IdempotencyConflict,
    InvalidCursor,
    InvalidTransition,
    Job,
    JobStatus,
    LimitExceeded,
    NotFound,
    Tenant,
    finish_job,
    get_job,
    get_job_any_tenant,
    list_jobs,
    request_cancel,
    resume_job,
    submit_job,
)
from adamant.store.db import write_transaction

from .conftest import job_in, job_spec, running, submit


def test_submit_stores_a_queued_job_with_a_prefixed_id(session: Session, tenant: Tenant) -> None:
    job, created = submit_job(
        session, tenant.id, job_spec(), name="propensity", queue="gpu", priority=3, max_restarts=1
    )

    assert created
    assert job.id.startswith("job_") and len(job.id) == 4 + 26
    assert (job.status, job.attempt, job.lease_token, job.version, job.event_seq) == (JobStatus.QUEUED, 0, 0, 1, 1)
    assert (job.name, job.queue, job.priority, job.max_restarts, job.kind) == ("propensity", "gpu", 3, 1, "train")
    assert job.spec == job_spec()
    assert job.created_at == job.queued_at and job.dispatched_at is None


def test_the_same_idempotency_key_and_body_returns_the_same_job(session: Session, tenant: Tenant) -> None:
    first, created = submit_job(session, tenant.id, job_spec(), idempotency_key="k1", request_hash="h1")
    again, created_again = submit_job(session, tenant.id, job_spec(), idempotency_key="k1", request_hash="h1")

    assert created and not created_again
    assert again.id == first.id
    assert len(list_jobs(session, tenant.id)[0]) == 1


def test_the_same_idempotency_key_with_another_body_conflicts(session: Session, tenant: Tenant) -> None:
    first, _ = submit_job(session, tenant.id, job_spec(), idempotency_key="k1", request_hash="h1")

    with pytest.raises(IdempotencyConflict) as conflict:
        submit_job(session, tenant.id, job_spec(epochs=9), idempotency_key="k1", request_hash="h2")

    assert conflict.value.job_id == first.id


def test_idempotency_keys_are_per_tenant(session: Session, make_tenant: Callable[..., Tenant]) -> None:
    a, b = make_tenant(), make_tenant()
    job_a, _ = submit_job(session, a.id, job_spec(), idempotency_key="same", request_hash="h")
    job_b, created = submit_job(session, b.id, job_spec(), idempotency_key="same", request_hash="other")

    assert created and job_a.id != job_b.id


def test_racing_retries_of_one_request_create_one_job(
    session: Session, session_factory: sessionmaker[Session], tenant: Tenant
) -> None:
    start = threading.Barrier(4)
    results: list[tuple[str, bool]] = []

    def retry() -> None:
        with session_factory() as own:
            start.wait()
            job, created = submit_job(own, tenant.id, job_spec(), idempotency_key="retry", request_hash="h")
            results.append((job.id, created))

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]


def test_max_concurrent_jobs_counts_queued_running_and_cancelling(
    session: Session, make_tenant: Callable[..., Tenant]
) -> None:
    tenant = make_tenant(max_concurrent_jobs=3)
    queued = submit(session, tenant)
    lease = running(session, tenant)
    cancelling = running(session, tenant)
    request_cancel(session, tenant.id, cancelling.job_id)

    with pytest.raises(LimitExceeded) as exceeded:
        submit_job(session, tenant.id, job_spec())
    assert (exceeded.value.limit, exceeded.value.maximum) == ("max_concurrent_jobs", 3)

    finish_job(session, lease, JobStatus.SUCCEEDED)
    submit(session, tenant)  # a finished job frees its slot
    request_cancel(session, tenant.id, queued.id)
    submit(session, tenant)  # so does a cancelled one
    with pytest.raises(LimitExceeded):  # and resuming it takes a slot like a submit
        resume_job(session, tenant.id, queued.id)


def test_concurrent_submits_never_exceed_the_limit(
    session_factory: sessionmaker[Session], make_tenant: Callable[..., Tenant]
) -> None:
    tenant = make_tenant(max_concurrent_jobs=3)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def submit_one() -> None:
        with session_factory() as own:
            start.wait()
            try:
                submit_job(own, tenant.id, job_spec())
                outcomes.append("created")
            except LimitExceeded:
                outcomes.append("refused")

    threads = [threading.Thread(target=submit_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 3


def test_max_epochs_is_enforced(session: Session, make_tenant: Callable[..., Tenant]) -> None:
    tenant = make_tenant(max_epochs=50)

    with pytest.raises(LimitExceeded) as exceeded:
        submit_job(session, tenant.id, job_spec(epochs=51))

    assert exceeded.value.limit == "max_epochs"
    submit_job(session, tenant.id, job_spec(epochs=50))


def test_submitting_for_an_unknown_tenant_or_a_foreign_parent_is_not_found(
    session: Session, make_tenant: Callable[..., Tenant]
) -> None:
    a, b = make_tenant(), make_tenant()
    parent_of_b = submit(session, b)

    with pytest.raises(NotFound):
        submit_job(session, "tnt_missing", job_spec())
    with pytest.raises(NotFound):
        submit_job(session, a.id, job_spec(), parent_id=parent_of_b.id)


def test_another_tenants_job_is_not_found_anywhere(session: Session, make_tenant: Callable[..., Tenant]) -> None:
    owner, other = make_tenant(), make_tenant()
    job = submit(session, owner)
    failed, _ = job_in(session, owner, JobStatus.FAILED)

    for attempt in (
        lambda: get_job(session, other.id, job.id),
        lambda: request_cancel(session, other.id, job.id),
        lambda: resume_job(session, other.id, failed.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert list_jobs(session, other.id) == ([], None)
    assert get_job(session, owner.id, job.id).status == JobStatus.QUEUED
    assert get_job_any_tenant(session, job.id).tenant_id == owner.id


def test_list_is_newest_first_and_pages_stay_stable_while_jobs_arrive(session: Session, tenant: Tenant) -> None:
    submitted = [submit(session, tenant).id for _ in range(7)]

    page1, cursor = list_jobs(session, tenant.id, limit=3)
    for _ in range(3):
        submit(session, tenant)  # new jobs sort before page 1, never into later pages
    page2, cursor = list_jobs(session, tenant.id, limit=3, cursor=cursor)
    page3, end = list_jobs(session, tenant.id, limit=3, cursor=cursor)

    seen = [job.id for job in page1 + page2 + page3]
    assert seen == submitted[::-1]
    assert end is None


def test_list_pages_through_jobs_created_in_the_same_instant(session: Session, tenant: Tenant) -> None:
    jobs = [submit(session, tenant) for _ in range(5)]
    with write_transaction(session):
        for job in jobs:  # force ties on created_at: the id breaks them
            session.get(Job, job.id).created_at = 1_000.0

    seen, cursor = [], None
    while True:
        page, cursor = list_jobs(session, tenant.id, limit=2, cursor=cursor)
        seen += [job.id for job in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(job.id for job in jobs) and len(seen) == 5


def test_list_filters_by_status_and_parent(session: Session, tenant: Tenant) -> None:
    parent = submit(session, tenant, kind="sweep")
    children = [submit(session, tenant, parent_id=parent.id) for _ in range(2)]
    cancelled = request_cancel(session, tenant.id, children[0].id)

    by_parent, _ = list_jobs(session, tenant.id, parent_id=parent.id)
    by_status, _ = list_jobs(session, tenant.id, statuses=["cancelled"])

    assert {job.id for job in by_parent} == {child.id for child in children}
    assert [job.id for job in by_status] == [cancelled.id]


def test_a_forged_cursor_is_refused(session: Session, tenant: Tenant) -> None:
    for cursor in ("not-a-cursor", "WzEsMiwzXQ", "eyJhIjoxfQ"):
        with pytest.raises(InvalidCursor):
            list_jobs(session, tenant.id, cursor=cursor)


def test_cancel_stops_a_queued_job_at_once_and_asks_a_running_one(session: Session, tenant: Tenant) -> None:
    queued = submit(session, tenant)
    lease = running(session, tenant)

    cancelled = request_cancel(session, tenant.id, queued.id)
    cancelling = request_cancel(session, tenant.id, lease.job_id)
    again = request_cancel(session, tenant.id, lease.job_id)

    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at is not None
    assert cancelling.status == JobStatus.CANCELLING and cancelling.cancel_requested
    assert again.version == cancelling.version  # cancelling twice changes nothing
    from adamant.store import claim_job

    assert claim_job(session, queued.id, "w", 30) is None  # its message may still arrive


def test_cancelling_job_may_still_finish_as_it_ended(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    request_cancel(session, tenant.id, lease.job_id)

    job = finish_job(session, lease, JobStatus.SUCCEEDED, result={"steps": 100})

    assert job.status == JobStatus.SUCCEEDED
    with pytest.raises(InvalidTransition):
        request_cancel(session, tenant.id, job.id)


def test_resume_queues_a_failed_job_again_without_its_error(session: Session, tenant: Tenant) -> None:
    lease = running(session, tenant)
    finish_job(session, lease, JobStatus.FAILED, error={"type": "training_error", "message": "diverged"})

    job = resume_job(session, tenant.id, lease.job_id)

    assert (job.status, job.error, job.finished_at, job.cancel_requested) == (JobStatus.QUEUED, None, None, False)
    assert job.attempt == 1  # attempts keep counting across resumes

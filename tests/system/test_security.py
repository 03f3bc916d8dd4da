"""Security behaviour that needs a stack of its own (it would disturb shared ones)."""

from __future__ import annotations

import pytest

from support.stack import Stack, create_tenant

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_repeated_wrong_keys_from_one_address_are_rate_limited_but_known_keys_still_work(own_stack) -> None:
    stack: Stack = own_stack("embedded")
    stack.start_api()
    key = create_tenant(stack, "honest")
    with stack.client(key) as honest:
        assert honest.get("/v1/jobs").status_code == 200
    codes = []
    for i in range(25):
        with stack.client(f"adm_wrong-{i}") as client:
            codes.append(client.get("/v1/jobs").status_code)
    with stack.client(key) as honest:
        still = honest.get("/v1/jobs").status_code
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert still == 200


def test_api_keys_are_stored_hashed_never_in_plain_text(own_stack) -> None:
    import sqlalchemy as sa

    stack: Stack = own_stack("embedded")
    stack.start_api()
    key = create_tenant(stack, "hashed")
    engine = sa.create_engine(f"sqlite:///{stack.home / 'adamant.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM api_keys")).fetchall()
    dump = repr(rows)
    assert key not in dump and key[4:] not in dump
    import hashlib

    assert hashlib.sha256(key.encode()).hexdigest() in dump

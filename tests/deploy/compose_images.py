"""Reading docker-compose.yml and the Dockerfile the way Docker would, to run their commands here.

No Docker engine runs in CI, so the deploy tests take each compose service's command line,
healthcheck and environment exactly as a container would get them (compose interpolation,
image ENV, ENTRYPOINT + CMD of the image's build target, compose overrides), then run them as
local processes. Only what a container gets from its surroundings is replaced: hostnames of
Redis/PostgreSQL, the volume's path, the published port.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"

# What `docker compose` needs in its environment to interpolate the file (it refuses to run
# without these secrets); values are throwaway but valid (the admin key is 32+ characters).
COMPOSE_SECRETS = ("ADAMANT_ADMIN_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD")

_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    """A `${VAR:?message}` whose variable is unset or empty, as `docker compose` reports it."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        expression = match.group("braced")
        name, operator, argument = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-?]|)(.*)", expression, re.S).groups()  # type: ignore[union-attr]
        value = env.get(name)
        missing = value is None or (operator.startswith(":") and value == "")
        if operator.endswith("-"):
            return argument if missing else value  # type: ignore[return-value]
        if operator.endswith("?"):
            if missing:
                raise InterpolationError(f"{name}: {argument}")
            return value  # type: ignore[return-value]
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _interpolate_tree(node: object, env: Mapping[str, str]) -> object:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def load_compose(env: Mapping[str, str]) -> dict:
    """docker-compose.yml with YAML anchors merged and variables interpolated from `env`."""
    return _interpolate_tree(yaml.safe_load(COMPOSE_FILE.read_text()), env)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One build stage: what an image built with `--target name` starts from."""

    name: str
    parent: str
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: list[str] | None = None
    user: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    instructions: list[tuple[str, str]] = field(default_factory=list)  # this stage's own, in order

    def copied_from(self) -> list[str]:
        """Stages this one copies files from (COPY --from=...)."""
        return [re.search(r"--from=(\S+)", arguments).group(1)  # type: ignore[union-attr]
                for keyword, arguments in self.instructions if keyword == "COPY" and "--from=" in arguments]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    out = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _exec_form(arguments: str) -> list[str]:
    """A JSON array (exec form) or a shell-form string, which Docker runs as /bin/sh -c."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return ["/bin/sh", "-c", arguments]


def _parse_env(arguments: str) -> dict[str, str]:
    pairs = shlex.split(arguments)
    if len(pairs) >= 2 and "=" not in pairs[0]:
        return {pairs[0]: " ".join(pairs[1:])}  # legacy `ENV KEY value`
    return dict(pair.split("=", 1) for pair in pairs)


def parse_dockerfile(path: Path = DOCKERFILE) -> dict[str, Stage]:
    """Every named stage, each with what it inherits from the stage it is built FROM."""
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for keyword, arguments in _instructions(path.read_text()):
        if keyword == "FROM":
            words = arguments.split()
            image = words[0]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else f"stage{len(stages)}"
            parent = stages.get(image)
            stage = Stage(name=name, parent=image)
            if parent is not None:
                stage.env = dict(parent.env)
                stage.entrypoint, stage.cmd, stage.healthcheck = parent.entrypoint, parent.cmd, parent.healthcheck
                stage.user = parent.user
            stages[name] = stage
            continue
        if stage is None:
            continue  # an ARG before the first FROM (BASE_IMAGE)
        stage.instructions.append((keyword, arguments))
        if keyword == "ARG":
            name, _, default = arguments.partition("=")
            stage.args[name] = default
        elif keyword == "ENV":
            stage.env.update(_parse_env(arguments))
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = _exec_form(arguments)
            stage.cmd = None  # Docker resets an inherited CMD when ENTRYPOINT is set
        elif keyword == "CMD":
            stage.cmd = _exec_form(arguments)
        elif keyword == "USER":
            stage.user = arguments
        elif keyword == "HEALTHCHECK":
            if arguments.upper() == "NONE":
                stage.healthcheck = None
            else:
                command = re.split(r"(?:^|\s)CMD\s", arguments, maxsplit=1)[1].strip()
                stage.healthcheck = _exec_form(command)
    return stages


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """Every stage whose files can end up in `name`'s image: its FROM chain and what it copies from."""
    seen: list[Stage] = []
    todo = [name]
    while todo:
        stage = stages.get(todo.pop())
        if stage is None or stage in seen:
            continue  # an external image (python:3.11-slim...)
        seen.append(stage)
        todo += [stage.parent, *stage.copied_from()]
    return seen


# ---------------------------------------------------------------------------------------------


@dataclass
class ServiceProcess:
    """What one compose service's container would run, and with what."""

    name: str
    argv: list[str]
    healthcheck: list[str] | None
    environment: dict[str, str]
    image_env: dict[str, str]
    target: str


def _compose_command(value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(part) for part in value]  # type: ignore[union-attr]


def _compose_healthcheck(value: dict | None) -> list[str] | None | bool:
    """The healthcheck test as an argv; False when the service disables it; None if unset."""
    if not value:
        return None
    if value.get("disable"):
        return False
    test = value.get("test")
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    if test[0] == "NONE":
        return False
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    assert test[0] == "CMD", test
    return list(test[1:])


def service_process(compose: dict, stages: dict[str, Stage], name: str) -> ServiceProcess:
    service = compose["services"][name]
    target = service["build"]["target"]
    stage = stages[target]
    entrypoint = _compose_command(service.get("entrypoint")) or stage.entrypoint or []
    command = _compose_command(service.get("command")) or stage.cmd or []
    healthcheck = _compose_healthcheck(service.get("healthcheck"))
    if healthcheck is None:
        healthcheck = stage.healthcheck
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return ServiceProcess(
        name=name,
        argv=[*entrypoint, *command],
        healthcheck=healthcheck or None,
        environment={k: "" if v is None else str(v) for k, v in environment.items()},
        image_env=dict(stage.env),
        target=target,
    )


def replace_in(argv: list[str], replacements: Mapping[str, str]) -> list[str]:
    """Each argument with every `old` substring replaced by `new` (ports, node names)."""
    out = []
    for argument in argv:
        for old, new in replacements.items():
            argument = argument.replace(old, new)
        out.append(argument)
    return out


def locally_runnable(argv: list[str]) -> list[str]:
    """The image's init (tini) only matters as PID 1; run without it where it is not installed."""
    if argv and Path(argv[0]).name == "tini" and shutil.which(argv[0]) is None:
        return argv[2:] if argv[1:2] == ["--"] else argv[1:]
    return argv


def local_environment(process: ServiceProcess, overrides: Mapping[str, str], venv_bin: Path) -> dict[str, str]:
    """The container's environment (image ENV, then compose's `environment:`) on top of this
    machine's, with `overrides` for what the host provides instead of the compose network."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ADAMANT_") and k not in ("DATABASE_URL", "BROKER_URL")}
    image_env = {k: v for k, v in process.image_env.items() if k not in ("PATH", "VIRTUAL_ENV")}
    env = {**base, **image_env, **process.environment, **overrides}
    # The image's venv is on its PATH (/opt/venv/bin); here the project's venv plays that part.
    env["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    return env

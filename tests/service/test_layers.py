"""service/api/ is the top layer: nothing else under service/ imports service.api.*.

Business modules raise domain errors (adamant/exceptions.py, adamant/store/exceptions.py) and
take a service.caller.Caller; only the API layer knows HTTP, and service/api/problems.py maps
each domain error to its status once. The one exemption is service/app.py, the wiring that
mounts the API. Imports are read with ast, nested and TYPE_CHECKING ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"
API = "service.api"

EXEMPT = {
    "service/app.py",  # the wiring: builds the app from the API's routes, problems and dependencies
}
# Still importing service.api.*, each fixed outside this change; empty the set as they are.
PENDING: set[str] = set()  # modules still to be moved off service.api (none now)


def api_imports(source: str, module: str) -> list[str]:
    """The service.api.* imports in `source`, the text of dotted module `module`, as written."""
    package = module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_api(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]  # `from service import api`
            if _is_api(base) or any(_is_api(name) for name in names):
                found.append(f"from {'.' * node.level}{node.module or ''} import {', '.join(a.name for a in node.names)}")
    return found


def _is_api(name: str) -> bool:
    return name == API or name.startswith(API + ".")


def business_modules() -> list[Path]:
    return sorted(path for path in SERVICE.rglob("*.py") if (SERVICE / "api") not in path.parents)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_no_business_module_imports_the_api_layer() -> None:
    breaches = []
    for path in business_modules():
        relative = path.relative_to(ROOT).as_posix()
        if relative in EXEMPT or relative in PENDING:
            continue
        breaches += [f"{relative}: {line}" for line in api_imports(path.read_text(), module_name(path))]
    assert not breaches, "service/api/ is the top layer; these modules import it:\n" + "\n".join(breaches)


def test_a_pending_module_that_keeps_the_rule_leaves_the_pending_set() -> None:
    done = [relative for relative in sorted(PENDING)
            if (ROOT / relative).is_file()
            and not api_imports((ROOT / relative).read_text(), module_name(ROOT / relative))]
    assert not done, f"these no longer import service.api; remove them from PENDING: {done}"


@pytest.mark.parametrize("line", [
    "from service.api.deps import Caller",
    "from service.api import problems",
    "import service.api.schemas",
    "from service import api",
    "from .api.problems import Problem",
    "from . import api",
    "def later():\n    from service.api.deps import Caller",
])
def test_the_check_sees_every_way_of_importing_the_api(line: str) -> None:
    assert api_imports(line, "service.retention")


@pytest.mark.parametrize("line", [
    "from service.caller import Caller",
    "from service import submission",
    "from adamant.exceptions import SpecError",
    "from .sweeps import controller",
    "import service.apiary",
])
def test_the_check_lets_other_imports_be(line: str) -> None:
    assert not api_imports(line, "service.retention")

"""Property-based fuzzing of the live API with schemathesis: no 5xx, no schema violations.

Starts the service (API only, no worker, so generated jobs stay queued) on the embedded
defaults or on PostgreSQL + Redis, creates a tenant, and runs `st run` with every check
(see schemathesis.toml) against /openapi.json. Prints the summary and the number of generated
cases; exits non-zero on any failure. The test suite runs a shorter version of this.

Run: `python -m bench.fuzz_api [--examples 100] [--kind cluster]`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from support.stack import create_tenant, drop_pg_database, make_stack  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def fuzz(kind: str, examples: int, seed: int = 1) -> tuple[int, int, str]:
    """(generated cases, failures, output) of one schemathesis run against a fresh stack."""
    with tempfile.TemporaryDirectory(prefix="adamant-fuzz-") as tmp:
        stack = make_stack(kind, Path(tmp) / "stack")
        try:
            stack.start_api()
            key = create_tenant(stack, "fuzz", max_concurrent_jobs=1000)
            command = [
                str(Path(sys.executable).parent / "st"), "--config-file", str(REPO / "schemathesis.toml"), "run",
                f"{stack.base_url}/openapi.json", "-H", f"Authorization: Bearer {key}",
                "--max-examples", str(examples), "--seed", str(seed), "--no-color", "--workers", "2",
            ]
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            output = done.stdout + done.stderr
        finally:
            stack.stop_all()
            if stack.database_url:
                drop_pg_database(stack.database_url)
    generated = int(re.search(r"(\d+) generated", output).group(1))
    found = re.search(r"found (\d+) unique failure", output)
    return generated, int(found.group(1)) if found else 0, output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="schemathesis against the live API")
    parser.add_argument("--examples", type=int, default=100, help="max examples per operation and phase")
    parser.add_argument("--kind", choices=["embedded", "cluster"], default="cluster")
    args = parser.parse_args(argv)
    generated, failures, output = fuzz(args.kind, args.examples)
    print(output[output.find("SUMMARY") - 40:] if "SUMMARY" in output else output[-4000:])
    print(f"schemathesis on the {args.kind} stack: {generated} generated cases, {failures} failures")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

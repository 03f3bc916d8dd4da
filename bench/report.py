"""Regenerate docs/benchmarks.md: every benchmark, run here, in one command.

    python -m bench.report [--out docs/benchmarks.md] [--quick] [--only NAME ...]

`--only` reruns some benchmarks and replaces just their sections of an existing report.

Each benchmark runs as its own process (`python -m bench.<name> --json ...`), one after the
other, so they never share the machine with each other; what each printed — its table, with
what it measured, how and against what — goes into the report verbatim, under the module's
own description of its method, with the wall time it took. The header records the machine,
the load average before and after, torch, and the commit. GPU numbers cannot be produced
here (no CUDA): the last run of bench/cuda_checks.sh on a lent GPU machine, kept in
docs/benchmarks/, is included as recorded, with its date and device.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name -> (arguments for the full run, arguments for --quick)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "adam_step": ([], ["--quick"]),
    "engine_throughput": ([], ["--repeats", "1", "--epochs", "2"]),
    "service_load": ([], ["--samples", "10"]),
    "queue_drain": (["--jobs", "200"], ["--jobs", "20"]),  # both ways of starting jobs: ~12 min
    "quality": (["--folds"], []),
    "data_scale": (["--rows", "100000", "1000000"], ["--rows", "5000"]),
    "implicit_feedback": ([], ["--quick"]),
    "csv_stream": (["--rows", "1000000"], ["--rows", "20000"]),  # 10M by hand: ~6 min
}


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": f"{memory_gib:.0f} GiB", "python": platform.python_version(),
            "torch": torch_version, "commit": commit or "unknown", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def method(name: str) -> str:
    doc = importlib.import_module(f"bench.{name}").__doc__ or ""
    return doc.strip()


def run(name: str, arguments: list[str], out: Path) -> tuple[str, float, int]:
    command = [sys.executable, "-m", f"bench.{name}", *arguments, "--json", str(out / f"{name}.json")]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.monotonic() - started
    text = done.stdout + (f"\n[exit {done.returncode}]\n{done.stderr[-3000:]}" if done.returncode else "")
    print(f"== {name} ({seconds:.0f} s)\n{text}", flush=True)
    return text, seconds, done.returncode


def recorded_gpu_section() -> str:
    folder = REPO / "docs" / "benchmarks"
    logs = sorted(folder.glob("cuda-*.log")) if folder.is_dir() else []
    if not logs:
        return "No GPU run recorded yet: run `bench/cuda_checks.sh` on a CUDA machine and keep its log in docs/benchmarks/.\n"
    parts = []
    for log in logs:
        parts.append(f"Recorded by `bench/cuda_checks.sh` ({log.name}; not rerun by this command, which needs a GPU):\n\n```\n{log.read_text().strip()}\n```\n")
    return "\n".join(parts)


def previous_sections(text: str) -> dict[str, str]:
    """The benchmark sections of an earlier report, by name (the CUDA section is rebuilt)."""
    out = {}
    for chunk in text.split("\n## ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        if name in BENCHMARKS:
            out[name] = f"## {chunk.rstrip()}\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the report itself")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    data = args.out.parent / "benchmarks"
    data.mkdir(parents=True, exist_ok=True)

    info = machine()
    load_before = os.getloadavg()
    sections, failures = [], 0
    for name in names:
        full, quick = BENCHMARKS[name]
        arguments = quick if args.quick else full
        text, seconds, code = run(name, arguments, data)
        failures += code != 0
        shown = " ".join(["python -m", f"bench.{name}", *arguments])
        sections.append(f"## {name}\n\n`{shown}` — {seconds:.0f} s{' (FAILED, exit ' + str(code) + ')' if code else ''}\n\n"
                        f"<details><summary>Method</summary>\n\n```\n{method(name)}\n```\n</details>\n\n```\n{text.strip()}\n```\n")
    load_after = os.getloadavg()

    header = (
        "# Benchmarks\n\n"
        f"Generated by `python -m bench.report{' --quick' if args.quick else ''}` on {info['date']}, commit {info['commit']}.\n\n"
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, Python {info['python']}, torch {info['torch']}; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}. "
        "Each benchmark ran alone, one after the other; ratios inside one table were measured side by side in the same run. "
        "JSON for each is in docs/benchmarks/.\n\n"
        "The optimizer comparisons (7 optimizers x 3 seeds, through the service) are in "
        "[comparisons.md](comparisons.md) (`python -m bench.comparisons --markdown docs/comparisons.md`).\n"
    )
    gpu = "## CUDA (recorded on a lent GPU machine)\n\n" + recorded_gpu_section()
    if args.only and args.out.exists():  # rerun some: replace their sections, keep the others
        kept = previous_sections(args.out.read_text())
        for name, section in zip(names, sections):
            kept[name] = section.replace(f"## {name}\n", f"## {name}\n\n(rerun on {info['date']}, commit {info['commit']})\n", 1)
        sections = [kept[name] for name in BENCHMARKS if name in kept]
        header = args.out.read_text().split("\n## ", 1)[0].rstrip() + "\n"
    args.out.write_text(header + "\n" + "\n".join(sections) + "\n" + gpu)
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

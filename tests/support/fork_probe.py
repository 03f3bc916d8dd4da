"""A job module for tests/worker/test_job_process.py: run in a process the fork server forked, it
builds the engine's Adam and prints the modules that building it imported."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import torch

    from worker.adam.adam import Adam

    before = set(sys.modules)
    Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    print("imported:", ",".join(sorted(set(sys.modules) - before)), flush=True)
    return 0

"""The implicit-feedback benchmark runs end to end on a small made-up log: every method tuned,
fitted and evaluated under both protocols, its metrics rates, every test user counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_the_benchmark_tunes_fits_and_evaluates_every_method(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.implicit_feedback import GRIDS, main

    rng = np.random.default_rng(0)
    rows = []
    for user in range(120):  # two tastes: users of group g mostly take items of block g
        group = user % 2
        for t, item in enumerate(rng.choice(np.arange(group * 40, group * 40 + 40), 15, replace=False)):
            rows.append((user + 1, int(item) + 1, 5, t))
        rows.append((user + 1, int(rng.integers(80, 300)) + 1, 5, 99))  # and one item from a long shared tail
    path = tmp_path / "u.data"
    path.write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    results = main(["--data", str(path), "--quick"])
    printed = capsys.readouterr().out
    for method in GRIDS:
        assert method in printed
        for name in ("hr@10", "ndcg@10", "recall@10", "coverage@10", "sampled_hr@10", "sampled_ndcg@10"):
            assert 0.0 <= results[method][name] <= 1.0, (method, name)
    assert results["data"]["test_users"] == 120

"""The README's implicit-feedback example, run as a user runs it: `adamant train` on
examples/movielens-implicit.json (fewer epochs), then `adamant predict` of users only, which
gives each their top 10 unbought films and a newcomer the most popular ones, labelled so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from support.stack import REPO

ADAMANT = [sys.executable, "-m", "client.cli"]


def test_the_readme_example_trains_ranks_and_recommends_unbought_films(movielens_path: Path, tmp_path: Path) -> None:
    spec = json.loads((REPO / "examples" / "movielens-implicit.json").read_text())
    spec["dataset"]["ref"] = f"file:{movielens_path}"
    spec["training"]["epochs"] = 2
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    trained = subprocess.run([*ADAMANT, "train", str(tmp_path / "spec.json"), "--out", str(tmp_path / "run")],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    for name in ("val_hr_10", "val_ndcg_10", "val_recall_20", "val_coverage_10", "val_sampled_ndcg_10"):
        assert name in trained.stdout
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["best_metrics"]["val_ndcg_10"] > 0.02  # chance over 1,682 films: ~0.003

    pd.DataFrame({"column_1": [1, 2, 5000], "note": "x"}).to_csv(tmp_path / "users.csv", index=False)
    films = pd.read_csv(movielens_path.parent / "u.item", sep="|", header=None, encoding="latin-1").iloc[:, :2]
    films.columns = ["column_2", "title"]  # the model's item column, and what to show beside each film
    films.to_csv(tmp_path / "films.csv", index=False)
    scored = subprocess.run([*ADAMANT, "predict", str(tmp_path / "run" / "best"), str(tmp_path / "users.csv"),
                             "--output", str(tmp_path / "top.csv"), "--items", str(tmp_path / "films.csv")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert scored.returncode == 0, scored.stderr
    top = pd.read_csv(tmp_path / "top.csv")
    assert list(top.columns) == ["column_1", "rank", "item", "score", "source", "title"]
    assert top.loc[top["item"] == 50, "title"].eq("Star Wars (1977)").all()
    assert top.groupby("column_1").size().tolist() == [10, 10, 10]
    ratings = pd.read_csv(movielens_path, sep="\t", names=["user", "item", "rating", "time"])
    seen = set(zip(ratings["user"], ratings["item"], strict=True))
    personal = top[top["source"] == "model"]
    held_out = ratings.sort_values(["time"], kind="stable").groupby("user").tail(1)  # may come back: it is not in training
    bought = {pair for pair in zip(personal["column_1"], personal["item"], strict=True) if pair in seen}
    assert bought <= set(zip(held_out["user"], held_out["item"], strict=True))
    assert (top[top["column_1"] == 5000]["source"] == "popular").all()

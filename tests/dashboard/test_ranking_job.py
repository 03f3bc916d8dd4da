"""Implicit-feedback recommendation through the live service, as a marketing team uses it: a
purchases table trains a ranking model (API + a real worker), a batch scoring job writes every
customer's top k with the product catalogue joined and bought products left out, and the job's
dashboard page charts HR@10 and NDCG@10 per epoch. The stack and the browser: tests/dashboard/conftest.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from support.browser import SCREENSHOTS, close, open_page
from support.stack import Stack, create_tenant, job_report, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUSTOMERS, PRODUCTS = 80, 40


def write_tables(files: Path) -> pd.DataFrame:
    """purchases.csv (two tastes: customers of each half buy its products), customers.csv, products.csv."""
    rng = np.random.default_rng(5)
    rows = []
    for customer in range(CUSTOMERS):
        half = customer % 2
        bought = rng.choice(np.arange(half * 20, half * 20 + 20), 8, replace=False)
        rows += [{"customer_id": f"C{customer:03d}", "product_id": int(p), "ordered_at": f"2026-03-{day + 1:02d}",
                  "quantity": int(rng.integers(1, 4))} for day, p in enumerate(bought)]
    purchases = pd.DataFrame(rows)
    files.mkdir(parents=True, exist_ok=True)
    purchases.to_csv(files / "purchases.csv", index=False)
    customers = sorted(purchases["customer_id"].unique())
    pd.DataFrame({"customer_id": customers, "region": "north"}).to_csv(files / "customers.csv", index=False)
    pd.DataFrame({"product_id": range(PRODUCTS), "title": [f"Product {p}" for p in range(PRODUCTS)],
                  "aisle": ["A" if p < 20 else "B" for p in range(PRODUCTS)]}).to_csv(files / "products.csv", index=False)
    return purchases


def test_a_purchases_table_trains_ranks_and_scores_top_k_with_the_catalogue(stack: Stack, browser) -> None:  # type: ignore[no-untyped-def]
    files = stack.home / "files"
    purchases = write_tables(files)
    key = create_tenant(stack, "ranking")
    spec: dict[str, Any] = {
        "name": "basket recommendations",
        "task": "recommendation",
        "dataset": {"ref": f"file:{files / 'purchases.csv'}", "user_column": "customer_id", "item_column": "product_id",
                    "feedback": "implicit", "timestamp_column": "ordered_at", "weight_column": "quantity"},
        "model": {"type": "matrix_factorization", "embedding_dim": 8, "negatives": 32},
        "optimizer": {"lr": 0.02},
        "training": {"epochs": 6, "batch_size": 64},
    }
    with stack.client(key) as client:
        reply = client.post("/v1/jobs", json=spec)
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["id"]
        job = wait_for_status(client, job_id, {"succeeded", "failed"}, timeout=120)
        assert job["status"] == "succeeded", job_report(client, job_id, stack=stack)
        assert job["best_metrics"]["val_hr_10"] > 0.5  # the held-out product among the ~13 of the right half
        logs = client.get(f"/v1/jobs/{job_id}/logs").text
        assert "each user's latest interaction by 'ordered_at'" in logs

        request = {"dataset": {"ref": f"file:{files / 'customers.csv'}"}, "top_k": 5,
                   "items": {"ref": f"file:{files / 'products.csv'}"}}
        refused = client.post(f"/v1/jobs/{job_id}/predictions", json={**request, "items": {"ref": "file:/etc/passwd"}})
        assert refused.status_code == 422 and "items.ref" in refused.text
        scoring = client.post(f"/v1/jobs/{job_id}/predictions", json=request)
        assert scoring.status_code == 202, scoring.text
        scored = wait_for_status(client, scoring.json()["id"], {"succeeded", "failed"}, timeout=120)
        assert scored["status"] == "succeeded", job_report(client, scoring.json()["id"], stack=stack)
        top = pd.read_csv(io.BytesIO(client.get(f"/v1/jobs/{scored['id']}/predictions/file").content))

    assert list(top.columns) == ["customer_id", "rank", "item", "score", "source", "title", "aisle"]
    assert top["customer_id"].nunique() == CUSTOMERS and (top.groupby("customer_id").size() == 5).all()
    latest = purchases.sort_values("ordered_at", kind="stable").groupby("customer_id").tail(1).index
    trained = set(zip(purchases.drop(index=latest)["customer_id"], purchases.drop(index=latest)["product_id"], strict=True))
    assert not trained & set(zip(top["customer_id"], top["item"], strict=True))
    assert (top["title"] == "Product " + top["item"].astype(str)).all()
    right_half = top["customer_id"].str[1:].astype(int) % 2 == (top["item"] >= 20)
    assert right_half.mean() > 0.8  # it learnt the two tastes

    page = open_page(browser, stack, key, f"#/jobs/{job_id}")
    ranking = page.locator('figure[data-chart="ranking"]')
    ranking.wait_for(timeout=30_000)
    assert ranking.get_attribute("data-series") == "val_hr_10,val_ndcg_10,val_recall_20"
    assert int(ranking.get_attribute("data-points")) == 3 * 6  # three curves, an evaluation per epoch
    assert page.locator('figure[data-chart="sampled"]').count() == 0  # 40 products: 100 sampled ones cannot be had
    assert "val_ndcg_10" in page.locator("dl.facts").first.inner_text()  # the best metric of an implicit model
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ranking.png"), full_page=True)
    close(page)

import numpy as np
import pandas as pd
import pytest

from adamant.exceptions import DatasetError
from adamant.preparation import split_rows

LABELS = np.array([0] * 900 + [1] * 97 + [2] * 3)


def test_same_seed_gives_the_same_rows() -> None:
    first = split_rows(1000, 0.2, seed=7, strata=LABELS)
    second = split_rows(1000, 0.2, seed=7, strata=LABELS)

    np.testing.assert_array_equal(first[1], second[1])


def test_different_seed_gives_different_rows() -> None:
    _, first = split_rows(1000, 0.2, seed=1)
    _, second = split_rows(1000, 0.2, seed=2)

    assert not np.array_equal(first, second)


@pytest.mark.parametrize("strata", [None, LABELS], ids=["random", "stratified"])
def test_parts_are_disjoint_and_cover_every_row(strata) -> None:
    train, validation = split_rows(1000, 0.25, seed=0, strata=strata)

    assert np.intersect1d(train, validation).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(1000))
    assert list(train) == sorted(train) and list(validation) == sorted(validation)


def test_stratified_shares_are_equal_within_one_row() -> None:
    train, validation = split_rows(1000, 0.2, seed=3, strata=LABELS)

    for label in np.unique(LABELS):
        size = np.count_nonzero(LABELS == label)
        held_out = np.count_nonzero(LABELS[validation] == label)
        assert abs(held_out - 0.2 * size) <= 1


def test_random_split_holds_out_the_fraction() -> None:
    _, validation = split_rows(1001, 0.2, seed=0)

    assert validation.size == 200


def test_class_with_one_row_stays_in_training() -> None:
    strata = np.array([0] * 10 + [1])

    train, _ = split_rows(11, 0.5, seed=0, strata=strata)

    assert 10 in train


def test_single_row_cannot_be_split() -> None:
    with pytest.raises(DatasetError, match=r"has 1 row\(s\); a training and a validation part need at least 2"):
        split_rows(1, 0.2, seed=0)


def test_a_split_column_holds_out_exactly_the_marked_rows(make_spec) -> None:
    from adamant.preparation import prepare_training_data

    frame = pd.DataFrame({"x": range(10), "bought": ["yes", "no"] * 5, "fold": ["train"] * 7 + ["test"] * 3})
    prepared = prepare_training_data(make_spec(target="bought", validation={"column": "fold"}), frame)

    assert list(prepared.val_rows) == [7, 8, 9]
    assert "fold" not in prepared.preprocessing.input_columns


def test_a_split_column_with_no_validation_rows_is_refused(make_spec) -> None:
    from adamant.preparation import prepare_training_data

    frame = pd.DataFrame({"x": range(10), "bought": ["yes", "no"] * 5, "fold": ["train"] * 10})
    with pytest.raises(DatasetError, match="marks no row for validation") as caught:
        prepare_training_data(make_spec(target="bought", validation={"column": "fold"}), frame)
    assert caught.value.column == "fold"


def _stable_sort_draw(n: int, fraction: float, seed: int, strata: np.ndarray) -> np.ndarray:
    """The stratified draw as first written (np.unique, then a stable argsort by class): the
    validation rows of every job trained so far. A faster grouping must draw the very same rows."""
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(strata, return_inverse=True)
    bounds = np.cumsum(np.bincount(inverse, minlength=len(classes)))[:-1]
    picked = []
    for members in np.split(np.argsort(inverse, kind="stable"), bounds):
        n_val = min(int(np.floor(members.size * fraction + 0.5)), members.size - 1)
        picked.append(rng.permutation(members)[:n_val])
    return np.sort(np.concatenate(picked))


@pytest.mark.parametrize("strata", [
    (np.random.default_rng(1).random(20_000) < 0.16).astype(np.float32),  # a binary target, encoded
    np.random.default_rng(2).integers(0, 40, 20_000),  # many classes: grouped by sorting
    np.array(["b", "a", "c", "a", "b", "b"] * 500, dtype=object),
], ids=["binary", "forty-classes", "text"])
def test_a_rerun_after_an_upgrade_holds_out_the_same_rows(strata: np.ndarray) -> None:
    _, validation = split_rows(len(strata), 0.2, seed=5, strata=strata)

    np.testing.assert_array_equal(validation, _stable_sort_draw(len(strata), 0.2, 5, strata))

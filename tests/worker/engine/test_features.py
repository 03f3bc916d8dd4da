"""Features expanded on the training device are the bits prediction computes from the same rows."""

import numpy as np
import pandas as pd
import torch

from adamant.datasets import get_builtin
from adamant.preparation import prepare_training_data
from adamant.spec import JobSpec
from worker.engine.features import DeviceFeatures, DeviceLayout


def test_device_batches_equal_the_prediction_matrix_bit_for_bit() -> None:
    bank = get_builtin("bank-marketing").load()
    spec = JobSpec(task="binary_classification", dataset={"ref": "builtin:bank-marketing", "target": "y"}, model={"type": "mlp"})
    data = prepare_training_data(spec, bank)
    device = torch.device("cpu")
    features = DeviceFeatures.of(data.val, DeviceLayout(data.preprocessing.layout(), device), device, dense_bytes=0)
    predicted = data.preprocessing.transform(bank.iloc[data.val_rows].drop(columns="y"), row_numbers=data.val_rows + 1).x

    idx = torch.as_tensor(np.random.default_rng(0).permutation(len(data.val_rows))[:5_000])
    batch = features.batch(idx).numpy()
    assert batch.tobytes() == predicted[idx.numpy()].tobytes()
    assert features.map_batches(lambda x: x).numpy().tobytes() == predicted.tobytes()


def test_a_level_training_never_saw_lights_no_feature_on_the_device() -> None:
    frame = pd.DataFrame({"colour": ["red", "blue"] * 50, "y": [0, 1] * 50})
    spec = JobSpec(task="binary_classification", dataset={"ref": "file:t.csv", "target": "y"}, model={"type": "mlp"})
    data = prepare_training_data(spec, frame)
    unseen = data.preprocessing.encode(pd.DataFrame({"colour": ["green", "red"]}), [np.arange(2)])[0]
    device = torch.device("cpu")
    features = DeviceFeatures.of(unseen, DeviceLayout(data.preprocessing.layout(), device), device)

    x = features.whole().numpy()
    assert data.feature_names == ["colour=blue", "colour=red"]
    np.testing.assert_array_equal(x, [[0.0, 0.0], [0.0, 1.0]])


def test_a_split_too_large_to_keep_whole_gives_the_same_batches_expanded_one_by_one() -> None:
    bank = get_builtin("bank-marketing").load()
    spec = JobSpec(task="binary_classification", dataset={"ref": "builtin:bank-marketing", "target": "y"}, model={"type": "mlp"})
    data = prepare_training_data(spec, bank)
    device = torch.device("cpu")
    layout = DeviceLayout(data.preprocessing.layout(), device)
    kept = DeviceFeatures.of(data.train, layout, device)
    compact = DeviceFeatures.of(data.train, layout, device, dense_bytes=0)

    idx = torch.as_tensor(np.random.default_rng(1).permutation(len(data.train_rows))[:3_000])
    assert kept.dense is not None and compact.dense is None
    assert compact.batch(idx).numpy().tobytes() == kept.batch(idx).numpy().tobytes()
    assert compact.whole().numpy().tobytes() == data.x_train.tobytes()

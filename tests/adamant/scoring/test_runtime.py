"""The numpy forward passes equal the torch modules of worker/models on the same weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from adamant.exceptions import CheckpointError
from adamant.scoring import runtime
from adamant.spec import ModelSpec
from worker.models import ModelShape, build_model
from worker.models.tabular import activation

# float32 on both sides; only BLAS's summation order differs, a few ulps of values near 1.
FLOAT32_TOLERANCE = 1e-5

SPECS = TypeAdapter(ModelSpec)


def torch_model(model: dict[str, Any], shape: ModelShape, seed: int = 0) -> torch.nn.Module:
    """A torch model with random weights and, unlike a fresh one, non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    module = build_model(SPECS.validate_python(model), shape, sparse_embeddings=False)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("running_mean") or (name.endswith("weight") and tensor.dim() == 1):
                tensor.normal_(0.0, 1.0)
            elif name.endswith("running_var"):
                tensor.uniform_(0.2, 3.0)
            elif (name.endswith("bias") and tensor.dim() == 1) or name == "centroids":
                tensor.normal_(0.0, 0.5)
    return module.eval()


def numpy_twin(module: torch.nn.Module, model: dict[str, Any], shape: ModelShape) -> runtime.Model:
    tensors = {name: tensor.numpy() for name, tensor in module.state_dict().items()}
    return runtime.build_model(SPECS.validate_python(model), vars(shape), tensors)


TABULAR = [
    pytest.param({"type": "logistic"}, 1, id="logistic"),
    pytest.param({"type": "logistic"}, 4, id="logistic-multiclass"),
    *(
        pytest.param({"type": "mlp", "hidden": [32, 16], "activation": act}, 1, id=f"mlp-{act}")
        for act in ("relu", "gelu", "tanh", "silu", "leaky_relu")
    ),
    pytest.param({"type": "mlp", "hidden": [32, 16], "batch_norm": True, "dropout": 0.3, "activation": "gelu"}, 3, id="mlp-bn-dropout"),
    pytest.param({"type": "mlp", "hidden": [8], "dropout": 0.5}, 1, id="mlp-dropout-only"),
]


@pytest.mark.parametrize(("model", "outputs"), TABULAR)
def test_tabular_forward_matches_torch(model: dict[str, Any], outputs: int) -> None:
    shape = ModelShape(n_features=12, n_outputs=outputs)
    module = torch_model(model, shape)
    x = np.random.default_rng(1).normal(0.0, 3.0, (500, 12)).astype(np.float32)

    ours = numpy_twin(module, model, shape)(x)
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()

    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    print(f"{model} max |numpy - torch| = {np.abs(ours - theirs).max():.2e}")
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=FLOAT32_TOLERANCE)


@pytest.mark.parametrize("name", ["relu", "gelu", "tanh", "silu", "leaky_relu"])
def test_activations_match_torch_including_extremes(name: str) -> None:
    x = np.concatenate([np.linspace(-12, 12, 2001), [-1e4, -100.0, -0.0, 0.0, 100.0, 1e4]]).astype(np.float32)
    with np.errstate(all="raise"):  # no overflow on large inputs either
        ours = runtime.ACTIVATIONS[name](x)
    with torch.no_grad():
        theirs = activation(name)(torch.from_numpy(x)).numpy()  # type: ignore[arg-type]
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "model",
    [
        pytest.param({"type": "matrix_factorization", "embedding_dim": 8}, id="mf"),
        pytest.param({"type": "matrix_factorization", "embedding_dim": 8, "biases": False}, id="mf-no-biases"),
        pytest.param({"type": "matrix_factorization", "embedding_dim": 8, "ncf_hidden": [16, 8], "dropout": 0.2}, id="mf-ncf"),
    ],
)
def test_matrix_factorization_matches_torch(model: dict[str, Any]) -> None:
    shape = ModelShape(n_users=30, n_items=20, mean_rating=3.5)
    module = torch_model(model, shape)
    rng = np.random.default_rng(2)
    users, items = rng.integers(0, 31, 400), rng.integers(0, 21, 400)  # 0 = unknown user / item

    ours = numpy_twin(module, model, shape)(users, items)
    with torch.no_grad():
        theirs = module(torch.from_numpy(users), torch.from_numpy(items)).numpy()

    print(f"{model} max |numpy - torch| = {np.abs(ours - theirs).max():.2e}")
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=FLOAT32_TOLERANCE)


def test_autoencoder_encodes_and_assigns_like_torch() -> None:
    model = {"type": "autoencoder", "hidden": [16, 8], "latent_dim": 3, "segments": 6, "activation": "silu"}
    shape = ModelShape(n_features=10)
    module = torch_model(model, shape)
    x = np.random.default_rng(3).normal(0.0, 1.0, (1000, 10)).astype(np.float32)

    ours = numpy_twin(module, model, shape)
    assert isinstance(ours, runtime.SegmentAutoencoder)
    with torch.no_grad():
        code = module.encode(torch.from_numpy(x)).numpy()
        segments = module.assign(torch.from_numpy(x)).numpy()
        reconstruction = module(torch.from_numpy(x)).numpy()

    np.testing.assert_allclose(ours.encode(x), code, rtol=0, atol=FLOAT32_TOLERANCE)
    np.testing.assert_allclose(ours(x), reconstruction, rtol=0, atol=FLOAT32_TOLERANCE)
    np.testing.assert_array_equal(ours.assign(x), segments)
    assert ours.assign(x[:0]).shape == (0,)


def test_weights_that_do_not_fit_the_spec_are_refused_like_a_strict_load_state_dict() -> None:
    model = {"type": "mlp", "hidden": [8], "batch_norm": True}
    shape = ModelShape(n_features=5)
    tensors = {name: t.numpy() for name, t in torch_model(model, shape).state_dict().items()}
    spec = SPECS.validate_python(model)

    with pytest.raises(CheckpointError, match="'body.1.running_var' is missing"):
        runtime.build_model(spec, vars(shape), {k: v for k, v in tensors.items() if k != "body.1.running_var"})
    with pytest.raises(CheckpointError, match="unexpected 'body.9.weight'"):
        runtime.build_model(spec, vars(shape), {**tensors, "body.9.weight": np.zeros(3, np.float32)})
    with pytest.raises(CheckpointError, match=r"'body.0.weight' has shape \(8, 5\), the model needs \(8, 6\)"):
        runtime.build_model(spec, {"n_features": 6, "n_outputs": 1}, tensors)

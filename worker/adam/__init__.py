"""The Adam core: our Adam (dense paths and the lazy row form), no-decay grouping, and the factory."""

from worker.adam.adam import IMPLEMENTATIONS, Adam, check_hyperparameters, fused_supports
from worker.adam.factory import build_optimizer, supports_sparse_grads
from worker.adam.lazy import lazy_adam
from worker.adam.param_groups import DECAY, NO_DECAY, param_groups

__all__ = [
    "DECAY",
    "IMPLEMENTATIONS",
    "NO_DECAY",
    "Adam",
    "build_optimizer",
    "check_hyperparameters",
    "fused_supports",
    "lazy_adam",
    "param_groups",
    "supports_sparse_grads",
]

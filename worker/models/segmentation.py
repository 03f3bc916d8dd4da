"""Segmentation: an autoencoder whose latent space is clustered into customer segments.

The centroids are a buffer of the module, so they travel in the same safetensors file as the
weights and a prediction needs nothing but the checkpoint.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from adamant.spec import AutoencoderModel
from worker.models.tabular import activation


def _stack(widths: list[int], act: str, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_activation:
            layers.append(activation(act))  # type: ignore[arg-type]
    return nn.Sequential(*layers)


class SegmentAutoencoder(nn.Module):
    def __init__(self, spec: AutoencoderModel, n_features: int) -> None:
        super().__init__()
        widths = [n_features, *spec.hidden, spec.latent_dim]
        self.encoder = _stack(widths, spec.activation, last_activation=False)
        self.decoder = _stack(list(reversed(widths)), spec.activation, last_activation=False)
        self.register_buffer("centroids", torch.zeros(spec.segments, spec.latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """The segment of each row: the nearest centroid in the latent space."""
        return torch.cdist(self.encode(x), self.centroids).argmin(dim=1)

    @torch.no_grad()
    def fit_segments(self, x: torch.Tensor, seed: int) -> np.ndarray:
        """k-means on the latent codes of the training rows; sets the centroids, returns labels.

        Segments are numbered by size (0 is the largest) so that a re-run with another seed that
        finds the same clusters gives the same numbers.
        """
        from sklearn.cluster import KMeans

        latent = self.encode(x).double().cpu().numpy()
        kmeans = KMeans(n_clusters=self.centroids.shape[0], n_init=10, random_state=seed).fit(latent)
        counts = np.bincount(kmeans.labels_, minlength=self.centroids.shape[0])
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        centers = kmeans.cluster_centers_[order]
        self.centroids.copy_(torch.as_tensor(centers, dtype=self.centroids.dtype))
        return rank[kmeans.labels_]


def build_autoencoder(spec: AutoencoderModel, n_features: int) -> nn.Module:
    return SegmentAutoencoder(spec, n_features)

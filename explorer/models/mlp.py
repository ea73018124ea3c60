"""Fully connected GAN (Goodfellow et al. 2014): 2-D toy points or flattened MNIST."""
from __future__ import annotations

import math

import torch
from torch import nn

from explorer.models.base import CRITICS, GENERATORS, Critic, ModelConfig


@GENERATORS.register("mlp")
class MLPGenerator(nn.Module):
    """z (+ condition) -> depth x (Linear, ReLU) -> sample; tanh for images, linear for points."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.shape = tuple(cfg.shape)
        dims = [cfg.z_dim + cfg.cond_dim] + [cfg.width] * cfg.depth
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(True)]
        layers.append(nn.Linear(dims[-1], math.prod(self.shape)))
        if len(self.shape) == 3:
            layers.append(nn.Tanh())
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], 1)
        return self.main(z).view(-1, *self.shape)

    def early_features(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """After the first hidden layer and the next linear map (GANSpace's layer)."""
        return self.main[:3](z if cond is None else torch.cat([z, cond], 1))


@CRITICS.register("mlp")
class MLPCritic(Critic):
    """Sample (+ class one-hot) -> depth x (Linear, LeakyReLU 0.2) -> one score (a logit, no sigmoid)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.num_classes = cfg.num_classes
        dims = [math.prod(cfg.shape) + cfg.num_classes] + [cfg.width] * cfg.depth
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b)]
            if cfg.critic_norm == "layer":
                layers.append(nn.LayerNorm(b))
            layers.append(nn.LeakyReLU(0.2, True))
        self.body = nn.Sequential(*layers)
        self.feature_dim = dims[-1]
        self.head = nn.Linear(dims[-1], 1)
        self._add_q_head(cfg, self.feature_dim)

    def features(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        if self.num_classes:
            x = torch.cat([x, cond[:, : self.num_classes]], 1)
        return self.body(x)


"""DCGAN generator and critic at 28, 32 and 64 px (Radford et al. 2015 guidelines)."""
from __future__ import annotations

import math

import torch
from torch import nn

from explorer.errors import ConfigError
from explorer.models.base import CRITICS, GENERATORS, Critic, ModelConfig


def _plan(shape: tuple[int, ...]) -> tuple[int, int]:
    """(start size, number of 2x up-steps): 28 = 7*2*2, 32 = 4*2^3, 64 = 4*2^4."""
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in (28, 32, 64):
        raise ConfigError(f"DCGAN supports square 28, 32 or 64 px images, got shape {shape}")
    start = 7 if shape[1] == 28 else 4
    return start, int(math.log2(shape[1] // start))


def critic_norm2d(kind: str, channels: int) -> nn.Module:
    """The critic's normalisation after a conv: 'batch', 'layer' (per sample), 'spectral' (on the weights, not the
    activations: see models.base.spectral_normalize) or 'none'; anything else refused."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # LayerNorm over (C, H, W), allowed with a gradient penalty
    if kind in ("none", "spectral"):
        return nn.Identity()
    raise ConfigError(f"unknown critic_norm '{kind}' (batch, layer, spectral, none)")


@GENERATORS.register("dcgan")
class DCGANGenerator(nn.Module):
    """z (+ condition) -> transposed convolutions with BatchNorm and ReLU -> tanh image."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        start, ups = _plan(cfg.shape)
        ch = cfg.width * 2 ** (ups - 1)
        # state size: (z_dim + cond_dim) x 1 x 1 -> ch x start x start
        layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.z_dim + cfg.cond_dim, ch, start, 1, 0, bias=False),
                                   nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(ups - 1):  # each step: ch x s x s -> ch/2 x 2s x 2s
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        # no BatchNorm on the output layer; tanh puts pixels in [-1, 1]
        layers += [nn.ConvTranspose2d(ch, cfg.shape[0], 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], 1)
        return self.main(z[:, :, None, None])

    def early_features(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """After the first transposed convolution, its norm and ReLU (GANSpace's layer), flattened."""
        h = z if cond is None else torch.cat([z, cond], 1)
        return self.main[:3](h[:, :, None, None]).flatten(1)


@CRITICS.register("dcgan")
class DCGANCritic(Critic):
    """Image (+ class one-hot as constant channels) -> strided convolutions, LeakyReLU(0.2) -> one score."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        start, ups = _plan(cfg.shape)
        self.num_classes = cfg.num_classes
        ch = cfg.width
        # no normalisation on the input layer (DCGAN guideline)
        layers: list[nn.Module] = [nn.Conv2d(cfg.shape[0] + cfg.num_classes, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(ups - 1):  # ch x s x s -> 2ch x s/2 x s/2
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=cfg.critic_norm in ("none", "spectral")),
                       critic_norm2d(cfg.critic_norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.body = nn.Sequential(*layers)           # -> ch x start x start
        self.feature_dim = ch * start * start
        self.head = nn.Conv2d(ch, 1, start, 1, 0)    # -> 1 x 1 x 1; no sigmoid (losses take logits)
        self._add_q_head(cfg, self.feature_dim)

    def features(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The shared body's output (N x ch x start x start); InfoGAN's Q head reads it too."""
        if self.num_classes:
            onehot = cond[:, : self.num_classes]
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.body(x)


"""InfoGAN's own MNIST networks (Chen et al. 2016, appendix C.1): fully connected layers of 1024 around two
(transposed) convolutions, BatchNorm throughout, and a Q head of 128 units with BatchNorm.

    G: [z, c] -> FC 1024, BN, ReLU -> FC 7x7x128, BN, ReLU -> 4x4 up-conv 64 s2, BN, ReLU -> 4x4 up-conv 1 s2, tanh
    D: x -> 4x4 conv 64 s2, lReLU(0.1) -> 4x4 conv 128 s2, BN, lReLU -> FC 1024, BN, lReLU -> FC 1 (D) / Q head
    Q: FC 128, BN, lReLU -> the categorical logits and the continuous means

The paper's output is a sigmoid; tanh keeps pixels in [-1, 1] like every generator here. 28x28 grey only.
critic_norm 'layer' (LayerNorm) or 'none' replaces the critic's BatchNorm, as a WGAN-GP critic needs.
"""
from __future__ import annotations

import torch
from torch import nn

from explorer.errors import ConfigError
from explorer.models.base import CRITICS, GENERATORS, Critic, ModelConfig, attribute_head
from explorer.models.dcgan import critic_norm2d


def _check(cfg: ModelConfig) -> None:
    if tuple(cfg.shape) != (1, 28, 28):
        raise ConfigError(f"the infogan architecture makes 28x28 grey images (MNIST), not {tuple(cfg.shape)}")


@GENERATORS.register("infogan")
class InfoGANGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        _check(cfg)
        self.fc = nn.Sequential(nn.Linear(cfg.z_dim + cfg.cond_dim, 1024, bias=False), nn.BatchNorm1d(1024),
                                nn.ReLU(True), nn.Linear(1024, 128 * 7 * 7, bias=False),
                                nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(True))
        self.main = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(True), nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], 1)
        return self.main(self.fc(z).view(-1, 128, 7, 7))

    def early_features(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """After the first fully connected layer, its norm and ReLU (GANSpace's layer)."""
        return self.fc[:3](z if cond is None else torch.cat([z, cond], 1))


@CRITICS.register("infogan")
class InfoGANCritic(Critic):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        _check(cfg)
        if cfg.num_classes:
            raise ConfigError("the infogan architecture is unconditional: its codes replace class labels")
        kind = cfg.critic_norm
        bn = kind == "batch"
        conv_norm = critic_norm2d(kind, 128)  # refuses an unknown kind

        def norm1d(features: int) -> nn.Module:  # "layer": per sample, so a gradient penalty stays valid
            return nn.BatchNorm1d(features) if bn else nn.LayerNorm(features) if kind == "layer" else nn.Identity()

        self.body = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.1, True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=not bn), conv_norm,
            nn.LeakyReLU(0.1, True), nn.Flatten(),
            nn.Linear(128 * 7 * 7, 1024, bias=not bn), norm1d(1024),
            nn.LeakyReLU(0.1, True))
        self.feature_dim = 1024
        self.head = nn.Linear(1024, 1)
        self.q, self.cls = None, None     # no class head: this net is unconditional
        self.attr = attribute_head(cfg, 1024)
        if cfg.code_dim:
            self.q = nn.Sequential(nn.Linear(1024, 128, bias=not bn), norm1d(128),
                                   nn.LeakyReLU(0.1, True), nn.Linear(128, cfg.code_dim))

    def features(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x)

"""The encoder that inverts a generator: a picture in, the generator's inputs out (z, then the class logits of a
conditional model, then an InfoGAN's code logits and continuous codes), in one forward pass."""
from __future__ import annotations

import torch
from torch import nn

from explorer.models.base import ModelConfig


class Encoder(nn.Module):
    """Three strided convolutions (28 or 32 px -> 4 x 4), then two linear layers; the layout of its output
    follows the generator's: z_dim entries of z, then num_classes logits, then cat_codes logits and
    cont_codes values. A VAE's encoder (logvar=True) adds z_dim log-variances at the end: its z part is the
    posterior's mean, so the same encoder serves inversion unchanged."""

    def __init__(self, cfg: ModelConfig, width: int = 32, logvar: bool = False):
        super().__init__()
        c, h, w = cfg.shape
        self.cfg, self.logvar = cfg, logvar
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.BatchNorm2d(4 * width), nn.LeakyReLU(0.2, True),
            nn.Flatten())
        with torch.no_grad():
            flat = self.body(torch.zeros(2, c, h, w)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, 8 * width), nn.LeakyReLU(0.2, True),
                                  nn.Linear(8 * width, cfg.z_dim + cfg.cond_dim + (cfg.z_dim if logvar else 0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def split(self, out: torch.Tensor) -> dict:
        """The output's parts: z, class logits (or None), categorical code logits (or None), continuous codes
        (or None), and for a VAE's encoder the log-variances ("logvar")."""
        cfg, i = self.cfg, self.cfg.z_dim
        parts = {"z": out[:, :i]}
        for name, size in (("class_logits", cfg.num_classes), ("cat_logits", cfg.cat_codes),
                           ("cont", cfg.cont_codes)):
            parts[name] = out[:, i:i + size] if size else None
            i += size
        if self.logvar:
            parts["logvar"] = out[:, i:i + cfg.z_dim]
        return parts

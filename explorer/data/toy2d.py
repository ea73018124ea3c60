"""2-D toy distributions where mode collapse is visible and countable."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from explorer.data import register_dataset
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import ConfigError

_ANGLES = np.arange(8) * np.pi / 4
# distribution -> (mode centres K x 2 or None, per-mode std or None)
TOY_MODES: dict[str, tuple[np.ndarray | None, float | None]] = {
    "8gaussians": (2.0 * np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], 1), 0.02),
    "25gaussians": (np.array([[x, y] for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float), 0.05),
    "ring": (None, None),        # a continuous circle of radius 2, radial std 0.05
    "swissroll": (None, None),   # the 2-D swiss roll, scaled to about [-2, 2]^2
}


def sample_toy(distribution: str, n: int, seed: int) -> np.ndarray:
    """n points (float32 n x 2) of a named toy distribution; the same seed gives the same points."""
    if distribution not in TOY_MODES:
        raise ConfigError(f"unknown 2-D distribution '{distribution}' (known: {', '.join(TOY_MODES)})")
    rs = np.random.RandomState(seed)
    centres, std = TOY_MODES[distribution]
    if centres is not None:
        pts = centres[rs.randint(0, len(centres), n)] + std * rs.randn(n, 2)
    elif distribution == "ring":
        theta = rs.uniform(0, 2 * np.pi, n)
        r = 2.0 + 0.05 * rs.randn(n)
        pts = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    else:  # swiss roll: t in [1.5 pi, 4.5 pi], (t cos t, t sin t) / 7
        t = 1.5 * np.pi * (1 + 2 * rs.uniform(0, 1, n))
        pts = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 7.0 + 0.05 * rs.randn(n, 2)
    return pts.astype(np.float32)


@register_dataset("toy2d")
def toy2d(root: Path, where: str, split: str = "train", distribution: str = "8gaussians", n: int = 100_000,
          seed: int = 0) -> TensorData:
    """Generated points; the test split draws from another seed stream."""
    if not isinstance(n, int) or n <= 0:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    pts = sample_toy(distribution, n, 2 * seed + (split == "test"))
    info = DatasetInfo("toy2d", "points", (2,), options={"distribution": distribution, "n": n, "seed": seed})
    return TensorData(torch.from_numpy(pts), None, None, info)

"""2-D toy distributions where mode collapse is visible and countable.

    8gaussians   8 modes on a circle of radius 2 at multiples of 45 degrees, std 0.02 each
    25gaussians  25 modes on the grid {-4, -2, 0, 2, 4}^2, std 0.05 each
    ring         a continuous circle of radius 2: uniform angle, radius 2 + N(0, 0.05^2)
    swissroll    sklearn's 2-D swiss roll (t cos t, t sin t), t in [1.5 pi, 4.5 pi], scaled by 1/7 to about
                 [-2, 2]^2, plus N(0, 0.05^2) noise
"""
from __future__ import annotations

from numbers import Integral
from pathlib import Path

import numpy as np
import torch

from explorer.data import DATASETS
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import ConfigError

_ANGLES = np.arange(8) * np.pi / 4
RING_RADIUS, RING_STD = 2.0, 0.05
SWISSROLL_SCALE, SWISSROLL_STD = 1 / 7, 0.05
# distribution -> (mode centres K x 2 or None, per-mode std or None); the metrics count modes with these
TOY_MODES: dict[str, tuple[np.ndarray | None, float | None]] = {
    "8gaussians": (2.0 * np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], 1), 0.02),
    "25gaussians": (np.array([[x, y] for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float), 0.05),
    "ring": (None, None),
    "swissroll": (None, None),
}


def sample_toy(distribution: str, n: int, seed: int) -> np.ndarray:
    """n points (float32 n x 2) of a named toy distribution; the same seed gives the same points."""
    if distribution not in TOY_MODES:
        raise ConfigError(f"unknown 2-D distribution '{distribution}' (known: {', '.join(TOY_MODES)})")
    rs = np.random.RandomState(seed)
    centres, std = TOY_MODES[distribution]
    if centres is not None:  # pick a mode uniformly, then isotropic Gaussian noise around it
        pts = centres[rs.randint(0, len(centres), n)] + std * rs.randn(n, 2)
    elif distribution == "ring":
        theta = rs.uniform(0, 2 * np.pi, n)
        r = RING_RADIUS + RING_STD * rs.randn(n)
        pts = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    else:  # swissroll, as sklearn.datasets.make_swiss_roll without its third axis
        t = 1.5 * np.pi * (1 + 2 * rs.uniform(0, 1, n))
        pts = SWISSROLL_SCALE * np.stack([t * np.cos(t), t * np.sin(t)], 1) + SWISSROLL_STD * rs.randn(n, 2)
    return pts.astype(np.float32)


@DATASETS.register("toy2d")
def toy2d(root: Path, where: str, split: str = "train", distribution: str = "8gaussians", n: int = 100_000,
          seed: int = 0) -> TensorData:
    """Generated points (float32 N x 2, no files); the test split draws from another seed stream."""
    for k, v, lo in (("n", n, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < lo:
            raise ConfigError(f"toy2d {k} must be a whole number >= {lo}, got {v!r}")
    pts = sample_toy(distribution, int(n), 2 * int(seed) + (split == "test"))  # train and test never share a stream
    info = DatasetInfo("toy2d", "points", (2,), options={"distribution": distribution, "n": int(n),
                                                         "seed": int(seed), "split": split})
    return TensorData(torch.from_numpy(pts), None, None, info)

"""Mode coverage for 2-D mixtures, counted as the mode-collapse literature does (e.g. VEEGAN, PacGAN)."""
from __future__ import annotations

import numpy as np


def mode_coverage(points: np.ndarray, centres: np.ndarray, std: float, min_count: int | None = None) -> dict:
    """A sample is high quality when within 3 std of its nearest centre; a mode is captured when it holds
    at least `min_count` high-quality samples (default: PacGAN's 20 per 2,500 samples, scaled to N)."""
    points = np.asarray(points, dtype=np.float64)
    d = np.linalg.norm(points[:, None, :] - centres[None], axis=2)   # N x K distances
    nearest, dist = d.argmin(1), d.min(1)
    good = dist <= 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    if min_count is None:
        min_count = max(1, round(20 * len(points) / 2500))
    return {"modes_captured": int((counts >= min_count).sum()), "modes_total": int(len(centres)),
            "high_quality": float(good.mean()), "per_mode": counts.tolist()}

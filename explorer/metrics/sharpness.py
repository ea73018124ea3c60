"""Sharpness of pictures: the variance of their Laplacian (edges and fine detail), the usual blur measure."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Per picture (N x C x H x W in [-1, 1]): the variance of the grey image's Laplacian, grey in [0, 1].
    A blurred picture scores lower than the same picture sharp; a flat one scores 0."""
    if images.ndim != 4 or images.shape[2] < 3 or images.shape[3] < 3:
        raise ValueError(f"pictures must be N x C x H x W with H, W >= 3, got {tuple(images.shape)}")
    grey = ((images.float() + 1) / 2).mean(1, keepdim=True)
    lap = F.conv2d(grey, LAPLACIAN.to(grey)[None, None])      # valid region only: no border artefacts
    return lap.flatten(1).var(1)


def mean_sharpness(images: torch.Tensor) -> float:
    return float(laplacian_variance(images).mean())

"""Stroke features measured from digit pixels: slant, thickness and width (no labels needed)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def slant(images: torch.Tensor) -> torch.Tensor:
    """Horizontal shear of the ink, from second moments: -mu11 / mu02 (positive = top leans right).
    images: N x 1 x H x W in [-1, 1] -> N."""
    ink, dx, dy, _ = _centred(images)
    mu11 = (ink * dx * dy).sum((1, 2))
    mu02 = (ink * dy * dy).sum((1, 2)).clamp_min(1e-6)
    return -mu11 / mu02                                             # y grows downwards, hence the sign


def thickness(images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Mean stroke width in pixels: ink area / half its boundary length (a thin stroke has two edges).
    images: N x 1 x H x W in [-1, 1] -> N."""
    ink = ((images[:, :1] + 1) / 2 > threshold).float()
    # a pixel is interior when all 4 neighbours are ink; boundary = ink minus interior
    kernel = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=ink.dtype).view(1, 1, 3, 3)
    interior = (F.conv2d(ink, kernel, padding=1) >= 5).float()
    area = ink.sum((1, 2, 3))
    boundary = (ink - interior).sum((1, 2, 3)).clamp_min(1.0)
    return 2 * area / boundary


def width(images: torch.Tensor) -> torch.Tensor:
    """The digit's width in pixels: the ink's horizontal spread (standard deviation) once its slant is taken
    out, so a leaning 1 is as narrow as an upright one and only a wider shape counts. images: N x 1 x H x W in
    [-1, 1] -> N."""
    ink, dx, dy, mass = _centred(images)
    # slant s moves the top right by s px per row upwards: x - cx = -s (y - cy) along an upright stroke's axis
    across = dx + slant(images).view(-1, 1, 1) * dy
    return ((ink * across * across).sum((1, 2)) / mass).sqrt()


def width_within(images: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """width() standardised within each group (e.g. each digit, or each InfoGAN categorical value): a 1 is
    narrower than a 0 whatever else is going on, so a picture's width counts against its own group's."""
    w = width(images)
    for g in groups.unique():
        sel = groups == g
        w[sel] = (w[sel] - w[sel].mean()) / w[sel].std(unbiased=False).clamp_min(1e-6)
    return w


def _centred(images: torch.Tensor):
    """The ink (N x H x W in [0, 1]), each pixel's offsets from the ink's centre (dx: N x 1 x W, dy: N x H x 1)
    and the ink's mass (N)."""
    ink = (images[:, 0] + 1) / 2
    h, w = ink.shape[1:]
    ys = torch.arange(h, dtype=ink.dtype).view(1, h, 1)
    xs = torch.arange(w, dtype=ink.dtype).view(1, 1, w)
    mass = ink.sum((1, 2)).clamp_min(1e-6)
    cy = (ink * ys).sum((1, 2)) / mass
    cx = (ink * xs).sum((1, 2)) / mass
    return ink, xs - cx.view(-1, 1, 1), ys - cy.view(-1, 1, 1), mass

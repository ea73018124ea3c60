"""The one in-memory dataset type every loader returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class DatasetInfo:
    name: str                      # registry name, e.g. "digits"
    kind: str                      # "image" or "points"
    shape: tuple[int, ...]         # one sample: (C, H, W) for images, (2,) for points
    class_names: tuple[str, ...] = ()      # empty when the data has no classes
    attribute_names: tuple[str, ...] = ()  # empty when the data has no binary attributes
    options: dict = field(default_factory=dict)  # what built it (correlation, image_size, ...)


class TensorData(torch.utils.data.Dataset):
    """Whole dataset held in memory; images stored as uint8 to keep 60k images small.

    x: uint8 N x C x H x W (images) or float32 N x 2 (points)
    y: int64 N, the class index or -1 when there are no classes
    attrs: float32 N x A of 0/1 (A may be 0)
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, attrs: torch.Tensor | None, info: DatasetInfo):
        n = x.shape[0]
        self.x = x
        self.y = y if y is not None else torch.full((n,), -1, dtype=torch.long)
        self.attrs = attrs if attrs is not None else torch.zeros(n, 0)
        self.info = info
        assert self.y.shape == (n,) and self.attrs.shape[0] == n

    def __len__(self) -> int:
        return self.x.shape[0]

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images as float in [-1, 1] (points as they are), labels, attributes."""
        x = self.x[idx]
        if x.dtype == torch.uint8:
            x = x.float().div_(127.5).sub_(1.0)
        return x, self.y[idx], self.attrs[idx]

    def __getitem__(self, i: int):
        x, y, a = self.get_batch(torch.tensor([i]))
        return x[0], y[0], a[0]

"""Judges: a digit classifier and multi-label attribute classifiers (logits out; features for Frechet distance)."""
from __future__ import annotations

import torch
from torch import nn

from explorer.models.base import CLASSIFIERS


@CLASSIFIERS.register("cnn")
class ConvClassifier(nn.Module):
    """Two conv blocks with max-pooling, then a hidden layer whose activations serve as features."""

    def __init__(self, shape: tuple[int, ...], num_outputs: int, width: int = 32):
        super().__init__()
        c, h, w = shape
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),          # width x H/2 x W/2
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),  # 2w x H/4 x W/4
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(2 * width * (h // 4) * (w // 4), 128), nn.ReLU(True),
        )
        self.feature_dim = 128
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(128, num_outputs))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@CLASSIFIERS.register("cnn-bn")
class ConvBNClassifier(nn.Module):
    """A differently built judge (BatchNorm, strided convs, global pooling) for second opinions."""

    def __init__(self, shape: tuple[int, ...], num_outputs: int, width: int = 32):
        super().__init__()
        c = shape[0]
        def block(a, b, stride):
            return [nn.Conv2d(a, b, 3, stride, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        self.body = nn.Sequential(
            *block(c, width, 1), *block(width, 2 * width, 2), *block(2 * width, 2 * width, 1),
            *block(2 * width, 4 * width, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # 4w features
        )
        self.feature_dim = 4 * width
        self.head = nn.Linear(4 * width, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

"""MNIST digits and Fashion-MNIST through torchvision, read whole into memory as uint8."""
from __future__ import annotations

import os
from pathlib import Path

from explorer.data import register_dataset
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import DataError

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
OFFLINE_ENV = "LATENT_EXPLORER_OFFLINE"  # set to 1 to never try a download


def _load_torchvision(cls, name: str, folder: str, root: Path, where: str, split: str, download: bool,
                      class_names: tuple[str, ...]) -> TensorData:
    train = split == "train"
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        ds = None
        if download and not os.environ.get(OFFLINE_ENV):
            try:
                ds = cls(str(root), train=train, download=True)
            except Exception:  # no network, blocked, disk full: all mean "not available"
                ds = None
    if ds is None:
        raise DataError(f"{folder} not found: looked in {root / folder / 'raw'} (data root from {where}); "
                        f"put the {folder} files there (e.g. {folder}/raw/train-images-idx3-ubyte) or pass "
                        f"--data-root DIR (downloading {'was not possible' if download else 'is off'})")
    x = ds.data[:, None].contiguous()                                  # N x 1 x 28 x 28 uint8
    info = DatasetInfo(name, "image", (1, 28, 28), class_names, options={"split": split})
    return TensorData(x, ds.targets.long(), None, info)


@register_dataset("digits")
def digits(root: Path, where: str, split: str = "train", download: bool = True) -> TensorData:
    """MNIST 28x28 grayscale, classes '0'..'9'."""
    from torchvision.datasets import MNIST
    return _load_torchvision(MNIST, "digits", "MNIST", root, where, split, download, tuple("0123456789"))


@register_dataset("fashion")
def fashion(root: Path, where: str, split: str = "train", download: bool = True) -> TensorData:
    """Fashion-MNIST 28x28 grayscale, 10 clothing classes."""
    from torchvision.datasets import FashionMNIST
    return _load_torchvision(FashionMNIST, "fashion", "FashionMNIST", root, where, split, download, FASHION_CLASSES)

"""MNIST digits and Fashion-MNIST through torchvision, read whole into memory as uint8."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import sys
from pathlib import Path

from explorer.data import DATASETS
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import DataError

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
OFFLINE_ENV = "LATENT_EXPLORER_OFFLINE"  # set to 1 to never try a download
DOWNLOAD_TIMEOUT_S = 30                  # per socket operation, so a black-holed network fails instead of hanging


def _new_folders(path: Path) -> list[Path]:
    """The folders from `path` up that do not exist yet (what a download attempt would create), deepest first."""
    made = []
    while not path.exists():
        made.append(path)
        path = path.parent
    return made


def _try_download(cls, folder: str, root: Path, train: bool):
    """The torchvision dataset after a download attempt, or what was tried and why it failed (never raises).
    A failed attempt leaves nothing behind: the folders it made and the partial files in them are removed."""
    made = _new_folders(root / folder / "raw")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(sys.stderr), contextlib.redirect_stderr(io.StringIO()):
            return cls(str(root), train=train, download=True), ""   # torchvision's progress stays off --json
    except Exception as e:  # no network, DNS, proxy, checksum, disk full: all mean "not available"
        for path in made[::-1][:1]:   # the topmost folder the attempt created, with all it holds
            shutil.rmtree(path, ignore_errors=True)
        mirrors = ", ".join(getattr(cls, "mirrors", [])[:2]) or "torchvision's mirrors"
        reason = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:160].rstrip(":")
        return None, f"tried to download it from {mirrors}, which failed ({reason}: is this machine offline?)"
    finally:
        socket.setdefaulttimeout(old)


def _load_torchvision(cls, name: str, folder: str, root: Path, where: str, split: str, download: bool,
                      class_names: tuple[str, ...]) -> TensorData:
    train, raw = split == "train", root / folder / "raw"
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError as e:
        if "not found" not in str(e).lower():  # the files are there but torchvision cannot parse them
            raise DataError(f"the {folder} files in {raw} cannot be read ({e}): replace them") from None
        ds, why = None, "downloading is off"
        if download and os.environ.get(OFFLINE_ENV):
            why = f"downloading is off (${OFFLINE_ENV} is set)"
        elif download:
            ds, why = _try_download(cls, folder, root, train)
    except Exception as e:  # truncated or corrupt IDX files
        raise DataError(f"the {folder} files in {raw} cannot be read ({e.__class__.__name__}): replace them") from None
    if ds is None:
        raise DataError(f"{name} data ({folder}) not found: looked in {raw} (data root {root}, from {where}); "
                        f"{why}; put the four {folder} IDX files (train-images-idx3-ubyte, ...) in DIR/{folder}/raw/ "
                        f"and pass --data-root DIR (or set $LATENT_EXPLORER_DATA=DIR)")
    # .data is already the whole split as one uint8 N x 28 x 28 tensor: no per-item PIL round trip
    x = ds.data[:, None].contiguous()                                  # N x 1 x 28 x 28 uint8
    info = DatasetInfo(name, "image", (1, 28, 28), class_names, options={"split": split})
    return TensorData(x, ds.targets.long(), None, info)


@DATASETS.register("digits")
def digits(root: Path, where: str, split: str = "train", download: bool = True) -> TensorData:
    """MNIST 28x28 grayscale, classes '0'..'9'; tries to download into root when missing (download=True)."""
    from torchvision.datasets import MNIST
    return _load_torchvision(MNIST, "digits", "MNIST", root, where, split, download, tuple("0123456789"))


@DATASETS.register("fashion")
def fashion(root: Path, where: str, split: str = "train", download: bool = True) -> TensorData:
    """Fashion-MNIST 28x28 grayscale, 10 clothing classes; downloads like digits."""
    from torchvision.datasets import FashionMNIST
    return _load_torchvision(FashionMNIST, "fashion", "FashionMNIST", root, where, split, download, FASHION_CLASSES)


def files_present(folder: str, root=None) -> bool:
    """Whether torchvision's raw files for `folder` (MNIST, FashionMNIST) are under the data root: the Train tab
    offers a dataset that would otherwise need a download only when they are."""
    from explorer.data.root import resolve_data_root
    raw = resolve_data_root(root)[0] / folder / "raw"
    return raw.is_dir() and any(raw.iterdir())

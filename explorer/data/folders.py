"""User image folders: CelebA's layout (img_align_celeba/ + list_attr_celeba.txt) and any image folder
with an optional attributes.csv. Images are cropped square, resized anti-aliased and cached as uint8."""
from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from explorer.data import register_dataset
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import ConfigError, DataError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_PIXELS = 40_000_000  # refuse decompression bombs: one image above this is skipped


def _check_size(image_size: int) -> None:
    if image_size not in (32, 64):
        raise ConfigError(f"image_size must be 32 or 64, got {image_size}")


def _load_image(path: Path, size: int, channels: int, celeba_crop: bool) -> np.ndarray | None:
    """One file -> uint8 C x S x S, or None when it is not a readable image."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                return None
            im = im.convert("RGB" if channels == 3 else "L")
            w, h = im.size
            side = min(w, h)
            if celeba_crop:  # CelebA aligned faces: a square around the face, a little above the middle
                side = int(0.8 * w)
                top = max(0, int(h * 0.55 - side / 2))
                box = ((w - side) // 2, top, (w - side) // 2 + side, min(h, top + side))
            else:            # centre crop
                box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
            im = im.crop(box).resize((size, size), Image.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _load_all(paths: list[Path], size: int, channels: int, celeba_crop: bool, cache_dir: Path | None, key: str):
    """Decode every file (threads: PIL releases the GIL), through an npz cache when the root is writable."""
    cache = cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        try:
            with np.load(cache) as f:
                return f["x"], f["ok"]
        except (OSError, ValueError, KeyError):
            pass
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        arrays = list(pool.map(lambda p: _load_image(p, size, channels, celeba_crop), paths))
    ok = np.array([a is not None for a in arrays])
    blank = np.zeros((channels, size, size), np.uint8)
    x = np.stack([a if a is not None else blank for a in arrays]) if arrays else np.zeros((0, channels, size, size), np.uint8)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz")
            os.close(fd)
            np.savez(tmp, x=x, ok=ok)
            os.replace(tmp, cache)
        except OSError:
            pass
    return x, ok


def _parse_celeba_attrs(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """list_attr_celeba.txt: a count line, a header of attribute names, then 'file v1 ... vK' with 1 / -1."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e.__class__.__name__}") from None
    if len(lines) < 2:
        raise DataError(f"{path} is malformed: expected a count line and a header line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path} is malformed: line 1 should be the number of images, got '{lines[0][:40]}'") from None
    names = lines[1].split()
    rows: dict[str, np.ndarray] = {}
    for i, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DataError(f"{path} is malformed: line {i} has {len(parts) - 1} values, the header names "
                            f"{len(names)} attributes")
        try:
            vals = np.array([int(v) for v in parts[1:]])
        except ValueError:
            raise DataError(f"{path} is malformed: line {i} has a value that is not 1 or -1") from None
        if not np.isin(vals, (1, -1)).all():
            raise DataError(f"{path} is malformed: line {i} has a value that is not 1 or -1")
        rows[parts[0]] = (vals > 0).astype(np.float32)
    if count != len(rows):
        raise DataError(f"{path} is malformed: line 1 says {count} images, the file lists {len(rows)}")
    return names, rows


def _folder(path, where_what: str) -> Path:
    if not path:
        raise ConfigError(f"the {where_what} dataset needs a folder: pass --data-path DIR")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DataError(f"dataset folder {p} does not exist")
    return p


@register_dataset("celeba")
def celeba(root: Path, where: str, split: str = "train", path: str | None = None, image_size: int = 64,
           limit: int | None = None) -> TensorData:
    """A folder in CelebA's layout; the last 10% (by file name) is the test split."""
    _check_size(image_size)
    folder = _folder(path or root / "celeba", "celeba")
    img_dir, attr_file = folder / "img_align_celeba", folder / "list_attr_celeba.txt"
    if not img_dir.is_dir():
        raise DataError(f"no img_align_celeba/ folder in {folder} (CelebA layout: img_align_celeba/*.jpg + "
                        f"list_attr_celeba.txt)")
    if not attr_file.is_file():
        raise DataError(f"no list_attr_celeba.txt in {folder}")
    names, rows = _parse_celeba_attrs(attr_file)
    files = sorted(f for f in os.listdir(img_dir) if f in rows)
    if limit:
        files = files[:limit]
    cut = int(len(files) * 0.9)
    files = files[:cut] if split == "train" else files[cut:]
    if not files:
        raise DataError(f"no images in {img_dir} match the rows of {attr_file.name}")
    stat = attr_file.stat()
    key = f"celeba|{folder.resolve()}|{stat.st_mtime}|{stat.st_size}|{len(files)}|{files[0]}|{image_size}|{split}"
    x, ok = _load_all([img_dir / f for f in files], image_size, 3, True, _cache_dir(root, "celeba-cache"), key)
    if not ok.any():
        raise DataError(f"none of the images in {img_dir} could be read")
    attrs = np.stack([rows[f] for f in files])[ok]
    info = DatasetInfo("celeba", "image", (3, image_size, image_size), (), tuple(names),
                       options={"path": str(folder), "image_size": image_size, "skipped": int((~ok).sum())})
    return TensorData(torch.from_numpy(x[ok]), None, torch.from_numpy(attrs), info)


def _read_attributes_csv(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    rows: dict[str, np.ndarray] = {}
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or len(header) < 2:
                raise DataError(f"{path} is malformed: line 1 should be 'filename,Attr1,Attr2,...'")
            for i, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header) or any(v.strip() not in ("0", "1") for v in row[1:]):
                    raise DataError(f"{path} is malformed: line {i} needs a file name and {len(header) - 1} "
                                    f"values of 0 or 1")
                rows[row[0]] = np.array([float(v) for v in row[1:]], np.float32)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path}: {e.__class__.__name__}") from None
    return header[1:], rows


def _cache_dir(root: Path, name: str) -> Path | None:
    d = root / name
    try:
        d.mkdir(parents=True, exist_ok=True)
        return d if os.access(d, os.W_OK) else None
    except OSError:
        return None


@register_dataset("folder")
def folder(root: Path, where: str, split: str = "train", path: str | None = None, image_size: int = 64,
           channels: int = 3) -> TensorData:
    """Any image folder (searched recursively); optional attributes.csv gives 0/1 attributes per file."""
    _check_size(image_size)
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    base = _folder(path, "folder")
    files = sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise DataError(f"no images found in {base} (looked for {', '.join(IMAGE_EXTS)})")
    names, rows = _read_attributes_csv(base / "attributes.csv") if (base / "attributes.csv").is_file() else ([], {})
    if rows:
        files = [f for f in files if str(f.relative_to(base)) in rows]
    cut = max(1, int(len(files) * 0.9)) if len(files) > 1 else 1
    files = files[:cut] if split == "train" else (files[cut:] or files[:1])
    stamp = max(f.stat().st_mtime for f in files)
    key = f"folder|{base.resolve()}|{len(files)}|{stamp}|{image_size}|{channels}|{split}"
    x, ok = _load_all(files, image_size, channels, False, _cache_dir(root, "folder-cache"), key)
    if not ok.any():
        raise DataError(f"no readable images in {base}: {len(files)} file(s) could not be decoded")
    attrs = torch.from_numpy(np.stack([rows[str(f.relative_to(base))] for f in files])[ok]) if rows else None
    info = DatasetInfo("folder", "image", (channels, image_size, image_size), (), tuple(names),
                       options={"path": str(base), "image_size": image_size, "skipped": int((~ok).sum())})
    return TensorData(torch.from_numpy(x[ok]), None, attrs, info)

"""User image folders: CelebA's layout (img_align_celeba/ + list_attr_celeba.txt) and any image folder
with an optional attributes.csv. Images are cropped square, resized anti-aliased and cached as uint8.

Both split by sorted file name: the last 10% (at least one image) is the test split, the rest is train;
`limit` then keeps the first `limit` images of the chosen split, so train and test never overlap.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.data import DATASETS
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import ConfigError, DataError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SIZES = (32, 64)          # what the image models are built for
MAX_PIXELS = 40_000_000   # refuse decompression bombs: one image above this is skipped
# CelebA's aligned faces (178x218, or 89x109 in the subset) have the eyes at ~45% of the height and the chin
# at ~70%: a square of 0.8 x width centred at 55% of the height (slightly below the middle) holds the face
# from the hairline to the chin, the usual DCGAN-style CelebA crop.
CELEBA_SIDE, CELEBA_CENTRE_Y = 0.8, 0.55
CELEBA_HINT = "CelebA layout: img_align_celeba/*.jpg + list_attr_celeba.txt"


def _check_options(image_size, limit=None, channels=3) -> None:
    if image_size not in SIZES:
        raise ConfigError(f"image_size must be 32 or 64, got {image_size!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive whole number of images, got {limit!r}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")


def _crop_box(w: int, h: int, celeba: bool) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the square to keep."""
    if celeba:
        side = min(h, round(CELEBA_SIDE * w))
        top = min(max(0, round(CELEBA_CENTRE_Y * h - side / 2)), h - side)
    else:
        side = min(w, h)
        top = (h - side) // 2
    left = (w - side) // 2
    return left, top, left + side, top + side


def _load_image(path: Path, size: int, channels: int, celeba: bool) -> np.ndarray | None:
    """One file -> uint8 C x S x S, or None when it is not a readable image."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                return None
            mode = "RGB" if channels == 3 else "L"
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale while the crop still covers >= size pixels (much faster)
            left, top, right, _ = _crop_box(im.width, im.height, celeba)
            scale = size / (right - left)
            im.draft(mode, (math.ceil(im.width * scale), math.ceil(im.height * scale)))
            if not celeba:
                im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
            im = im.convert(mode)
            im = im.crop(_crop_box(*im.size, celeba)).resize((size, size), Image.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _cache_dir(root: Path, name: str) -> Path | None:
    """root/name if it can be created and written, else None (then nothing is cached)."""
    d = root / name
    try:
        d.mkdir(parents=True, exist_ok=True)
        return d if os.access(d, os.W_OK) else None
    except OSError:
        return None


def _load_all(paths: list[Path], size: int, channels: int, celeba: bool, cache_dir: Path | None, key: str):
    """Decode every file -> (x uint8 N x C x S x S, ok bool N), through an npz cache keyed by `key`."""
    cache = cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        try:
            with np.load(cache) as f:
                x, ok = f["x"], f["ok"]
            if x.shape == (len(paths), channels, size, size) and ok.shape == (len(paths),):
                return x, ok
        except (OSError, ValueError, KeyError, EOFError):
            pass  # a damaged cache is rebuilt below
    # threads suffice: PIL releases the GIL while decoding and resizing
    with ThreadPoolExecutor(max_workers=min(16, max(2, os.cpu_count() or 2))) as pool:
        arrays = list(pool.map(lambda p: _load_image(p, size, channels, celeba), paths, chunksize=64))
    ok = np.array([a is not None for a in arrays], dtype=bool)
    x = np.zeros((len(paths), channels, size, size), np.uint8)
    for i, a in enumerate(arrays):
        if a is not None:
            x[i] = a
    if cache is not None:
        _write_cache(cache, x, ok)
    return x, ok


def _write_cache(cache: Path, x: np.ndarray, ok: np.ndarray) -> None:
    """Atomic write (temp file + os.replace) so a concurrent reader never sees half a file; failures are ignored."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, x=x, ok=ok)  # uncompressed: 10k images at 64 px load back in well under a second
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache)
    except OSError:
        if tmp and os.path.exists(tmp):
            os.remove(tmp)


def _split(files: list, split: str, limit: int | None) -> list:
    """Last 10% (at least 1) is test, the rest train; a single file serves both; then the first `limit`."""
    n_test = max(1, len(files) // 10) if len(files) > 1 else 0
    part = files[:len(files) - n_test] if split == "train" else (files[len(files) - n_test:] or files)
    return part[:limit] if limit else part


def _key(*parts) -> str:
    return "|".join(str(p) for p in parts)


def _names_digest(names: list[str]) -> str:
    return hashlib.sha1("\n".join(names).encode()).hexdigest()


def _existing_folder(path, what: str, hint: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DataError(f"{what} folder {p} does not exist{hint}")
    return p


# --- CelebA -------------------------------------------------------------------------------------------------

def parse_celeba_attrs(path: Path) -> tuple[list[str], dict[str, np.ndarray], int]:
    """list_attr_celeba.txt -> (attribute names, {file name: float32 0/1 row}, count on line 1).

    Format: line 1 the number of images, line 2 the attribute names, then 'file v1 ... vK' with 1 / -1.
    A count that differs from the rows is tolerated (a trimmed copy often keeps the original count).
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e.__class__.__name__}") from None
    if len(lines) < 2:
        raise DataError(f"{path} is malformed: expected a count line and a header line, found {len(lines)} line(s)")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path} is malformed: line 1 should be the number of images, got '{lines[0][:40]}'") from None
    names = lines[1].split()
    if not names:
        raise DataError(f"{path} is malformed: line 2 should name the attributes, it is empty")
    rows: dict[str, np.ndarray] = {}
    for i, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DataError(f"{path} is malformed: line {i} has {len(parts) - 1} values but the header (line 2) "
                            f"names {len(names)} attributes")
        if any(v not in ("1", "-1") for v in parts[1:]):
            bad = next(v for v in parts[1:] if v not in ("1", "-1"))
            raise DataError(f"{path} is malformed: line {i} has the value '{bad[:20]}', not 1 or -1")
        rows[parts[0]] = (np.array(parts[1:], dtype=np.int8) > 0).astype(np.float32)
    return names, rows, count


@DATASETS.register("celeba")
def celeba(root: Path, where: str, split: str = "train", path: str | None = None, image_size: int = 64,
           limit: int | None = None) -> TensorData:
    """A folder in CelebA's layout (default <root>/celeba): RGB faces with the 40 attributes as 0/1."""
    _check_options(image_size, limit)
    hint = (f" (the default, <data root>/celeba, data root from {where}); pass --data-path DIR with {CELEBA_HINT}"
            if path is None else f"; pass --data-path DIR with {CELEBA_HINT}")
    folder = _existing_folder(path or root / "celeba", "CelebA", hint)
    img_dir, attr_file = folder / "img_align_celeba", folder / "list_attr_celeba.txt"
    if not img_dir.is_dir():
        raise DataError(f"no img_align_celeba/ folder in {folder} ({CELEBA_HINT})")
    if not attr_file.is_file():
        raise DataError(f"no list_attr_celeba.txt in {folder} ({CELEBA_HINT})")
    images = sorted(f for f in os.listdir(img_dir) if f.lower().endswith(IMAGE_EXTS))
    if not images:
        raise DataError(f"no images in {img_dir} ({CELEBA_HINT})")
    names, rows, _ = parse_celeba_attrs(attr_file)
    files = [f for f in images if f in rows]  # images without a row are skipped; rows without an image too
    unlabelled = len(images) - len(files)
    if not files:
        raise DataError(f"none of the {len(images)} images in {img_dir} has a row in {attr_file.name} "
                        f"(e.g. '{images[0]}')")
    files = _split(files, split, limit)

    st = attr_file.stat()
    key = _key("celeba", folder.resolve(), st.st_mtime_ns, st.st_size, img_dir.stat().st_mtime_ns,
               _names_digest(files), image_size, split, limit)
    x, ok = _load_all([img_dir / f for f in files], image_size, 3, True, _cache_dir(root, "celeba-cache"), key)
    if not ok.any():
        raise DataError(f"no readable images in {img_dir}: {len(files)} file(s) could not be decoded")
    attrs = np.stack([rows[f] for f in files])[ok]                       # N x 40 of 0/1
    info = DatasetInfo("celeba", "image", (3, image_size, image_size), (), tuple(names),
                       options={"path": str(folder), "image_size": image_size, "limit": limit, "split": split,
                                "skipped": int((~ok).sum()), "without_attributes": unlabelled})
    return TensorData(torch.from_numpy(x[ok]), None, torch.from_numpy(attrs), info)


# --- any image folder ---------------------------------------------------------------------------------------

def read_attributes_csv(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """attributes.csv -> (attribute names, {relative file name: float32 0/1 row}); header 'filename,A,B,...'."""
    rows: dict[str, np.ndarray] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often write a BOM
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if len(header) < 2 or not all(header[1:]):
                raise DataError(f"{path} is malformed: line 1 should be 'filename,Attr1,Attr2,...'")
            for row in reader:
                i = reader.line_num
                if not any(v.strip() for v in row):
                    continue
                values = [v.strip() for v in row[1:]]
                if len(row) != len(header) or any(v not in ("0", "1") for v in values):
                    raise DataError(f"{path} is malformed: line {i} needs a file name and {len(header) - 1} "
                                    f"value(s) of 0 or 1, got '{','.join(row)[:60]}'")
                rows[row[0].strip().replace("\\", "/")] = np.array(values, dtype=np.float32)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path}: {e.__class__.__name__}") from None
    return header[1:], rows


@DATASETS.register("folder")
def folder(root: Path, where: str, split: str = "train", path: str | None = None, image_size: int = 64,
           channels: int = 3) -> TensorData:
    """Any image folder (searched recursively); an optional attributes.csv gives 0/1 attributes per file."""
    _check_options(image_size, channels=channels)
    if not path:
        raise ConfigError("the folder dataset needs a folder of images: pass --data-path DIR")
    base = _existing_folder(path, "image", "; pass --data-path DIR with your images")
    files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*")
                   if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise DataError(f"no images found in {base} (looked for {', '.join(IMAGE_EXTS)}, in subfolders too)")
    csv_path = base / "attributes.csv"
    names, rows = read_attributes_csv(csv_path) if csv_path.is_file() else ([], None)
    unlabelled = 0
    if rows is not None:  # with a CSV, only the images it lists are used
        labelled = [f for f in files if f in rows]
        unlabelled = len(files) - len(labelled)
        if not labelled:
            raise DataError(f"none of the {len(files)} images in {base} has a row in {csv_path.name} "
                            f"(e.g. '{files[0]}'; file names are relative to the folder)")
        files = labelled
    files = _split(files, split, None)

    stamp = max((base / f).stat().st_mtime_ns for f in files)
    key = _key("folder", base.resolve(), _names_digest(files), stamp, image_size, channels, split)
    x, ok = _load_all([base / f for f in files], image_size, channels, False, _cache_dir(root, "folder-cache"), key)
    if not ok.any():
        raise DataError(f"no readable images in {base}: {len(files)} file(s) could not be decoded")
    attrs = torch.from_numpy(np.stack([rows[f] for f in files])[ok]) if rows is not None else None
    info = DatasetInfo("folder", "image", (channels, image_size, image_size), (), tuple(names),
                       options={"path": str(base), "image_size": image_size, "channels": channels, "split": split,
                                "skipped": int((~ok).sum()), "without_attributes": unlabelled})
    return TensorData(torch.from_numpy(x[ok]), None, attrs, info)

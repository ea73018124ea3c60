"""Two-domain datasets for image-to-image translation: A (what goes in) and B (what should come out).

    paired    item i of A and item i of B are the same picture in two renderings (pix2pix learns A -> B)
    unpaired  A and B are two sets with no correspondence (CycleGAN learns A -> B and B -> A)

Rendered by the project (no downloads):
    faces-sketch    A: a face as a line drawing, B: the same face in colour (same attributes and nuisance)
    faces-domains   A: faces without an attribute, B: faces with it (default Sunglasses), from independent seeds
A user's own pictures:
    pairs           <path>/A and <path>/B holding files with the same names (paired)
    domains         two image folders (--data-path A, path_b B), or a CelebA folder split by an attribute
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from explorer.data import DATASETS
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import ConfigError, DataError

PAIRED, UNPAIRED = "paired", "unpaired"
DATASET_KINDS = {"faces-sketch": PAIRED, "pairs": PAIRED, "faces-domains": UNPAIRED, "domains": UNPAIRED}
TASK_KINDS = {"pix2pix": PAIRED, "cyclegan": UNPAIRED}


def check_task_data(task: str, dataset: str) -> None:
    """A translation task needs two domains of its kind; every other task refuses two-domain datasets.
    Checked from the names alone, before any picture is rendered or read."""
    kind, need = DATASET_KINDS.get(dataset), TASK_KINDS.get(task)
    if need is None and kind is not None:
        raise ConfigError(f"'{dataset}' holds pairs of pictures for translation (task pix2pix or cyclegan), not "
                          f"pictures a {task} task learns from")
    if need is not None and kind != need:
        fits = " or ".join(k for k, v in DATASET_KINDS.items() if v == need)
        what = f"'{dataset}' holds {kind} pictures" if kind else f"'{dataset}' is not a two-domain dataset"
        raise ConfigError(f"{task} learns from {need} pictures ({fits}); {what}")
DOMAIN_N = {"train": 30000, "test": 2000}   # faces-domains: pictures per domain
# faces-domains draws from seed streams no other faces dataset uses (those use 2 * seed + split)
DOMAIN_STREAM = 10_000_000


class TwoDomainData(TensorData):
    """Pictures of domain B (x, y, attrs: what TensorData holds) and of domain A (`a`, `a_attrs`).
    get_batch returns (b, y, b_attrs, a): four values, so a task made for one domain cannot take it silently.
    Unpaired domains may differ in size: item i is B[i mod |B|] and A[i mod |A|]."""

    def __init__(self, a: torch.Tensor, a_attrs: torch.Tensor | None, b: torch.Tensor, b_attrs: torch.Tensor | None,
                 info: DatasetInfo, domain_names: tuple[str, str]):
        super().__init__(b, None, b_attrs, info)
        self.a = a
        self.a_attrs = a_attrs if a_attrs is not None else torch.zeros(a.shape[0], self.attrs.shape[1])
        self.domain_names = domain_names
        if info.kind == PAIRED and a.shape[0] != b.shape[0]:
            raise DataError(f"paired domains must hold as many pictures each, got {a.shape[0]} and {b.shape[0]}")

    def __len__(self) -> int:
        return max(self.a.shape[0], self.x.shape[0])

    def get_batch(self, idx: torch.Tensor):
        b, y, attrs = super().get_batch(idx % self.x.shape[0])
        a = self.a[idx % self.a.shape[0]]
        return b, y, attrs, a.float().div_(127.5).sub_(1.0) if a.dtype == torch.uint8 else a

    def __getitem__(self, i: int):
        b, y, attrs, a = self.get_batch(torch.tensor([i]))
        return b[0], y[0], attrs[0], a[0]


def is_two_domain(data) -> bool:
    return getattr(data.info, "kind", None) in (PAIRED, UNPAIRED)


def _faces_attribute(attribute: str) -> int:
    from explorer.data.faces import ATTRIBUTES
    if attribute not in ATTRIBUTES:
        raise ConfigError(f"unknown faces attribute '{attribute}' (known: {', '.join(ATTRIBUTES)})")
    return ATTRIBUTES.index(attribute)


@DATASETS.register("faces-sketch")
def faces_sketch(root: Path, where: str, split: str = "train", image_size: int = 32, correlation: float = 0.0,
                 n: int | None = None, seed: int = 0) -> TwoDomainData:
    """Paired: each face as a line drawing (A) and in colour (B): exact pairs, the faces dataset's own faces."""
    from explorer.data.faces import load_faces
    colour = load_faces(root, split, image_size, correlation, n, seed)
    sketch = load_faces(root, split, image_size, correlation, n, seed, sketch=True)
    info = DatasetInfo("faces-sketch", PAIRED, colour.info.shape, (), colour.info.attribute_names,
                       options={**colour.info.options})
    return TwoDomainData(sketch.x, sketch.attrs, colour.x, colour.attrs, info, ("sketch", "face"))


@DATASETS.register("faces-domains")
def faces_domains(root: Path, where: str, split: str = "train", image_size: int = 32,
                  attribute: str = "Sunglasses", n: int | None = None, seed: int = 0) -> TwoDomainData:
    """Unpaired: faces without `attribute` (A) and faces with it (B), every other attribute independent at its
    usual rate; the two sets come from independent seed streams, so no face is in both."""
    from explorer.data.faces import ATTRIBUTES, _check_size, cached_render, sample_attributes
    _check_size(image_size)
    k = _faces_attribute(attribute)
    n = DOMAIN_N[split] if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or isinstance(seed, bool) or not isinstance(seed, int) \
            or seed < 0:
        raise DataError(f"faces-domains needs n >= 1 and seed >= 0 (whole numbers), got n={n!r}, seed={seed!r}")
    parts = []
    for has in (0, 1):
        stream = DOMAIN_STREAM + 4 * seed + 2 * (split == "test") + has

        def attributes(stream=stream, has=has):
            attrs = sample_attributes(n, 0.0, stream)
            attrs[:, k] = has
            return attrs
        parts.append(cached_render(root, f"domains-{attribute}-{has}-{split}-s{image_size}-n{n}-seed{seed}",
                                   attributes, image_size, stream))
    (xa, aa), (xb, ab) = parts
    info = DatasetInfo("faces-domains", UNPAIRED, (3, image_size, image_size), (), ATTRIBUTES,
                       options={"split": split, "image_size": image_size, "attribute": attribute, "n": n,
                                "seed": seed})
    f = lambda t: torch.from_numpy(np.ascontiguousarray(t))  # noqa: E731
    return TwoDomainData(f(xa), f(aa.astype(np.float32)), f(xb), f(ab.astype(np.float32)), info,
                         (f"without {attribute}", f"with {attribute}"))


@DATASETS.register("pairs")
def pairs(root: Path, where: str, split: str = "train", path: str | None = None,
          image_size: int = 64) -> TwoDomainData:
    """Paired, from your folders: <path>/A/name.png goes in, <path>/B/name.png should come out (any image
    type; the names without extension must match). Pairs missing a side, or unreadable, are skipped."""
    from explorer.data.folders import IMAGE_EXTS, _cache_dir, _check_options, _existing_folder, _key, _load_all, \
        _names_digest, _split
    _check_options(image_size)
    if not path:
        raise ConfigError("the pairs dataset needs a folder holding A/ and B/: pass --data-path DIR")
    base = _existing_folder(path, "pairs", "; pass --data-path DIR holding A/ and B/ with matching file names")
    sides = {}
    for side in ("A", "B"):
        d = base / side
        if not d.is_dir():
            raise DataError(f"no {side}/ folder in {base}: pairs need A/ (inputs) and B/ (outputs) with matching "
                            f"file names")
        sides[side] = {p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_EXTS and p.is_file()}
    names = sorted(set(sides["A"]) & set(sides["B"]))
    if not names:
        raise DataError(f"no pair found in {base}: A/ has {len(sides['A'])} image(s), B/ has {len(sides['B'])}, "
                        f"and no file name appears in both")
    names = _split(names, split, None)
    loaded = []
    for side in ("A", "B"):
        files = [sides[side][nm] for nm in names]
        stamp = max(f.stat().st_mtime_ns for f in files)
        key = _key("pairs", side, base.resolve(), _names_digest(names), stamp, image_size, split)
        loaded.append(_load_all(files, image_size, 3, False, _cache_dir(root, "folder-cache"), key))
    (xa, oka), (xb, okb) = loaded
    ok = oka & okb
    if not ok.any():
        raise DataError(f"no readable pair in {base}: {len(names)} pair(s) could not be decoded")
    info = DatasetInfo("pairs", PAIRED, (3, image_size, image_size), (), (),
                       options={"path": str(base), "image_size": image_size, "split": split,
                                "skipped": int((~ok).sum())})
    return TwoDomainData(torch.from_numpy(xa[ok]), None, torch.from_numpy(xb[ok]), None, info, ("A", "B"))


@DATASETS.register("domains")
def domains(root: Path, where: str, split: str = "train", path: str | None = None, path_b: str | None = None,
            attribute: str | None = None, image_size: int = 64) -> TwoDomainData:
    """Unpaired, from your pictures: two image folders (path: domain A, path_b: domain B), or a folder in
    CelebA's layout split by one of its attributes (path and attribute, e.g. Eyeglasses: A without, B with)."""
    from explorer.data.folders import celeba, folder
    if not path:
        raise ConfigError("the domains dataset needs pictures: --data-path A_DIR with path_b=B_DIR, or a CelebA "
                          "folder with attribute=NAME")
    if attribute is not None:
        if path_b is not None:
            raise ConfigError("give either two folders (path and path_b) or a CelebA folder and an attribute, "
                              "not both")
        data = celeba(root, where, split, path=path, image_size=image_size)
        names = list(data.info.attribute_names)
        if attribute not in names:
            raise ConfigError(f"CelebA has no attribute '{attribute}' (it has {', '.join(names)})")
        has = data.attrs[:, names.index(attribute)] > 0.5
        if has.all() or not has.any():
            raise DataError(f"every picture of this split {'has' if has.all() else 'lacks'} {attribute}: "
                            f"both domains need pictures")
        info = DatasetInfo("domains", UNPAIRED, data.info.shape, (), data.info.attribute_names,
                           options={"path": str(path), "attribute": attribute, "image_size": image_size,
                                    "split": split})
        return TwoDomainData(data.x[~has], data.attrs[~has], data.x[has], data.attrs[has], info,
                             (f"without {attribute}", f"with {attribute}"))
    if path_b is None:
        raise ConfigError("the domains dataset needs a second folder (path_b=DIR) or a CelebA attribute "
                          "(attribute=NAME)")
    a = folder(root, where, split, path=path, image_size=image_size)
    b = folder(root, where, split, path=path_b, image_size=image_size)
    info = DatasetInfo("domains", UNPAIRED, b.info.shape, (), (),
                       options={"path": str(path), "path_b": str(path_b), "image_size": image_size, "split": split})
    return TwoDomainData(a.x, None, b.x, None, info, (Path(os.fspath(path)).name, Path(os.fspath(path_b)).name))

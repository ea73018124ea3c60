"""Datasets, all through one registry and one data-root resolver.

    load_dataset("digits", root="../shared/data", split="test") -> TensorData

A loader is a function `fn(root: Path, where: str, split: str, **options) -> TensorData` registered under a
name; `where` says which source gave the root (for error messages). Its keyword parameters are the dataset's
options, so an unknown option is caught here, before anything is read.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

from explorer.data.base import DatasetInfo, TensorData
from explorer.data.root import resolve_data_root
from explorer.errors import ConfigError
from explorer.registry import Registry

DATASETS = Registry("dataset")   # name -> loader(root, where, split, **options) -> TensorData
SPLITS = ("train", "test")
_NOT_OPTIONS = {"root", "where", "split"}  # loader parameters filled in by load_dataset, not by the user


def dataset_options(name: str) -> dict[str, object]:
    """The options a dataset accepts, with their defaults (inspect.Parameter.empty when required)."""
    params = inspect.signature(DATASETS.lookup(name)).parameters
    return {k: p.default for k, p in params.items() if k not in _NOT_OPTIONS}


def load_dataset(name: str, *, root: str | os.PathLike | None = None, split: str = "train", **options) -> TensorData:
    """Load a registered dataset by name: root through the resolver, split 'train' or 'test', its own options."""
    loader = DATASETS.lookup(name)
    if split not in SPLITS:
        raise ConfigError(f"split must be 'train' or 'test', got '{split}'")
    allowed = dataset_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"dataset '{name}' has no option {', '.join(repr(u) for u in unknown)} "
                          f"(its options: {', '.join(sorted(allowed)) or 'none'})")
    path, where = resolve_data_root(root)
    return loader(root=path, where=where, split=split, **options)


@DATASETS.register("faces")
def _faces(root: Path, where: str, split: str = "train", image_size: int = 32, correlation: float = 0.0,
           n: int | None = None, seed: int = 0) -> TensorData:
    """Synthetic cartoon faces with exact attributes (rendered by explorer.data.faces, cached under root)."""
    from explorer.data.faces import load_faces  # lazy: the renderer loads only when faces are asked for
    return load_faces(root, split=split, image_size=image_size, correlation=correlation, n=n, seed=seed)


# Each module registers its loaders on import; imported last because they import DATASETS from here.
from explorer.data import captions, digits, folders, toy2d, translation  # noqa: E402,F401

__all__ = ["DATASETS", "DatasetInfo", "TensorData", "dataset_options", "load_dataset", "resolve_data_root"]

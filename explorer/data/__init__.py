"""Datasets, all through one registry and one data-root resolver.

    load_dataset("digits", root="../shared/data", split="test") -> TensorData
"""
from __future__ import annotations

import inspect
import os
from typing import Callable

from explorer.data.base import DatasetInfo, TensorData
from explorer.data.root import resolve_data_root
from explorer.errors import ConfigError

DATASETS: dict[str, Callable[..., TensorData]] = {}


def register_dataset(name: str):
    def deco(fn):
        DATASETS[name] = fn
        return fn
    return deco


def load_dataset(name: str, *, root: str | os.PathLike | None = None, split: str = "train", **options) -> TensorData:
    """Load a registered dataset by name; every loader receives (root, where, split, **options)."""
    _register_builtin()
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}' (known: {', '.join(sorted(DATASETS))})")
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got '{split}'")
    fn = DATASETS[name]
    allowed = set(inspect.signature(fn).parameters) - {"root", "where", "split"}
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(f"dataset '{name}' has no option(s) {', '.join(sorted(unknown))} "
                          f"(options: {', '.join(sorted(allowed)) or 'none'})")
    path, where = resolve_data_root(root)
    return fn(root=path, where=where, split=split, **options)


def _register_builtin() -> None:
    # imported here so each loader's dependencies load only when the registry is first used
    from explorer.data import digits, toy2d  # noqa: F401
    try:
        from explorer.data import folders  # noqa: F401
    except ImportError:
        pass

    if "faces" not in DATASETS:
        @register_dataset("faces")
        def faces(root, where, split="train", image_size: int = 32, correlation: float = 0.0, n: int | None = None,
                  seed: int = 0):
            from explorer.data.faces import load_faces
            return load_faces(root, split=split, image_size=image_size, correlation=correlation, n=n, seed=seed)


__all__ = ["DATASETS", "DatasetInfo", "TensorData", "load_dataset", "register_dataset", "resolve_data_root"]

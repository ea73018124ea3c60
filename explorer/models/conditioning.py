"""What a generator sees beside z, built in one place: the class one-hot (conditional GAN) then the InfoGAN
codes (one-hot categorical, then continuous in [-1, 1]). The training tasks, the GeneratorModel interface,
the services, the directions code and the CLI all build it here, so the layout cannot drift apart.

    cond = condition(cfg, n, labels=..., codes=...)     # N x cfg.cond_dim, or None for a plain GAN
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from explorer.errors import ConfigError


def one_hot(labels: torch.Tensor | None, num_classes: int, n: int, device=None) -> torch.Tensor | None:
    """Class indices (n,) -> float one-hot (n, num_classes); None when the model is unconditional."""
    if num_classes == 0:
        return None
    if labels is None:
        raise ConfigError(f"this model is conditional: give a class label in 0..{num_classes - 1}")
    labels = torch.as_tensor(labels, device=device).long().reshape(-1)
    if labels.numel() == 1:  # one label for the whole batch
        labels = labels.expand(n)
    if labels.shape != (n,) or labels.min() < 0 or labels.max() >= num_classes:
        raise ConfigError(f"class labels must be {n} integers in 0..{num_classes - 1}")
    return nn.functional.one_hot(labels, num_classes).float()


def seeded_codes(cfg, n: int, seed: int, cat: int | None = None) -> torch.Tensor | None:
    """Reproducible InfoGAN codes: one-hot categorical (random, or fixed to `cat`) then uniform continuous."""
    if cfg.code_dim == 0:
        return None
    rs = np.random.RandomState((seed + 7919) % 2**32)
    parts = []
    if cfg.cat_codes:
        k = rs.randint(0, cfg.cat_codes, n) if cat is None else np.full(n, cat)
        parts.append(np.eye(cfg.cat_codes)[k])
    if cfg.cont_codes:
        parts.append(rs.uniform(-1, 1, (n, cfg.cont_codes)))
    return torch.from_numpy(np.concatenate(parts, 1).astype(np.float32))


def random_codes(cfg, n: int, device=None) -> torch.Tensor | None:
    """Fresh InfoGAN codes from torch's generator (training draws these every step)."""
    if cfg.code_dim == 0:
        return None
    parts = []
    if cfg.cat_codes:
        parts.append(nn.functional.one_hot(torch.randint(0, cfg.cat_codes, (n,), device=device), cfg.cat_codes).float())
    if cfg.cont_codes:
        parts.append(torch.rand(n, cfg.cont_codes, device=device) * 2 - 1)
    return torch.cat(parts, 1)


def codes_from_controls(cfg, cat: int | None, cont) -> torch.Tensor | None:
    """One row of codes from a person's controls: a categorical value and continuous values within +-2."""
    if cfg.code_dim == 0:
        return None
    parts = []
    if cfg.cat_codes:
        k = 0 if cat is None else int(cat)
        if not 0 <= k < cfg.cat_codes:
            raise ConfigError(f"categorical code must be in 0..{cfg.cat_codes - 1}")
        parts.append(nn.functional.one_hot(torch.tensor([k]), cfg.cat_codes).float())
    vals = list(cont or [])[: cfg.cont_codes] + [0.0] * max(0, cfg.cont_codes - len(cont or []))
    if cfg.cont_codes:
        v = torch.tensor([vals], dtype=torch.float32)
        if not torch.isfinite(v).all() or v.abs().max() > 2:
            raise ConfigError("continuous codes must be finite numbers within +-2")
        parts.append(v)
    return torch.cat(parts, 1)


def condition(cfg, n: int, labels=None, codes: torch.Tensor | None = None, class_weights: torch.Tensor | None = None,
              device=None) -> torch.Tensor | None:
    """The N x cfg.cond_dim vector appended to z, or None. Classes: `labels` (indices) or `class_weights` (N x
    classes rows, e.g. a blend between two classes). Codes: `codes`, else seeded_codes(seed 0)."""
    if class_weights is not None:
        cls = torch.as_tensor(class_weights, dtype=torch.float32, device=device)
        if cls.shape != (n, cfg.num_classes):
            raise ConfigError(f"class weights must have shape ({n}, {cfg.num_classes})")
    else:
        cls = one_hot(labels, cfg.num_classes, n, device)
    if cfg.code_dim == 0:
        return cls
    if codes is None:
        codes = seeded_codes(cfg, n, 0)
    codes = codes.to(device) if device is not None else codes
    return codes if cls is None else torch.cat([cls, codes], 1)


def blank_condition(cfg, n: int, device=None) -> torch.Tensor | None:
    """All zeros: no class and codes at their centre (what GANSpace's principal directions are read under)."""
    return None if cfg.cond_dim == 0 else torch.zeros(n, cfg.cond_dim, device=device)

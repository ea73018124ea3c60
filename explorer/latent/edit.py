"""Precompute, store and judge attribute directions (the `edit` / `directions` commands and the Directions tab)."""
from __future__ import annotations

import numpy as np
import torch

from explorer.errors import ConfigError
from explorer.latent import directions as D
from explorer.latent.judges import kept
from explorer.models.base import GeneratorModel

METHODS_SHOWN = ("gradient", "penalized", "boundary", "conditional", "pca")
MAX_STRENGTH = 10.0        # edits beyond this leave the region where z ~ N(0, I) lives; clamped
STRENGTHS = np.round(np.arange(0, 8.01, 0.25), 2)   # the sweep used to find each method's strength_to_flip
N_RANDOM = 8               # random unit directions behind each row's random_side_effect (the floor of a step)


def compute_directions(model: GeneratorModel, judge, names: list[str], penalty: float = 1.0, n_grad: int = 128,
                       n_boundary: int = 10000, pca_k: int = 10, progress=None) -> dict[str, torch.Tensor]:
    """Every method for every attribute the judge names (its outputs, in order): keys 'method/Attribute' ->
    unit z-vector; 'pca' -> k x D. See explorer.latent.judges.attribute_judge for (judge, names)."""
    if not names:
        raise ConfigError(f"model '{model.name}' has no attributes: directions need a judge with named attributes")
    step = progress or (lambda frac, msg: None)
    step(0.0, "gradients of every attribute's logit")
    grads = D.logit_gradients(model, judge, n_grad)
    out: dict[str, torch.Tensor] = {}
    for a, name in enumerate(names):
        out[f"gradient/{name}"] = D.gradient_direction(grads, a)
        out[f"penalized/{name}"] = D.penalized_direction(grads, a, penalty, kept(names, name))
    step(0.3, f"labelling {n_boundary} samples for linear boundaries")
    z, labels = D.label_samples(model, judge, n_boundary)
    step(0.6, "fitting boundaries")
    normals = torch.from_numpy(D.boundary_normals(z, labels))
    for a, name in enumerate(names):
        out[f"boundary/{name}"] = normals[a]
        out[f"conditional/{name}"] = D.conditional_direction(normals, a, kept(names, name))
    step(0.9, "principal components")
    out["pca"] = D.pca_directions(model, pca_k)
    out["data/attribute_rates"] = torch.from_numpy(labels.mean(0))
    step(1.0, "done")
    return out


def saved_directions(model_dir, names: list[str]) -> dict | None:
    """The model's precomputed directions, or None when there are none or they were saved for other attribute
    names (an older judge): then they are recomputed."""
    from explorer.training.checkpoint import load_directions
    found = load_directions(model_dir)
    return found if found is not None and all(f"gradient/{n}" in found for n in names) else None


def get_direction(directions: dict, method: str, attribute: str, model: GeneratorModel,
                  names: list[str]) -> torch.Tensor:
    if method not in D.METHODS:
        raise ConfigError(f"unknown method '{method}' (known: {', '.join(D.METHODS)})")
    if attribute not in names and not (method == "pca" and attribute.startswith("pc")):
        raise ConfigError(f"unknown attribute '{attribute}' for '{model.name}' "
                          f"(known: {', '.join(names) or 'none'})")
    if f"{method}/{attribute}" not in directions and method != "pca":
        raise ConfigError(f"the saved directions of '{model.name}' lack {method}/{attribute}: recompute them")
    if method == "pca":
        k = int(attribute[2:]) if attribute.startswith("pc") and attribute[2:].isdigit() else 0
        return directions["pca"][k]
    return directions[f"{method}/{attribute}"]


def clamp_strength(strength: float) -> tuple[float, bool]:
    """Absurd strengths are clamped to +-MAX_STRENGTH; the flag says it happened so the UI can tell."""
    if not np.isfinite(strength):
        raise ConfigError(f"strength must be a finite number, got {strength}")
    clamped = float(np.clip(strength, -MAX_STRENGTH, MAX_STRENGTH))
    return clamped, clamped != strength


@torch.no_grad()
def probabilities(model: GeneratorModel, judge, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([torch.sigmoid(D.judge_logits(model, judge, z[i:i + batch])) for i in range(0, len(z), batch)])


@torch.no_grad()
def judge_directions(model: GeneratorModel, directions: dict, judge, judge_names: list[str], names: list[str],
                     methods=("gradient", "penalized", "boundary", "conditional"), n_seeds: int = 48) -> list[dict]:
    """For each attribute and method: the strength at which the mean target probability (by `judge`) of seeds
    starting below 0.2 passes 0.8, and the mean |change| of the other attributes there. Beside it,
    random_side_effect: the same mean |change| after a step of that length in a random direction (the mean
    over N_RANDOM of them), the floor any edit that long pays in a generator whose boundaries curve, so a
    method's side effect reads against what merely moving costs. An attribute that no sample lacks gets rows
    of nulls with a note."""
    results = []
    pool = model.sample_z(4000, 31337)
    p0 = probabilities(model, judge, pool)
    rand = torch.randn(N_RANDOM, pool.shape[1], generator=torch.Generator().manual_seed(2024))
    rand = rand / rand.norm(dim=1, keepdim=True)
    for name in names:
        if name not in judge_names:
            continue
        t = judge_names.index(name)
        others = kept(judge_names, name)
        start = pool[p0[:, t] < 0.2][:n_seeds]
        before = p0[p0[:, t] < 0.2][:n_seeds]
        for method in methods:
            d = directions[f"{method}/{name}"]
            row = {"attribute": name, "method": method, "strength_to_flip": None, "target_before": None,
                   "target_after": None, "side_effect": None, "random_side_effect": None}
            if not len(start):  # the generator (nearly) always draws it: nothing to add it to
                results.append({**row, "note": f"no sample of {len(pool)} starts below 0.2"})
                continue
            row["target_before"] = round(before[:, t].mean().item(), 4)
            for s in STRENGTHS[1:]:
                p = probabilities(model, judge, start + float(s) * d)
                if p[:, t].mean() > 0.8:
                    row.update(strength_to_flip=float(s), target_after=round(p[:, t].mean().item(), 4),
                               side_effect=round((p[:, others] - before[:, others]).abs().mean().item(), 4),
                               random_side_effect=round(_random_side_effect(model, judge, start, before, others,
                                                                            float(s), rand), 4))
                    break
            results.append(row)
    return results


def _random_side_effect(model, judge, start, before, others, strength: float, rand: torch.Tensor) -> float:
    moved = torch.cat([start + strength * r for r in rand])
    p = probabilities(model, judge, moved)[:, others].view(len(rand), len(start), len(others))
    return (p - before[:, others]).abs().mean().item()


def cosine_matrix(directions: dict, names: list[str], method_a: str, method_b: str) -> np.ndarray:
    a = torch.stack([directions[f"{method_a}/{n}"] for n in names])
    b = torch.stack([directions[f"{method_b}/{n}"] for n in names])
    return (a @ b.T).numpy()

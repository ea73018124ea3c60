"""Precompute, store and judge attribute directions (the `edit` / `directions` commands and the Directions tab)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from explorer.errors import ConfigError
from explorer.latent import directions as D
from explorer.latent.judges import kept
from explorer.models.base import GeneratorModel

METHODS_SHOWN = ("gradient", "penalized", "boundary", "conditional", "pca", "sefa")
MAX_STRENGTH = 10.0        # edits beyond this leave the region where z ~ N(0, I) lives; clamped
STRENGTHS = np.round(np.arange(0, 8.01, 0.25), 2)   # the sweep used to find each method's strength_to_flip
N_RANDOM = 8               # random unit directions behind each row's random_side_effect (the floor of a step)


def compute_directions(model: GeneratorModel, judge, names: list[str], penalty: float = 1.0, n_grad: int = 128,
                       n_boundary: int = 10000, pca_k: int = D.PCA_K, progress=None) -> dict[str, torch.Tensor]:
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
    try:
        out["sefa"] = D.sefa_directions(model, pca_k)
    except ConfigError:     # a generator with no linear first layer: SeFa has nothing to factorise
        pass
    out["data/attribute_rates"] = torch.from_numpy(labels.mean(0))
    step(1.0, "done")
    return out


def with_penalty(directions: dict, model: GeneratorModel, judge, names: list[str], weight: float) -> dict:
    """The directions with every penalized one re-found at another penalty weight (the saved ones use 1)."""
    if weight == 1.0:
        return directions
    grads = D.logit_gradients(model, judge)
    return {**directions, **{f"penalized/{n}": D.penalized_direction(grads, a, weight, kept(names, n))
                             for a, n in enumerate(names)}}


def saved_directions(model_dir, names: list[str]) -> dict | None:
    """The model's precomputed directions, or None when there are none or they were saved for other attribute
    names (an older judge): then they are recomputed."""
    from explorer.store.checkpoint import load_directions
    found = load_directions(model_dir)
    return found if found is not None and all(f"gradient/{n}" in found for n in names) else None


PC_NAMES_FILE = "pca_names.json"   # beside the model: {"pc3": "Smiling", ...}, the names people gave
MAX_PC_NAME = 40


def get_direction(directions: dict, method: str, attribute: str, model: GeneratorModel,
                  names: list[str], pc_names: dict | None = None) -> torch.Tensor:
    if method not in D.METHODS:
        raise ConfigError(f"unknown method '{method}' (known: {', '.join(D.METHODS)})")
    if method in D.UNSUPERVISED:
        k, sign, _ = pick_pc(directions, attribute, names, pc_names or {}, method)
        return sign * directions[method][k]
    if attribute not in names:
        raise ConfigError(f"unknown attribute '{attribute}' for '{model.name}' "
                          f"(known: {', '.join(names) or 'none'})")
    if f"{method}/{attribute}" not in directions:
        raise ConfigError(f"the saved directions of '{model.name}' lack {method}/{attribute}: recompute them")
    return directions[f"{method}/{attribute}"]


def pick_pc(directions: dict, attribute: str, names: list[str], pc_names: dict,
            family: str = "pca") -> tuple[int, float, str]:
    """Which unsupervised direction the pca (or sefa) method walks for `attribute`, as (k, sign, why): 'pcK'
    ('sefaK') itself; the PC a person named `attribute` (PCA's only); else, for an attribute, the one most
    aligned with its gradient direction, turned to add it (found without labels: the closest, not a match)."""
    pcs, prefix = directions.get(family), D.UNSUPERVISED[family]
    if pcs is None:
        raise ConfigError("the saved directions have no principal directions: recompute them" if family == "pca"
                          else "this generator has no SeFa directions (its first layer is not a linear map of z)")
    k_max = len(pcs) - 1
    if attribute.startswith(prefix) and attribute[len(prefix):].isdigit():
        k = int(attribute[len(prefix):])
        if k > k_max:
            raise ConfigError(f"there are {family} directions {prefix}0 to {prefix}{k_max}, not {attribute}")
        return k, 1.0, f"{prefix}{k}" + (f" ('{pc_names[attribute]}')" if attribute in pc_names else "")
    grad = directions.get(f"gradient/{attribute}") if attribute in names else None
    if family != "pca":
        pc_names = {}                                # people name PCA's directions
    named = [pc for pc, label in pc_names.items() if label == attribute]
    if named:  # a PC named after an attribute is walked the way that adds it
        k = int(named[0][2:])
        sign = 1.0 if grad is None else float(torch.sign(pcs[k] @ grad)) or 1.0
        return k, sign, f"{named[0]}, which you named '{attribute}'"
    if grad is None:
        known = names + sorted(pc_names.values())
        raise ConfigError(f"unknown attribute '{attribute}' for {family} (known: {prefix}0 to {prefix}{k_max}, "
                          f"{', '.join(known) or 'no names'})")
    cos = pcs @ grad
    k = int(cos.abs().argmax())
    what = "unnamed principal direction" if family == "pca" else "SeFa direction"
    return k, float(torch.sign(cos[k])) or 1.0, (f"{prefix}{k}, the {what} closest to "
                                               f"{attribute}'s gradient direction (cosine {abs(float(cos[k])):.2f})")


def load_pc_names(model_dir) -> dict[str, str]:
    """The names people gave the model's principal directions ({} when none; a damaged file is ignored)."""
    path = Path(model_dir) / PC_NAMES_FILE
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, str) and k.startswith("pc") and k[2:].isdigit()} \
        if isinstance(found, dict) else {}


def rename_pc(pc_names: dict, k, label: str, n_pcs: int) -> dict[str, str]:
    """pc_names with pc{k} called `label` (an empty label removes its name). Checked: k in range, a short
    printable name that is neither another PC's name nor a pcN. Naming a PC after an attribute ("Smiling")
    makes it the one the pca method walks for that attribute."""
    try:
        whole = float(k).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not whole or not 0 <= int(k) < n_pcs:
        raise ConfigError(f"there are principal directions pc0 to pc{n_pcs - 1}, not pc{k}")
    k = int(k)
    label = " ".join(str(label or "").split())
    out = {pc: v for pc, v in pc_names.items() if pc != f"pc{k}"}
    if not label:
        return out
    if len(label) > MAX_PC_NAME or not label.isprintable():
        raise ConfigError(f"a name is at most {MAX_PC_NAME} printable characters")
    if label.startswith("pc") and label[2:].isdigit():
        raise ConfigError(f"'{label}' is what a principal direction is called before it has a name: pick a word")
    taken = [pc for pc, v in out.items() if v == label]
    if taken:
        raise ConfigError(f"{taken[0]} is already called '{label}': rename or clear it first")
    return {**out, f"pc{k}": label}


def save_pc_names(model_dir, pc_names: dict[str, str]) -> None:
    from explorer.store.checkpoint import write_json
    write_json(Path(model_dir) / PC_NAMES_FILE, dict(sorted(pc_names.items(), key=lambda kv: int(kv[0][2:]))))


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

"""Feature directions in z: found from a judge's gradients, fitted boundaries, or principal components.

Every method returns unit vectors in z (z_dim,), so edits are z + strength * direction and methods can be
compared at equal strength. Generator and judge stay frozen: only z is differentiated.
"""
from __future__ import annotations

import numpy as np
import torch

from explorer.errors import ConfigError
from explorer.models.base import GeneratorModel

METHODS = ("gradient", "penalized", "boundary", "conditional", "pca", "sefa")
UNSUPERVISED = {"pca": "pc", "sefa": "sefa"}   # found without labels: walked by number (pc3, sefa3), prefix
DIRECTION_SEED = 7000
PCA_K = 10             # principal directions kept
PENALTY_SCALE = 0.03   # what "penalty weight 1" means, relative to the scale-free balance (see penalized_direction)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-12)


def judge_logits(model: GeneratorModel, judge: torch.nn.Module, z: torch.Tensor, labels=None) -> torch.Tensor:
    """N x A attribute logits of the generated images (differentiable in z)."""
    return judge(model.generate(z, labels))


def logit_gradients(model: GeneratorModel, judge, n: int = 128, seed: int = DIRECTION_SEED) -> torch.Tensor:
    """d logit_a / d z for every attribute a and sample i: A x N x z_dim."""
    z = model.sample_z(n, seed).requires_grad_(True)
    logits = judge_logits(model, judge, z)
    grads = []
    for a in range(logits.shape[1]):
        (g,) = torch.autograd.grad(logits[:, a].sum(), z, retain_graph=a < logits.shape[1] - 1)
        grads.append(g)
    return torch.stack(grads)


def gradient_direction(grads: torch.Tensor, target: int) -> torch.Tensor:
    """The classic edit: the mean direction of steepest ascent of the target logit."""
    return _unit(grads[target].mean(0))


def penalized_direction(grads: torch.Tensor, target: int, weight: float = 1.0,
                        others: list[int] | None = None) -> torch.Tensor:
    """Maximise the target's first-order gain g_t.d minus weight * mean sum_b (g_b.d)^2 over the other attributes:
    d ~ (I + weight * M)^-1 g_t with M the mean outer product of the others' gradients (per sample, so a
    direction that moves another attribute up for some faces and down for others is penalised too)."""
    if weight < 0:
        raise ConfigError(f"the penalty weight must be >= 0, got {weight}")
    if others is None:
        others = [b for b in range(grads.shape[0]) if b != target]
    if not others:
        return gradient_direction(grads, target)
    others = grads[others]                                             # x N x D
    flat = others.reshape(-1, others.shape[-1])                        # ((A-1) N) x D
    m = flat.T @ flat / grads.shape[1]
    g = grads[target].mean(0)
    # Scale-free: (g.g) / (trace(M) / D) puts the target's squared gain and an average direction's penalty on
    # one footing; PENALTY_SCALE then makes weight 1 the useful default. On faces-dcgan, weight 1 still flips
    # every attribute within strength 8 while cutting most side effects; weights near 10 grow so cautious
    # that most attributes never flip (measured with `directions --json`; see the faces model cards).
    scale = PENALTY_SCALE * (g @ g) / torch.diagonal(m).sum().clamp_min(1e-12) * g.shape[0]
    return _unit(torch.linalg.solve(torch.eye(g.shape[0]) + weight * scale * m, g))


def boundary_normals(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit normals (A x D) of linear boundaries fitted per attribute (logistic regression on z)."""
    from sklearn.linear_model import LogisticRegression
    normals = []
    for a in range(labels.shape[1]):
        y = labels[:, a]
        if y.min() == y.max():  # never (or always) present in the samples: no boundary to fit
            normals.append(np.zeros(z.shape[1]))
            continue
        clf = LogisticRegression(C=1.0, max_iter=500).fit(z, y)
        normals.append(clf.coef_[0] / np.linalg.norm(clf.coef_[0]))
    return np.stack(normals).astype(np.float32)


@torch.no_grad()
def label_samples(model: GeneratorModel, judge, n: int, seed: int = DIRECTION_SEED + 1, batch: int = 500):
    """n latents and the judge's 0/1 verdicts on their images: (z N x D, labels N x A)."""
    z = model.sample_z(n, seed)
    lab = torch.cat([(judge_logits(model, judge, z[i:i + batch]) > 0).float() for i in range(0, n, batch)])
    return z.numpy(), lab.numpy()


def conditional_direction(normals: torch.Tensor, target: int, condition_on: list[int]) -> torch.Tensor:
    """The target's normal with the normals of `condition_on` projected out (Shen et al., InterFaceGAN):
    d = n_t - B (B^T B)^-1 B^T n_t, so moving along d leaves the conditioned attributes' boundaries alone."""
    n_t = normals[target]
    cond = [c for c in condition_on if c != target]
    if not cond:
        return _unit(n_t)
    b = normals[cond].T                                                # D x k
    # least squares (pinv) rather than solve: an attribute the samples never show has a zero normal
    coef = torch.linalg.pinv(b.T @ b) @ (b.T @ n_t)
    return _unit(n_t - b @ coef)


@torch.no_grad()
def pca_directions(model: GeneratorModel, k: int = PCA_K, n: int = 4000, seed: int = DIRECTION_SEED + 2) -> torch.Tensor:
    """GANSpace-style: principal components of an early generator layer's activations, carried back to z by
    regression (z ~ coordinates x V). Unnamed: a person names them by looking. Returns k x D unit rows."""
    z = model.sample_z(n, seed)
    feats = early_features(model, z).double()
    feats = feats - feats.mean(0)
    _, _, vt = torch.linalg.svd(feats, full_matrices=False)
    coords = feats @ vt[:k].T                                          # n x k
    v = torch.linalg.lstsq(coords, z.double()).solution                # k x D
    return torch.stack([_unit(r) for r in v.float()])


def first_layer_map(net: torch.nn.Module, z_dim: int) -> torch.Tensor:
    """The generator's first layer as a matrix A (outputs x z_dim) acting on z: a linear layer's weight, or a
    transposed convolution from 1 x 1 (DCGAN) unrolled over its output channels and pixels. The columns for
    whatever follows z (class one-hot, codes) are left out: SeFa factorises what z does."""
    for m in net.modules():
        if isinstance(m, torch.nn.Linear):
            return m.weight[:, :z_dim].detach()
        if isinstance(m, torch.nn.ConvTranspose2d):
            return m.weight[:z_dim].detach().reshape(z_dim, -1).T
    raise ConfigError("SeFa needs a generator whose first layer is linear or a transposed convolution")


@torch.no_grad()
def sefa_directions(model: GeneratorModel, k: int = PCA_K) -> torch.Tensor:
    """SeFa (Shen & Zhou 2021), closed form and without samples: the z directions the first layer stretches
    most, the top eigenvectors of A^T A for the first layer's map A. Returns k x D unit rows, largest first."""
    a = first_layer_map(model.net, model.z_dim).double()
    _, vecs = torch.linalg.eigh(a.T @ a)                                # ascending eigenvalues
    top = vecs[:, -min(k, model.z_dim):].flip(1).T.float()
    return torch.stack([_unit(r) for r in top])


def early_features(model: GeneratorModel, z: torch.Tensor) -> torch.Tensor:
    """Activations after the generator's first block (the layer GANSpace reads), flattened."""
    return model.early_features(z)

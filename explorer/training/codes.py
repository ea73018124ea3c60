"""InfoGAN's continuous codes turned to name stroke properties once a run ends (`align_codes`).

The information term asks the codes to be recoverable from the picture, nothing more: any rotation of two
codes is as recoverable, so which mix of slant and width each one sets is chance (the two codes of one run read
r 0.59 / -0.50 and -0.56 / -0.42 against slant / width). Turning the code plane so that c1 follows slant and c2
follows width (a rotation, a sign flip where it makes each correlation positive) changes no picture the
generator can draw; the uniform square of codes it is sampled from becomes a turned square whose corners
reach past the one it trained on (up to sqrt(2) along an axis), less far than the Explore tab's +-2 sliders.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from explorer.errors import ConfigError
from explorer.metrics.strokes import slant, width_within

ALIGN_SEED = 4242           # the fit's own samples, apart from eval's (EVAL_SEED) so eval measures fresh ones
ANGLES = 720                # half-degree steps over [0, 180): a half turn covers every axis


def check_alignable(cfg) -> None:
    """align_codes needs two continuous codes and one-channel strokes (digits) to measure slant and width on."""
    mc = cfg.model
    if cfg.task != "infogan" or mc.cont_codes != 2 or len(mc.shape) != 3 or mc.shape[0] != 1:
        raise ConfigError("align-codes turns an InfoGAN's two continuous codes to stroke slant and width: it needs "
                          "task infogan, cont_codes 2 and one-channel pictures (digits)")


def stroke_readings(generator: nn.Module, cfg, n: int = 4000, seed: int = ALIGN_SEED) -> tuple[np.ndarray, ...]:
    """(continuous codes N x 2, slant N, width N against each categorical value's own) of n fresh samples."""
    from explorer.models.conditioning import seeded_codes
    mc = cfg.model
    dev = next(generator.parameters()).device
    z = torch.randn(n, mc.z_dim, generator=torch.Generator().manual_seed(seed))
    codes = seeded_codes(mc, n, seed)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        imgs = torch.cat([generator(z[i:i + 500].to(dev), codes[i:i + 500].to(dev)).cpu() for i in range(0, n, 500)])
    generator.train(was_training)
    cat = codes[:, :mc.cat_codes].argmax(1) if mc.cat_codes else torch.zeros(n, dtype=torch.long)
    return codes[:, mc.cat_codes:].numpy(), slant(imgs).numpy(), width_within(imgs, cat).numpy()


def fit_turn(cont: np.ndarray, slants: np.ndarray, widths: np.ndarray) -> dict:
    """The 2 x 2 orthogonal R (new codes u = R^T c) under which u1 follows slant and u2 width best (the turn
    whose weaker |r| is strongest), signs chosen so both correlations are positive."""
    def corr(a, b):
        with np.errstate(invalid="ignore", divide="ignore"):    # a feature that never varies: nan, handled below
            return float(np.corrcoef(a, b)[0, 1])
    best = None
    for t in np.arange(ANGLES) * math.pi / ANGLES:
        r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        u = cont @ r
        r1, r2 = corr(u[:, 0], slants), corr(u[:, 1], widths)
        if best is None or min(abs(r1), abs(r2)) > best[0]:
            best = (min(abs(r1), abs(r2)), t, r, r1, r2)
    _, t, r, r1, r2 = best
    if not (math.isfinite(r1) and math.isfinite(r2)):   # e.g. a run too short to draw strokes that vary
        return {"rotation": np.eye(2), "skipped": "the samples' slant or width does not vary: codes left as trained"}
    turn = r @ np.diag([math.copysign(1, r1), math.copysign(1, r2)])
    return {"rotation": turn, "angle_deg": round(math.degrees(t), 1), "slant_r": round(abs(r1), 4),
            "width_r": round(abs(r2), 4), "before": {"c1_slant_r": round(corr(cont[:, 0], slants), 4),
                                                     "c2_width_r": round(corr(cont[:, 1], widths), 4)}}


@torch.no_grad()
def turn_codes(first_layer: nn.Module, q_out: nn.Linear | None, rotation: np.ndarray, start: int) -> None:
    """Rewrite the weights so the generator fed u draws what it drew fed c = R u, and the Q head reads u:
    the generator's first layer's columns start..start+2 (its continuous-code inputs) become W R, and the Q
    head's continuous outputs (its last two rows) R^T times what they were."""
    r = torch.as_tensor(rotation, dtype=first_layer.weight.dtype, device=first_layer.weight.device)
    w = first_layer.weight            # Linear: out x in; ConvTranspose2d: in x out x k x k
    if isinstance(first_layer, nn.Linear):
        w[:, start:start + 2] = w[:, start:start + 2] @ r
    else:
        w[start:start + 2] = torch.einsum("ij,i...->j...", r, w[start:start + 2].clone())
    if q_out is not None:
        q_out.weight[-2:] = r.T @ q_out.weight[-2:]
        if q_out.bias is not None:
            q_out.bias[-2:] = r.T @ q_out.bias[-2:]


def first_layer(generator: nn.Module) -> nn.Module:
    """The layer z and the condition enter (the InfoGAN net's first Linear, DCGAN's first transposed conv)."""
    for m in generator.modules():
        if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
            return m
    raise ConfigError("the generator has no linear or transposed-convolution input layer to turn codes in")

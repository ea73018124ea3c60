"""GAN losses as small objects: each owns its critic/generator math and reports its own stats.

The training loop calls only `critic_loss`, `generator_loss` and `after_critic_step`; it never asks
which GAN it runs. Defaults follow DESIGN.md section 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from explorer.errors import ConfigError

Critic = Callable[[torch.Tensor], torch.Tensor]  # samples -> scores (N,), condition already bound

LOSSES: dict[str, type] = {}


def register_loss(name: str):
    def deco(cls):
        LOSSES[name] = cls
        cls.name = name
        return cls
    return deco


@dataclass(frozen=True)
class OptimDefaults:
    optimizer: str          # "adam" or "rmsprop"
    lr: float
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1       # critic steps per generator step


class GANLoss:
    name = ""
    defaults = OptimDefaults("adam", 2e-4)

    def critic_loss(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def generator_loss(self, critic: Critic, fake: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def after_critic_step(self, critic_module: torch.nn.Module) -> None:
        """Hook run after each critic optimizer step (weight clipping lives here)."""


@register_loss("bce")
@dataclass
class BCELoss(GANLoss):
    """Goodfellow et al.: D classifies real vs fake. Non-saturating G loss by default; `saturating=True`
    uses the original minimax form log(1 - D(G(z))), whose gradient vanishes when D wins."""

    saturating: bool = False
    defaults = OptimDefaults("adam", 2e-4, (0.5, 0.999), 1)

    def critic_loss(self, critic, real, fake):
        lr, lf = critic(real), critic(fake)
        loss = F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr)) + \
            F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
        return loss, {"d_real": torch.sigmoid(lr).mean().item(), "d_fake": torch.sigmoid(lf).mean().item()}

    def generator_loss(self, critic, fake):
        lf = critic(fake)
        if self.saturating:  # minimize log(1 - D(G(z))) = -softplus(logit) ... written stably
            loss = -F.softplus(lf).mean()
        else:                # maximize log D(G(z))
            loss = F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf))
        return loss, {"d_fake_g": torch.sigmoid(lf).mean().item()}


@register_loss("wgan")
@dataclass
class WGANClipLoss(GANLoss):
    """Arjovsky et al. 2017: critic maximizes E[f(x)] - E[f(G(z))]; Lipschitz by clipping weights to [-c, c]."""

    clip: float = 0.01
    defaults = OptimDefaults("rmsprop", 5e-5, (0.0, 0.0), 5)

    def critic_loss(self, critic, real, fake):
        fr, ff = critic(real).mean(), critic(fake).mean()
        return ff - fr, {"d_real": fr.item(), "d_fake": ff.item(), "wasserstein": (fr - ff).item()}

    def generator_loss(self, critic, fake):
        ff = critic(fake).mean()
        return -ff, {"d_fake_g": ff.item()}

    @torch.no_grad()
    def after_critic_step(self, critic_module):
        for p in critic_module.parameters():
            p.clamp_(-self.clip, self.clip)


@register_loss("wgangp")
@dataclass
class WGANGPLoss(WGANClipLoss):
    """Gulrajani et al. 2017: a gradient penalty lambda * (||grad f(x_hat)|| - 1)^2 on random interpolates
    replaces clipping. The critic must not use BatchNorm (the penalty is per sample)."""

    gp_lambda: float = 10.0
    defaults = OptimDefaults("adam", 1e-4, (0.0, 0.9), 5)

    def critic_loss(self, critic, real, fake):
        fr, ff = critic(real).mean(), critic(fake).mean()
        eps = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(dim=1)
        gp = ((norm - 1) ** 2).mean()
        loss = ff - fr + self.gp_lambda * gp
        return loss, {"d_real": fr.item(), "d_fake": ff.item(), "wasserstein": (fr - ff).item(),
                      "gp": gp.item(), "grad_norm_interp": norm.mean().item()}

    def after_critic_step(self, critic_module):
        pass  # no clipping: the penalty keeps the critic 1-Lipschitz


def build_loss(name: str, **params) -> GANLoss:
    """A loss by registry name with optional parameters (saturating, clip, gp_lambda)."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss '{name}' (known: {', '.join(sorted(LOSSES))})")
    cls = LOSSES[name]
    unknown = set(params) - set(cls.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"loss '{name}' has no setting(s) {', '.join(sorted(unknown))}")
    return cls(**params)

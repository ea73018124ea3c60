"""GAN losses as small objects: each owns its critic/generator math, reports its own stats and describes itself.

The training loop calls only `critic_loss`, `generator_loss` and `after_critic_step`; it never asks which GAN
it runs. What a person reads and sets about a loss lives on its class too: a title and a paragraph, its
settings (name, default, range, help), the critic normalisation it needs and its optimiser defaults. Presets,
the Train tab, `train --loss`, the Playground and the model cards read that description, so a new loss is one
class and its registry entry. Defaults follow DESIGN.md section 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from explorer.errors import ConfigError
from explorer.registry import Registry

Critic = Callable[[torch.Tensor], torch.Tensor]  # samples -> scores (N,), condition already bound

LOSSES = Registry("loss")


@dataclass(frozen=True)
class OptimDefaults:
    optimizer: str          # "adam" or "rmsprop"
    lr: float
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1       # critic steps per generator step


@dataclass(frozen=True)
class Setting:
    """One knob of a loss: a field of the loss object and a key of TrainConfig.loss_options."""
    name: str
    default: float | bool
    label: str              # a control's label
    help: str               # the sentence beside it
    low: float = 0.0        # numbers only: the allowed range, inclusive
    high: float = 1.0

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value):
        """The value as this setting stores it, or a readable refusal."""
        if isinstance(self.default, bool):
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise ConfigError(f"{self.flag[2:]} is on or off, got {value!r}")
            return bool(value)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high
        if not ok:
            raise ConfigError(f"{self.flag[2:]} must be a number from {self.low:g} to {self.high:g}, got {value!r}")
        return float(value)


class GANLoss:
    name = ""                               # filled in by LOSSES.register
    title = ""                              # a picker's label
    about = ""                              # one paragraph: the paper, what it does, its defaults
    settings: tuple[Setting, ...] = ()
    critic_norm: str | None = None          # a conv critic's normalisation when BatchNorm will not do
    defaults = OptimDefaults("adam", 2e-4)
    variants: dict[str, tuple[str, dict]] = {}   # the Playground's choices when not just (name, title):
                                                 # choice -> (its label, the settings it runs with)
    rng: torch.Generator | None = None           # where a loss's own random draws come from (None: torch's
                                                 # global stream); a Playground run sets its own
    score_together = False  # set by a task whose critic scores every sample on its own (no BatchNorm, no head):
                            # the batches a critic loss scores then go through one forward pass, not one each

    def scores(self, critic: Critic, *batches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The critic's scores of each batch: one forward over them all when score_together, else one each (a
        BatchNorm critic must see real and fake batches apart)."""
        if self.score_together and len(batches) > 1:
            return critic(torch.cat(batches)).split([len(b) for b in batches])
        return tuple(critic(b) for b in batches)

    def critic_loss(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def generator_loss(self, critic: Critic, fake: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def after_critic_step(self, critic_module: torch.nn.Module) -> None:
        """Hook run after each critic optimizer step (weight clipping lives here)."""

    def critic_reading(self, scores: torch.Tensor) -> tuple[torch.Tensor, str, tuple[float, float] | None]:
        """What the critic's raw scores mean on a picture: (values, words, fixed range or None)."""
        return scores, "critic value f(x)", None


@LOSSES.register("bce")
@dataclass
class BCELoss(GANLoss):
    """Goodfellow et al.: D classifies real vs fake. Non-saturating G loss by default; `saturating=True`
    uses the original minimax form log(1 - D(G(z))), whose gradient vanishes when D wins."""

    saturating: bool = False
    title = "BCE"
    about = ("**BCE** (Goodfellow 2014): D outputs a probability; Adam lr 2e-4, betas (0.5, 0.999), 1 D step per "
             "G step. The non-saturating G loss -log D(G(z)) keeps gradients alive when D wins.")
    settings = (Setting("saturating", False, "saturating generator loss", "BCE: train G with the original minimax loss log(1 - D(G(z))), "
                        "whose gradient vanishes when D wins (default off: the non-saturating -log D(G(z)))"),)
    defaults = OptimDefaults("adam", 2e-4, (0.5, 0.999), 1)
    variants = {"bce": ("BCE (non-saturating)", {}),
                "bce-saturating": ("BCE (saturating: log(1 - D(G(z))))", {"saturating": True})}

    def critic_loss(self, critic, real, fake):
        lr, lf = self.scores(critic, real, fake)
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

    def critic_reading(self, scores):
        return torch.sigmoid(scores), "D(x): probability of 'real'", (0.0, 1.0)


class WassersteinLoss(GANLoss):
    """The critic maximizes E[f(x)] - E[f(G(z))], the generator E[f(G(z))]; subclasses keep f Lipschitz."""

    def critic_loss(self, critic, real, fake):
        return self._wasserstein(*self.scores(critic, real, fake))

    @staticmethod
    def _wasserstein(sr: torch.Tensor, sf: torch.Tensor) -> tuple[torch.Tensor, dict]:
        fr, ff = sr.mean(), sf.mean()
        return ff - fr, {"d_real": fr.item(), "d_fake": ff.item(), "wasserstein": (fr - ff).item()}

    def generator_loss(self, critic, fake):
        ff = critic(fake).mean()
        return -ff, {"d_fake_g": ff.item()}


@LOSSES.register("wgan")
@dataclass
class WGANClipLoss(WassersteinLoss):
    """Arjovsky et al. 2017: Lipschitz by clipping every critic weight to [-c, c] after each step."""

    clip: float = 0.01
    title = "WGAN (weight clipping)"
    about = ("**WGAN, weight clipping** (Arjovsky 2017): a critic scores realness without a sigmoid; RMSprop lr "
             "5e-5; clip c = 0.01 keeps it roughly 1-Lipschitz; n_critic = 5 critic steps per G step.")
    settings = (Setting("clip", 0.01, "clip c", "WGAN: every critic weight is clipped to [-c, c] after each step, a crude "
                        "Lipschitz constraint (default 0.01)", 1e-5, 1.0),)
    defaults = OptimDefaults("rmsprop", 5e-5, (0.0, 0.0), 5)

    @torch.no_grad()
    def after_critic_step(self, critic_module):
        for p in critic_module.parameters():
            p.clamp_(-self.clip, self.clip)


@LOSSES.register("wgangp")
@dataclass
class WGANGPLoss(WassersteinLoss):
    """Gulrajani et al. 2017: a gradient penalty lambda * (||grad f(x_hat)|| - 1)^2 on random interpolates
    keeps the critic Lipschitz. The penalty is per sample, so the critic must not use BatchNorm."""

    gp_lambda: float = 10.0
    title = "WGAN-GP (gradient penalty)"
    about = ("**WGAN-GP** (Gulrajani 2017): clipping replaced by a gradient penalty, lambda = 10, on random "
             "interpolates; Adam lr 1e-4, betas (0, 0.9); n_critic = 5; no BatchNorm in the critic, since the "
             "penalty is per sample (conv critics use LayerNorm instead).")
    settings = (Setting("gp_lambda", 10.0, "gradient penalty lambda", "WGAN-GP: weight of the gradient penalty that keeps the critic "
                        "1-Lipschitz (default 10)", 0.0, 1000.0),)
    # LayerNorm, as Gulrajani et al. advise: 1,500-2,500-step pilots measured FD 106 against 254 (digits) and
    # 1,542 against 1,868 (faces) for LayerNorm against no normalisation
    critic_norm = "layer"
    defaults = OptimDefaults("adam", 1e-4, (0.0, 0.9), 5)

    def critic_loss(self, critic, real, fake):
        eps = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, generator=self.rng)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        loss, stats = self._wasserstein(*self.scores(critic, real, fake))
        # the interpolates in a pass of their own: in the joint one, the penalty's double backward would run over
        # all three batches (measured 30 % slower a step on the toy MLP)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(dim=1)
        gp = ((norm - 1) ** 2).mean()
        return loss + self.gp_lambda * gp, {**stats, "gp": gp.item(), "grad_norm_interp": norm.mean().item()}


@LOSSES.register("lsgan")
@dataclass
class LeastSquaresLoss(GANLoss):
    """Mao et al. 2017 (LSGAN), a = 0, b = c = 1: D regresses real to 1 and fake to 0; G pulls its fakes' scores
    to 1. The squared error keeps pushing samples that D already calls real but that lie far from the data,
    where the sigmoid of BCE has flattened. CycleGAN trains with it."""

    title = "LSGAN (least squares)"
    about = ("**LSGAN** (Mao 2017): D scores without a sigmoid and regresses real to 1, fake to 0; G minimises "
             "(D(G(z)) - 1)^2. Adam lr 2e-4, betas (0.5, 0.999), 1 D step per G step. Its gradient does not vanish "
             "for fakes D already calls real but that sit far from the data.")
    defaults = OptimDefaults("adam", 2e-4, (0.5, 0.999), 1)

    def critic_loss(self, critic, real, fake):
        sr, sf = self.scores(critic, real, fake)
        loss = 0.5 * ((sr - 1) ** 2).mean() + 0.5 * (sf ** 2).mean()
        return loss, {"d_real": sr.mean().item(), "d_fake": sf.mean().item()}

    def generator_loss(self, critic, fake):
        sf = critic(fake)
        return 0.5 * ((sf - 1) ** 2).mean(), {"d_fake_g": sf.mean().item()}


@LOSSES.register("hinge")
@dataclass
class HingeLoss(GANLoss):
    """Lim & Ye 2017, Miyato et al. 2018 (SNGAN), BigGAN: the critic's hinge max(0, 1 - f(x)) + max(0, 1 + f(G(z)))
    stops pushing a sample once it is past the margin; the generator maximises f(G(z))."""

    title = "Hinge"
    about = ("**Hinge** (Lim & Ye 2017; SNGAN, BigGAN): the critic is penalised only for real scores below +1 and "
             "fake scores above -1, so samples past the margin stop pulling on it; G maximises the critic's score. "
             "Adam lr 2e-4, betas (0.5, 0.999), 1 critic step per G step.")
    defaults = OptimDefaults("adam", 2e-4, (0.5, 0.999), 1)

    def critic_loss(self, critic, real, fake):
        sr, sf = self.scores(critic, real, fake)
        loss = F.relu(1 - sr).mean() + F.relu(1 + sf).mean()
        return loss, {"d_real": sr.mean().item(), "d_fake": sf.mean().item()}

    def generator_loss(self, critic, fake):
        sf = critic(fake)
        return -sf.mean(), {"d_fake_g": sf.mean().item()}


def build_loss(name: str, **params) -> GANLoss:
    """A loss by registry name with its settings (each checked against the loss's own description)."""
    cls = LOSSES.lookup(name)
    known = {s.name: s for s in cls.settings}
    unknown = set(params) - set(known)
    if unknown:
        raise ConfigError(f"loss '{name}' has no setting(s) {', '.join(sorted(unknown))}")
    return cls(**{k: known[k].check(v) for k, v in params.items()})


def playground_choices() -> dict[str, tuple[str, str, dict]]:
    """What the Playground offers: choice -> (label, registered loss, its settings)."""
    out = {}
    for name, cls in LOSSES.items():
        for choice, (label, opts) in (cls.variants or {name: (cls.title, {})}).items():
            out[choice] = (label, name, opts)
    return out


def all_settings() -> dict[str, tuple[str, Setting]]:
    """Every registered loss's settings: setting name -> (the loss that owns it, its description), in name order
    (the order of the Train tab's controls, so /train_start_custom's arguments keep their places)."""
    found = {s.name: (name, s) for name, cls in LOSSES.items() for s in cls.settings}
    return dict(sorted(found.items()))


"""Model config, the registries every variant joins, and the one generator interface."""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from explorer.errors import ConfigError
from explorer.models.conditioning import blank_condition, condition, seeded_codes
from explorer.registry import Registry


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "dcgan"                      # registry key of the generator/critic family: "dcgan", "mlp"
    z_dim: int = 64                          # input latent (z) dimensionality
    shape: tuple[int, ...] = (1, 28, 28)     # one output sample: (C, H, W) for images, (2,) for points
    num_classes: int = 0                     # one-hot class appended to z (0 = unconditional)
    width: int = 64                          # base channel count (dcgan) or hidden units (mlp)
    depth: int = 3                           # hidden layers (mlp only)
    critic_norm: str = "batch"               # "batch", "layer", "spectral" or "none" (WGAN-GP: no BatchNorm in the critic)
    cat_codes: int = 0                       # InfoGAN: size of one categorical code (0 = none)
    cont_codes: int = 0                      # InfoGAN: number of continuous codes in [-1, 1]
    class_head: bool = False                 # conditional: the critic also names the class (AC-GAN, Odena 2017)
    attributes: int = 0                      # the critic also reads this many binary attributes of a picture
                                             # (an attribute head, for attribute_match; 0: none)

    @property
    def code_dim(self) -> int:
        return self.cat_codes + self.cont_codes

    @property
    def cond_dim(self) -> int:
        """Width of everything appended to z: class one-hot plus InfoGAN codes."""
        return self.num_classes + self.code_dim

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d["shape"] = tuple(d.get("shape", cls.shape))
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown model setting(s): {', '.join(sorted(unknown))}")
        return cls(**d)


# name -> constructor(ModelConfig); each variant's module files itself with @GENERATORS.register("name")
GENERATORS = Registry("generator architecture")
CRITICS = Registry("critic architecture")
CLASSIFIERS = Registry("classifier architecture")   # name -> constructor(shape, num_outputs, width)
TRANSLATORS = Registry("translator architecture")   # name -> constructor(ModelConfig): picture in, picture out


def build_generator(cfg: ModelConfig) -> nn.Module:
    return GENERATORS.lookup(cfg.arch)(cfg)


def build_translator(cfg: ModelConfig) -> nn.Module:
    return TRANSLATORS.lookup(cfg.arch)(cfg)


def build_critic(cfg: ModelConfig) -> nn.Module:
    net = CRITICS.lookup(cfg.arch)(cfg)
    if cfg.critic_norm == "spectral":
        spectral_normalize(net)
    return net


def spectral_normalize(critic: nn.Module) -> None:
    """Spectral normalisation (Miyato et al. 2018): every conv and linear layer of the critic's body and score
    head divides its weight by its largest singular value (one power iteration per training step), so the
    critic is at most 1-Lipschitz layer by layer, with no per-batch statistics. InfoGAN's Q head is left as it
    is: it predicts codes, it does not score."""
    for part in (critic.body, critic.head):
        for m in list(part.modules()):
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                spectral_norm(m)


def build_classifier(arch: str, shape: tuple[int, ...], num_outputs: int, width: int = 32) -> nn.Module:
    return CLASSIFIERS.lookup(arch)(shape, num_outputs, width)


def attribute_head(cfg: ModelConfig, feature_dim: int) -> nn.Module | None:
    """The critic's attribute head (attribute logits from its features), or None when cfg asks for none."""
    if cfg.attributes < 0:
        raise ConfigError(f"attributes (the critic's attribute head) must be >= 0, got {cfg.attributes}")
    return nn.Sequential(nn.Flatten(), nn.Linear(feature_dim, cfg.attributes)) if cfg.attributes else None


class Critic(nn.Module):
    """Shared critic tail: subclasses build `body`/`head` and `features()`; InfoGAN adds a Q head that reads
    the same features (Chen et al. 2016: Q shares all layers with D but the last), AC-GAN a class head."""

    def _add_q_head(self, cfg: ModelConfig, feature_dim: int) -> None:
        self.q = None
        if cfg.code_dim:
            # logits of the categorical code, then the predicted means of the continuous codes
            self.q = nn.Sequential(nn.Flatten(), nn.Linear(feature_dim, 128), nn.LeakyReLU(0.2, True),
                                   nn.Linear(128, cfg.code_dim))
        self.cls = None
        if cfg.class_head:
            if not cfg.num_classes:
                raise ConfigError("a class head (AC-GAN) needs a conditional model: set num_classes")
            self.cls = nn.Sequential(nn.Flatten(), nn.Linear(feature_dim, cfg.num_classes))   # class logits
        if cfg.attributes and cfg.class_head:
            raise ConfigError("a critic has one extra head here: a class head or an attribute head, not both")
        self.attr = attribute_head(cfg, feature_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, with_q: bool = False,
                with_class: bool = False, with_attributes: bool = False, probe: bool = False):
        """The score; with_q / with_class / with_attributes: also that head's outputs. probe: the attribute head
        reads the features without teaching them (the critic's body then learns from its score alone)."""
        h = self.features(x, cond)
        score = self.head(h).flatten()
        if with_class:
            return score, self.cls(h)
        if with_attributes:
            return score, self.attr(h.detach() if probe else h)
        return (score, self.q(h)) if with_q else score


class GeneratorModel:
    """What the UI and CLI talk to: a generator net plus its names, whatever the variant."""

    def __init__(self, net: nn.Module, cfg: ModelConfig, class_names=(), attributes=(), name: str = "",
                 meta: dict | None = None):
        self.net = net.eval()
        self.cfg = cfg
        self.name = name
        self.z_dim = cfg.z_dim
        self.num_classes = cfg.num_classes
        self.class_names = tuple(class_names) or tuple(str(i) for i in range(cfg.num_classes))
        self.attributes = tuple(attributes)
        self.image_shape = tuple(cfg.shape)
        self.is_points = len(cfg.shape) == 1
        self.meta = meta or {}

    def sample_z(self, n: int, seed: int) -> torch.Tensor:
        """Reproducible latents: the same seed gives the same z on every machine."""
        z = np.random.RandomState(seed % 2**32).standard_normal((n, self.z_dim))
        return torch.from_numpy(z.astype(np.float32))

    def sample_codes(self, n: int, seed: int, cat: int | None = None) -> torch.Tensor | None:
        """InfoGAN codes: one-hot categorical (random or fixed to `cat`) then uniform continuous."""
        return seeded_codes(self.cfg, n, seed, cat)

    def _z(self, z) -> torch.Tensor:
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ConfigError(f"z must have shape (n, {self.z_dim}), got {tuple(z.shape)}")
        return z

    def generate(self, z: torch.Tensor, labels=None, codes: torch.Tensor | None = None,
                 class_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] as N x C x H x W (points: N x 2). Gradients flow to z when it requires them.
        class_weights (N x classes) in place of labels blends classes (a class-to-class morph)."""
        z = self._z(z)
        return self.net(z, condition(self.cfg, z.shape[0], labels, codes, class_weights, z.device))

    def early_features(self, z: torch.Tensor) -> torch.Tensor:
        """Activations after the net's first block, flattened, under a blank condition (GANSpace's layer)."""
        z = self._z(z)
        return self.net.early_features(z, blank_condition(self.cfg, z.shape[0], z.device))

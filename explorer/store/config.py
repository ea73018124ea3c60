"""One frozen config rebuilds a run: dataset, model, loss, optimizer, schedule. Saved in every checkpoint."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from explorer.errors import ConfigError
from explorer.models.base import ModelConfig

TASKS = ("gan", "infogan", "classifier", "encoder", "vae", "pix2pix", "cyclegan", "attngan")
TRANSLATION_TASKS = ("pix2pix", "cyclegan")


@dataclass(frozen=True)
class TrainConfig:
    task: str = "gan"                         # "gan", "infogan", "classifier", "encoder", "vae", "pix2pix", "cyclegan",
                                              # "attngan"
    dataset: str = "digits"                   # a name in explorer.data.DATASETS
    data_options: dict = field(default_factory=dict)   # e.g. {"correlation": 0.8}, {"distribution": "ring"}
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: str = "bce"                         # a name in explorer.losses.LOSSES (gan only)
    loss_options: dict = field(default_factory=dict)   # e.g. {"saturating": True}, {"clip": 0.01}
    steps: int = 2000                         # generator steps (gan) or optimizer steps (classifier)
    batch_size: int = 64
    optimizer: str | None = None              # None: the loss's default ("adam" / "rmsprop")
    lr_g: float | None = None                 # None: the loss's default
    lr_d: float | None = None
    betas: tuple[float, float] | None = None
    n_critic: int | None = None               # critic steps per generator step; None: the loss's default
    lr_decay_to: float = 1.0                  # learning rates fall linearly to this fraction at the last step
    lr_decay_start: float = 0.0               # ... starting at this fraction of the steps (CycleGAN: 0.5)
    ema_decay: float = 0.999                  # image GANs: samples are drawn from this moving average of the
                                              # generator's weights (0: the raw weights)
    info_lambda: float = 1.0                  # InfoGAN: weight of the categorical code's information term
    info_lambda_cont: float = 0.5             # InfoGAN: weight of the continuous codes' squared error
                                              # (0.5: a unit-variance Gaussian log-likelihood, as Chen et al.)
    align_codes: bool = False                 # InfoGAN on digits: at the end, turn the two continuous codes so
                                              # that c1 follows stroke slant and c2 width (training/codes.py)
    class_weight: float = 1.0                 # conditional with a class head: weight of its cross-entropy, in
                                              # the critic's loss (real pictures) and the generator's (its fakes)
    attribute_match: float = 0.0              # gan: weight of the generator's term that matches its samples'
                                              # attribute rates and pairwise correlations to the data's, as the
                                              # critic's attribute head (model.attributes) or, without one, the
                                              # frozen judge reads them (0: none)
    classifier_arch: str = "cnn"              # classifier task: registry name
    classifier_width: int = 32
    judge: str | None = None                  # classifier used by `eval` / directions (checkpoint name)
    generator: str | None = None              # encoder task: the generator it learns to invert (checkpoint name)
    pixel_weight: float = 1.0                 # encoder task: weight of the pixel term beside the error in z
    beta: float = 1.0                         # vae task: weight of the KL term (1: the ELBO; > 1: a beta-VAE)
    l1_weight: float = 100.0                  # pix2pix: weight of L1(G(A), B) beside the cGAN loss
    cycle_weight: float = 10.0                # cyclegan: weight of the cycle-consistency L1 terms
    identity_weight: float = 0.5              # cyclegan: identity L1 weight, as a fraction of cycle_weight
    pool_size: int = 50                       # cyclegan: generated pictures kept for the critics (0: none)
    critic_width: int = 64                    # pix2pix / cyclegan: the PatchGAN critics' first-layer channels
                                              # (attngan: each stage critic's)
    damsm_steps: int = 1500                   # attngan: steps that train DAMSM (text and image encoders) first
    lr_damsm: float = 2e-3                    # attngan: DAMSM's learning rate (Adam)
    damsm_weight: float = 5.0                 # attngan: weight of the DAMSM matching loss in the generator's
    kl_weight: float = 1.0                    # attngan: weight of conditioning augmentation's KL term
    mode_seeking_weight: float = 1.0          # attngan: weight of the mode-seeking term (two z's, one sentence,
                                              # two different pictures; Mao et al. 2019)
    attribute_weight: float = 0.0             # attngan: weight of the attributes taught outright: DAMSM's
                                              # read-outs (sentence: what it states; picture: the face's) and
                                              # a TAC-GAN head on the 32 x 32 critic, which asks the generator
                                              # for what its sentence states (0: none)
    seed: int = 0
    log_every: int = 10
    sample_every: int = 250
    checkpoint_every: int = 500

    def lr_factor(self, step: int) -> float:
        """The learning rates' multiplier before step `step` (0-based): 1 until lr_decay_start x steps, then
        linear down to lr_decay_to at the last step."""
        start = self.lr_decay_start * self.steps
        if step <= start:
            return 1.0
        return 1.0 - (1.0 - self.lr_decay_to) * (min(step, self.steps) - start) / (self.steps - start)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        if "model" in d:
            d["model"] = ModelConfig.from_dict(d["model"])
        if d.get("betas") is not None:
            d["betas"] = tuple(d["betas"])
        return cls(**d).validated()

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> "TrainConfig":
        if self.task not in TASKS:
            raise ConfigError(f"unknown task '{self.task}' (known: {', '.join(TASKS)})")
        for name in ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
        if self.n_critic is not None and self.n_critic <= 0:
            raise ConfigError(f"n-critic must be a positive integer, got {self.n_critic}")
        for name in ("lr_g", "lr_d"):
            v = getattr(self, name)
            if v is not None and not (0 < v < 1):
                raise ConfigError(f"{name.replace('_', '-')} must be between 0 and 1, got {v}")
        if not (0 <= self.lr_decay_to <= 1):
            raise ConfigError(f"lr-decay-to must be in [0, 1] (1 keeps the rate constant), got {self.lr_decay_to}")
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) \
                or not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema-decay must be a number in [0, 1) (0: no weight average), got {self.ema_decay!r}")
        if not (0 <= self.lr_decay_start < 1):
            raise ConfigError(f"lr-decay-start must be in [0, 1) (a fraction of the steps), got {self.lr_decay_start}")
        if isinstance(self.class_weight, bool) or not isinstance(self.class_weight, (int, float)) \
                or not 0 <= self.class_weight <= 100:
            raise ConfigError(f"class-weight must be a number from 0 to 100, got {self.class_weight!r}")
        if isinstance(self.attribute_match, bool) or not isinstance(self.attribute_match, (int, float)) \
                or not 0 <= self.attribute_match <= 1000:
            raise ConfigError(f"attribute-match must be a number from 0 to 1000, got {self.attribute_match!r}")
        if self.attribute_match and not (self.model.attributes or self.judge):
            raise ConfigError("attribute-match needs something that reads attributes: a critic with an attribute head "
                              "(the model's attributes) or a judge")
        if self.info_lambda < 0 or self.info_lambda_cont < 0:
            raise ConfigError("the InfoGAN information weights must be >= 0")
        if not isinstance(self.align_codes, bool):
            raise ConfigError(f"align-codes is on or off (true / false), got {self.align_codes!r}")
        if self.align_codes:
            from explorer.training.codes import check_alignable
            check_alignable(self)
        if self.task == "encoder" and not self.generator:
            raise ConfigError("an encoder needs the generator it inverts: set generator to a model's name")
        if self.task == "vae":
            m = self.model
            if m.arch != "dcgan" or m.num_classes or m.code_dim or len(m.shape) != 3:
                raise ConfigError("a VAE here is unconditional, with the DCGAN generator as its decoder: arch dcgan, "
                                  "no classes, no InfoGAN codes, an image dataset")
            if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or not 0 < self.beta <= 1000:
                raise ConfigError(f"beta (the KL term's weight) must be a number above 0 and at most 1000, got "
                                  f"{self.beta!r}")
        if self.task in TRANSLATION_TASKS:
            for name in ("l1_weight", "cycle_weight", "identity_weight"):
                v = getattr(self, name)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1000:
                    raise ConfigError(f"{name.replace('_', '-')} must be a number from 0 to 1000, got {v!r}")
            for name in ("pool_size", "critic_width"):
                v = getattr(self, name)
                if isinstance(v, bool) or not isinstance(v, int) or not (0 if name == "pool_size" else 1) <= v <= 1000:
                    raise ConfigError(f"{name.replace('_', '-')} must be a whole number up to 1000, got {v!r}")
            if self.model.arch not in ("unet", "resnet"):
                raise ConfigError(f"{self.task} needs a translator architecture (unet or resnet), "
                                  f"got '{self.model.arch}'")
        if self.task == "attngan":
            # a run may stop inside the DAMSM steps (and be resumed past them)
            if isinstance(self.damsm_steps, bool) or not isinstance(self.damsm_steps, int) \
                    or not 0 <= self.damsm_steps <= 10_000_000:
                raise ConfigError(f"damsm-steps must be a whole number from 0 to 10,000,000, got {self.damsm_steps!r}")
            for name, hi in (("damsm_weight", 1000), ("kl_weight", 1000), ("mode_seeking_weight", 1000),
                             ("attribute_weight", 1000), ("lr_damsm", 1)):
                v = getattr(self, name)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= hi:
                    raise ConfigError(f"{name.replace('_', '-')} must be a number from 0 to {hi}, got {v!r}")
            if self.model.arch != "attngan":
                raise ConfigError(f"the attngan task trains the attngan architecture, not '{self.model.arch}'")
        if self.model.z_dim <= 0:
            raise ConfigError(f"z-dim must be positive, got {self.model.z_dim}")
        return self

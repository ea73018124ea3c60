"""Named presets: every shipped model is made by one of these, re-runnable by anyone."""
from __future__ import annotations

from explorer.errors import ConfigError
from explorer.models.base import ModelConfig
from explorer.training.config import TrainConfig

DIGITS = (1, 28, 28)
FACES = (3, 32, 32)
TOY = (2,)


def toy_config(distribution: str, loss: str, **kw) -> TrainConfig:
    # GAN Lab-sized MLPs; z is 2-D so the generator's warp of the z-plane can be drawn
    return TrainConfig(dataset="toy2d", data_options={"distribution": distribution}, loss=loss,
                       model=ModelConfig(arch="mlp", z_dim=2, shape=TOY, width=128, depth=3,
                                         critic_norm="none"),
                       batch_size=256, steps=5000, log_every=25, sample_every=500, checkpoint_every=1000, **kw)


# WGAN-GP on 2-D points, tuned to find every mode within 5,000 steps on a laptop: a small penalty weight
# (0.1, as in Gulrajani et al.'s own toy script: lambda 10 over-smooths a critic on this scale), Adam 1e-3 with
# betas (0.5, 0.9), and learning rates falling linearly to 5% so the samples settle onto the modes.
TOY_WGANGP = dict(loss_options={"gp_lambda": 0.1}, lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.9), lr_decay_to=0.05)


PRESETS: dict[str, TrainConfig] = {
    # --- digits (MNIST 28x28) ---
    "digits-dcgan": TrainConfig(dataset="digits", model=ModelConfig(z_dim=64, shape=DIGITS), loss="bce",
                                steps=6000, judge="digits-classifier"),
    "digits-cdcgan": TrainConfig(dataset="digits", model=ModelConfig(z_dim=64, shape=DIGITS, num_classes=10),
                                 loss="bce", steps=6000, judge="digits-classifier"),
    "digits-mlpgan": TrainConfig(dataset="digits", model=ModelConfig(arch="mlp", z_dim=64, shape=DIGITS, width=256),
                                 loss="bce", steps=6000, judge="digits-classifier"),
    "digits-wgan": TrainConfig(dataset="digits", model=ModelConfig(z_dim=64, shape=DIGITS), loss="wgan",
                               steps=4000, judge="digits-classifier"),
    "digits-wgangp": TrainConfig(dataset="digits", model=ModelConfig(z_dim=64, shape=DIGITS, critic_norm="none"),
                                 loss="wgangp", steps=2000, judge="digits-classifier"),
    "digits-infogan": TrainConfig(task="infogan", dataset="digits",
                                  model=ModelConfig(z_dim=62, shape=DIGITS, cat_codes=10, cont_codes=2),
                                  loss="bce", steps=6000, judge="digits-classifier",
                                  lr_g=1e-3, lr_d=2e-4),  # Chen et al.'s rates: a faster G learns to use the codes
    # --- synthetic faces 32x32: correlated attributes (entangled) and independent ones ---
    "faces-dcgan": TrainConfig(dataset="faces", data_options={"correlation": 0.8},
                               model=ModelConfig(z_dim=64, shape=FACES), loss="bce", steps=7000,
                               judge="faces-attributes"),
    "faces-dcgan-independent": TrainConfig(dataset="faces", data_options={"correlation": 0.0},
                                           model=ModelConfig(z_dim=64, shape=FACES), loss="bce", steps=7000,
                                           judge="faces-attributes"),
    # --- your own faces / images at 64x64 (need --data-path DIR) ---
    "celeba-dcgan": TrainConfig(dataset="celeba", data_options={"image_size": 64},
                                model=ModelConfig(z_dim=100, shape=(3, 64, 64)), loss="bce", steps=10000),
    "folder-dcgan": TrainConfig(dataset="folder", data_options={"image_size": 64},
                                model=ModelConfig(z_dim=100, shape=(3, 64, 64)), loss="bce", steps=10000),
    # --- 2-D toys: mode collapse made countable ---
    "toy-8gaussians-bce": toy_config("8gaussians", "bce"),
    "toy-8gaussians-wgan": toy_config("8gaussians", "wgan"),
    "toy-8gaussians-wgangp": toy_config("8gaussians", "wgangp", **TOY_WGANGP),
    "toy-25gaussians-bce": toy_config("25gaussians", "bce"),
    "toy-25gaussians-wgangp": toy_config("25gaussians", "wgangp", **TOY_WGANGP),
    "toy-ring-wgangp": toy_config("ring", "wgangp", **TOY_WGANGP),
    "toy-swissroll-wgangp": toy_config("swissroll", "wgangp", **TOY_WGANGP),
    # --- judges ---
    "digits-classifier": TrainConfig(task="classifier", dataset="digits", model=ModelConfig(shape=DIGITS),
                                     steps=3000, batch_size=128, optimizer="adam", lr_d=1e-3, betas=(0.9, 0.999),
                                     sample_every=1000, checkpoint_every=1000),
    # trained on independent attributes, so it cannot learn one attribute as a shortcut for another
    "faces-attributes": TrainConfig(task="classifier", dataset="faces", data_options={"correlation": 0.0},
                                    model=ModelConfig(shape=FACES), steps=3000, batch_size=128, optimizer="adam",
                                    lr_d=1e-3, betas=(0.9, 0.999), sample_every=1000, checkpoint_every=1000),
    "faces-attributes-eval": TrainConfig(task="classifier", dataset="faces", data_options={"correlation": 0.0},
                                         model=ModelConfig(shape=FACES), classifier_arch="cnn-bn", seed=1,
                                         steps=3000, batch_size=128, optimizer="adam", lr_d=1e-3,
                                         betas=(0.9, 0.999), sample_every=1000, checkpoint_every=1000),
}


def get_preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(sorted(PRESETS))})")
    return PRESETS[name]

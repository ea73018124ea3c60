"""The Train tab's expected duration: a few real steps of the run's own task, timed on stand-in data."""
import pytest

from explorer.errors import ConfigError
from explorer.models import ModelConfig
from explorer.store.config import TrainConfig
from explorer.training import estimate
from explorer.training.presets import custom_config

SMALL = dict(steps=100, batch_size=4, log_every=1)


@pytest.mark.parametrize("cfg", [
    TrainConfig(model=ModelConfig(z_dim=8, width=8, shape=(1, 28, 28), num_classes=10), **SMALL),
    TrainConfig(task="infogan", model=ModelConfig(arch="infogan", z_dim=8, shape=(1, 28, 28), cat_codes=10,
                                                  cont_codes=2), **SMALL),
    TrainConfig(dataset="toy2d", model=ModelConfig(arch="mlp", z_dim=2, shape=(2,), width=16, critic_norm="none"),
                loss="wgangp", **SMALL),
    TrainConfig(task="vae", model=ModelConfig(z_dim=8, width=8, shape=(3, 32, 32)), **SMALL),
    TrainConfig(task="classifier", model=ModelConfig(shape=(1, 28, 28)), classifier_width=8, **SMALL),
    TrainConfig(task="pix2pix", dataset="faces-sketch", model=ModelConfig(arch="unet", width=8, shape=(3, 32, 32)),
                critic_width=8, **SMALL),
    TrainConfig(task="cyclegan", dataset="faces-domains", loss="lsgan", critic_width=8,
                model=ModelConfig(arch="resnet", width=8, depth=1, shape=(3, 32, 32)), **SMALL),
    # attribute_match, read by the shipped faces judge (faces-dcgan-independent's recipe) or by an attribute head
    TrainConfig(dataset="faces", model=ModelConfig(z_dim=8, width=8, shape=(3, 32, 32)), judge="faces-attributes",
                attribute_match=4.0, **SMALL),
    TrainConfig(dataset="faces", model=ModelConfig(z_dim=8, width=8, shape=(3, 32, 32), attributes=7),
                attribute_match=4.0, **SMALL),
], ids=["cgan", "infogan", "points-wgangp", "vae", "classifier", "pix2pix", "cyclegan", "attribute-judge",
        "attribute-head"])
def test_every_task_is_timed_on_stand_in_data(cfg):
    per_step = estimate.seconds_per_step(cfg)
    assert 0 < per_step < 30
    total = estimate.expected_seconds(cfg)
    assert total == pytest.approx(100 * per_step + estimate.SAVE_S * 1)     # 100 steps, one checkpoint
    longer = estimate.expected_seconds(cfg.replace(steps=1000))       # the same rate: measured once per setting
    assert longer == pytest.approx(1000 * per_step + estimate.SAVE_S * 2)


def test_a_setting_is_measured_once_and_the_global_random_state_is_left_alone(monkeypatch):
    import torch
    cfg = TrainConfig(model=ModelConfig(z_dim=8, width=8, shape=(1, 28, 28)), steps=10, batch_size=4, seed=7)
    state = torch.get_rng_state()
    first = estimate.seconds_per_step(cfg)
    assert torch.equal(torch.get_rng_state(), state)
    monkeypatch.setattr(estimate.TASKS, "lookup", lambda name: pytest.fail("measured twice"))
    assert estimate.seconds_per_step(cfg.replace(steps=5000)) == first


def test_a_heavier_recipe_takes_longer_a_step():
    bce = custom_config("toy-8gaussians-bce", batch_size=64)
    # 10 critic steps with a penalty: about 10x a BCE step here, so a burst of other work (CI runs two test files
    # at once) during one of the two measurements cannot reverse the comparison
    gp = custom_config("toy-8gaussians-bce", batch_size=64, loss="wgangp", n_critic=10)
    assert estimate.seconds_per_step(gp) > 2 * estimate.seconds_per_step(bce)


def test_settings_that_cannot_run_are_refused_before_timing():
    with pytest.raises(ConfigError):
        estimate.seconds_per_step(TrainConfig(model=ModelConfig(z_dim=8, shape=(1, 30, 30)), steps=5))

import pytest
import torch

from explorer.errors import ConfigError
from explorer.losses import LOSSES, build_loss


def linear_critic(scale: float):
    w = torch.zeros(4)
    w[0] = scale
    return lambda x: x.flatten(1) @ w


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_reports_its_stats(name):
    loss = build_loss(name)
    real, fake = torch.randn(8, 4) + 1, torch.randn(8, 4, requires_grad=True)
    critic = torch.nn.Linear(4, 1)
    def f(x):
        return critic(x).flatten()
    ld, stats = loss.critic_loss(f, real, fake.detach())
    lg, gstats = loss.generator_loss(f, fake)
    assert ld.ndim == 0 and lg.ndim == 0
    assert {"d_real", "d_fake"} <= set(stats) and "d_fake_g" in gstats
    lg.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert loss.defaults.n_critic >= 1


def test_defaults_follow_the_papers():
    assert build_loss("wgan").defaults.optimizer == "rmsprop" and build_loss("wgan").defaults.lr == 5e-5
    assert build_loss("wgan").clip == 0.01 and build_loss("wgan").defaults.n_critic == 5
    gp = build_loss("wgangp")
    assert gp.gp_lambda == 10 and gp.defaults.betas == (0.0, 0.9) and gp.defaults.lr == 1e-4
    assert build_loss("bce").saturating is False


def test_saturating_bce_gradient_vanishes_when_the_critic_wins():
    """With D(G(z)) ~ 0, log(1 - D) is flat: the minimax generator loss gives almost no gradient."""
    fake = torch.full((16, 1), 0.0, requires_grad=True)
    def critic(x):
        return x.flatten() * 1.0 - 8.0  # logits around -8: D(G(z)) ~ 3e-4
    grads = {}
    for sat in (False, True):
        fake.grad = None
        loss, _ = build_loss("bce", saturating=sat).generator_loss(critic, fake)
        loss.backward()
        grads[sat] = fake.grad.abs().mean().item()
    assert grads[True] < grads[False] / 100


def test_bce_stats_are_probabilities():
    _, stats = build_loss("bce").critic_loss(lambda x: x.flatten() * 50, torch.ones(4, 1), -torch.ones(4, 1))
    assert stats["d_real"] > 0.99 and stats["d_fake"] < 0.01


def test_weight_clipping_clamps_every_parameter():
    critic = torch.nn.Linear(4, 1)
    torch.nn.init.uniform_(critic.weight, -1, 1)
    build_loss("wgan", clip=0.05).after_critic_step(critic)
    assert all(p.abs().max() <= 0.05 for p in critic.parameters())


def test_wasserstein_estimate_is_mean_real_minus_mean_fake():
    _, stats = build_loss("wgan").critic_loss(lambda x: x.flatten(), torch.full((4, 1), 3.0), torch.full((4, 1), 1.0))
    assert stats["wasserstein"] == pytest.approx(2.0)


def test_gradient_penalty_is_zero_for_unit_slope_and_grows_with_slope():
    real, fake = torch.randn(64, 4), torch.randn(64, 4)
    loss = build_loss("wgangp")
    _, s1 = loss.critic_loss(linear_critic(1.0), real, fake)
    _, s3 = loss.critic_loss(linear_critic(3.0), real, fake)
    assert s1["gp"] == pytest.approx(0.0, abs=1e-6)
    assert s3["gp"] == pytest.approx(4.0, rel=1e-4) and s3["grad_norm_interp"] == pytest.approx(3.0, rel=1e-4)


def test_bad_loss_names_and_settings():
    with pytest.raises(ConfigError, match="unknown loss 'focal'"):
        build_loss("focal")
    with pytest.raises(ConfigError, match="no setting"):
        build_loss("bce", clip=0.1)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_describes_itself(name):
    """Title, paragraph, settings that match its fields and are checked, optimiser defaults: what the Train tab,
    the Playground, `train --loss` and the cards read."""
    from dataclasses import fields
    cls = LOSSES[name]
    assert cls.name == name and cls.title and cls.about
    assert {f.name for f in fields(cls)} == {s.name for s in cls.settings}
    for s in cls.settings:
        assert s.check(s.default) == s.default and s.label and s.help
        if not isinstance(s.default, bool):
            with pytest.raises(ConfigError, match=s.flag[2:]):
                build_loss(name, **{s.name: s.high * 2 + 1})
    assert cls.defaults.optimizer in ("adam", "rmsprop") and cls.defaults.lr > 0
    assert cls.critic_norm in (None, "layer", "none")


def test_the_front_ends_read_the_registry():
    from explorer.cli import build_parser
    from explorer.losses import playground_choices
    from explorer.training.presets import custom_config
    from explorer.ui.train import LOSS_SETTINGS
    train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for name, cls in LOSSES.items():
        assert any(base == name for _, base, _ in playground_choices().values())
        assert f"{name}:{cls.title}".replace(" ", "") in "".join(train_help.split())   # wrapped anywhere
        assert custom_config("digits-dcgan", loss=name).loss == name
        for s in cls.settings:
            assert s.flag in train_help and LOSS_SETTINGS[s.name][0] == name
    with pytest.raises(ConfigError, match="unknown loss 'nope'"):
        custom_config("digits-dcgan", loss="nope")


def test_one_registry_helper_refuses_unknown_names_and_doubles():
    from explorer.registry import Registry
    table = Registry("widget")

    @table.register("a")
    class A:
        pass
    assert table.lookup("a") is A and A.name == "a" and "a" in table
    with pytest.raises(ConfigError, match=r"unknown widget 'b' \(known: a\)"):
        table.lookup("b")
    with pytest.raises(ValueError, match="registered twice"):
        table.register("a")(A)


def test_least_squares_loss_is_the_papers():
    """LSGAN with a = 0, b = c = 1: D's loss is 0 exactly when real scores 1 and fake 0; G's when fake scores 1."""
    lsgan = build_loss("lsgan")
    real, fake = torch.ones(6, 1), -torch.ones(6, 1)
    ld, stats = lsgan.critic_loss(lambda x: (x.flatten() + 1) / 2, real, fake)   # real -> 1, fake -> 0
    assert ld.item() == 0.0 and stats["d_real"] == 1.0 and stats["d_fake"] == 0.0
    ld, _ = lsgan.critic_loss(lambda x: torch.zeros(x.shape[0]), real, fake)     # scores 0 everywhere
    assert ld.item() == pytest.approx(0.5)
    lg, _ = lsgan.generator_loss(lambda x: torch.full((x.shape[0],), 3.0), fake)
    assert lg.item() == pytest.approx(0.5 * 4)


def test_hinge_loss_stops_at_the_margin():
    hinge = build_loss("hinge")
    real, fake = torch.ones(4, 1), -torch.ones(4, 1)
    past, _ = hinge.critic_loss(lambda x: 2 * x.flatten(), real, fake)     # real scores 2, fake -2: past the margin
    assert past.item() == 0.0
    inside, _ = hinge.critic_loss(lambda x: 0.5 * x.flatten(), real, fake)  # 0.5 and -0.5: half a margin each
    assert inside.item() == pytest.approx(1.0)
    lg, stats = hinge.generator_loss(lambda x: torch.full((x.shape[0],), 0.25), fake)
    assert lg.item() == pytest.approx(-0.25) and stats["d_fake_g"] == pytest.approx(0.25)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_scoring_together_gives_the_loss_and_gradients_of_separate_passes(name):
    """A per-sample critic (LayerNorm) scores real and fake in one pass: same loss, same critic gradients, and one
    forward call fewer."""
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.LayerNorm(16), torch.nn.LeakyReLU(0.2),
                                 torch.nn.Linear(16, 1))
    real, fake = torch.randn(8, 4) + 1, torch.randn(8, 4)
    results = {}
    for together in (False, True):
        loss = build_loss(name)
        loss.score_together = together
        loss.rng = torch.Generator().manual_seed(3)      # WGAN-GP's interpolates: the same draws both times
        calls = []
        def scorer(x):
            calls.append(len(x))
            return critic(x).flatten()
        critic.zero_grad()
        ld, _ = loss.critic_loss(scorer, real, fake)
        ld.backward()
        results[together] = (ld.item(), [p.grad.clone() for p in critic.parameters()], calls)
    (l0, g0, c0), (l1, g1, c1) = results[False], results[True]
    assert l1 == pytest.approx(l0, rel=1e-5, abs=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g0, g1))
    assert len(c1) == len(c0) - 1 and 16 in c1


def test_a_batchnorm_critic_scores_real_and_fake_apart():
    """BatchNorm normalises over the batch: real and fake in one pass would read each other's statistics, so a
    task whose critic has BatchNorm (DCGAN) keeps them apart; a LayerNorm critic (WGAN-GP's) scores them together."""
    from explorer.training.distributed import DistInfo
    from explorer.training.presets import PRESETS
    from explorer.data import load_dataset
    from explorer.training.tasks import GANTask

    data = load_dataset("toy2d", distribution="8gaussians")   # the nets are built, not trained: any data will do
    bn = GANTask(PRESETS["digits-dcgan"], data, DistInfo())
    ln = GANTask(PRESETS["digits-wgangp"], data, DistInfo())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in bn.D.modules()) and not bn.loss.score_together
    assert ln.loss.score_together
    x = torch.randn(4, 1, 28, 28)
    apart = torch.cat([bn.D(x[:2]), bn.D(x[2:])])
    assert not torch.allclose(bn.D(x), apart, atol=1e-4)       # why: together, the scores would change

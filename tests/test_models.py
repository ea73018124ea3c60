import pytest
import torch

from explorer.errors import ConfigError
from explorer.models import (CLASSIFIERS, CRITICS, GENERATORS, GeneratorModel, ModelConfig, build_classifier,
                             build_critic, build_generator)

SHAPES = {"dcgan": [(1, 28, 28), (3, 32, 32), (3, 64, 64)], "mlp": [(2,), (1, 28, 28)], "infogan": [(1, 28, 28)]}


def configs():
    for arch in GENERATORS:
        for shape in SHAPES[arch]:
            for classes in ((0,) if arch == "infogan" else (0, 10)):
                yield ModelConfig(arch=arch, shape=shape, num_classes=classes, z_dim=16, width=16)


@pytest.mark.parametrize("cfg", list(configs()), ids=lambda c: f"{c.arch}-{'x'.join(map(str, c.shape))}-c{c.num_classes}")
def test_generator_and_critic_shapes(cfg):
    g, d = build_generator(cfg), build_critic(cfg)
    model = GeneratorModel(g, cfg)
    z = model.sample_z(3, seed=5)
    x = model.generate(z, labels=torch.tensor([0, 1, 2]) if cfg.num_classes else None)
    assert x.shape == (3, *cfg.shape)
    if len(cfg.shape) == 3:
        assert x.min() >= -1 and x.max() <= 1
    cond = torch.eye(10)[:3] if cfg.num_classes else None
    assert d(x, cond).shape == (3,)


def test_every_variant_is_registered():
    assert set(GENERATORS) == set(CRITICS) >= {"dcgan", "mlp"}
    assert {"cnn", "cnn-bn"} <= set(CLASSIFIERS)


def test_sample_z_is_reproducible_and_seed_dependent():
    cfg = ModelConfig(z_dim=8)
    m = GeneratorModel(build_generator(cfg), cfg)
    assert torch.equal(m.sample_z(4, 1), m.sample_z(4, 1))
    assert not torch.equal(m.sample_z(4, 1), m.sample_z(4, 2))
    assert torch.equal(m.sample_z(4, 1)[:2], m.sample_z(2, 1))


def test_conditional_labels_change_the_image_and_are_checked():
    cfg = ModelConfig(z_dim=8, num_classes=10, width=8)
    m = GeneratorModel(build_generator(cfg), cfg)
    z = m.sample_z(1, 0)
    with torch.no_grad():
        assert not torch.allclose(m.generate(z, 1), m.generate(z, 7))
    with pytest.raises(ConfigError, match="conditional"):
        m.generate(z)
    with pytest.raises(ConfigError, match="0..9"):
        m.generate(z, 10)


def test_wrong_z_size_is_refused():
    cfg = ModelConfig(z_dim=8, width=8)
    m = GeneratorModel(build_generator(cfg), cfg)
    with pytest.raises(ConfigError, match=r"\(n, 8\)"):
        m.generate(torch.zeros(1, 9))


def test_wgangp_critic_has_no_batchnorm():
    d = build_critic(ModelConfig(critic_norm="none"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in build_critic(ModelConfig()).modules())


@pytest.mark.parametrize("arch", ["dcgan", "infogan"])
def test_critic_norms_batch_layer_none(arch):
    """'layer' and 'none' score each sample on its own (what a per-sample gradient penalty needs); 'batch' does not."""
    shape = (1, 28, 28)
    kinds = {"batch": torch.nn.BatchNorm2d, "layer": torch.nn.GroupNorm, "none": None}
    torch.manual_seed(0)
    x = torch.randn(6, *shape)
    for kind, module in kinds.items():
        d = build_critic(ModelConfig(arch=arch, shape=shape, width=8, critic_norm=kind)).train()
        types = {type(m) for m in d.modules()}
        assert (module in types) if module else not types & {torch.nn.BatchNorm2d, torch.nn.GroupNorm,
                                                             torch.nn.BatchNorm1d, torch.nn.LayerNorm}
        halves = torch.cat([d(x[:3]), d(x[3:])])   # the same samples scored in two smaller batches
        assert torch.allclose(d(x), halves, atol=1e-5) == (kind != "batch")
    with pytest.raises(ConfigError, match="unknown critic_norm 'group'"):
        build_critic(ModelConfig(arch=arch, shape=shape, width=8, critic_norm="group"))


def test_dcgan_guidelines():
    g = build_generator(ModelConfig())
    mods = list(g.modules())
    assert isinstance(mods[-1], torch.nn.Tanh)
    assert any(isinstance(m, torch.nn.ReLU) for m in mods)
    d = build_critic(ModelConfig())
    first_two = list(d.body)[:2]
    assert isinstance(first_two[1], torch.nn.LeakyReLU) and first_two[1].negative_slope == 0.2  # no BN on input


@pytest.mark.parametrize("arch", sorted(CLASSIFIERS))
def test_classifiers(arch):
    net = build_classifier(arch, (3, 32, 32), 7, width=8).eval()
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 7)
    assert net.features(x).shape == (2, net.feature_dim)


def test_unknown_architecture():
    with pytest.raises(ConfigError, match="unknown generator architecture 'nope'"):
        build_generator(ModelConfig(arch="nope"))
    with pytest.raises(ConfigError, match="28, 32 or 64"):
        build_generator(ModelConfig(shape=(3, 48, 48)))


def test_infogans_own_networks_follow_the_paper():
    cfg = ModelConfig(arch="infogan", z_dim=62, cat_codes=10, cont_codes=2)
    g, d = build_generator(cfg), build_critic(cfg)
    model = GeneratorModel(g, cfg)
    x = model.generate(model.sample_z(4, 0), codes=model.sample_codes(4, 0))
    assert x.shape == (4, 1, 28, 28)
    score, q = d(x, with_q=True)
    assert score.shape == (4,) and q.shape == (4, 12)
    assert d.body[6].in_features == 128 * 7 * 7 and d.body[6].out_features == 1024   # FC 1024 in D
    assert isinstance(d.q[1], torch.nn.BatchNorm1d) and g.fc[0].out_features == 1024  # BN in Q, FC 1024 in G
    with pytest.raises(ConfigError, match="28x28 grey"):
        build_generator(ModelConfig(arch="infogan", shape=(3, 32, 32)))
    with pytest.raises(ConfigError, match="unconditional"):
        build_critic(ModelConfig(arch="infogan", num_classes=10))


def test_one_condition_layout_for_training_serving_and_directions():
    """Class one-hot then codes, built by models.conditioning for every caller; a blend of classes is rows of
    class weights; every generator names the early layer GANSpace reads."""
    import torch.nn.functional as F
    from explorer.models.conditioning import blank_condition, codes_from_controls, condition
    cfg = ModelConfig(z_dim=8, width=8, num_classes=3, cat_codes=4, cont_codes=2)
    codes = codes_from_controls(cfg, 2, [0.5]).repeat(2, 1)
    cond = condition(cfg, 2, labels=torch.tensor([1, 2]), codes=codes)
    assert cond.tolist() == [[0, 1, 0, 0, 0, 1, 0, 0.5, 0], [0, 0, 1, 0, 0, 1, 0, 0.5, 0]]
    half = condition(cfg, 1, codes=codes[:1], class_weights=torch.tensor([[0.5, 0.5, 0.0]]))
    assert half[0, :3].tolist() == [0.5, 0.5, 0.0]
    assert blank_condition(cfg, 2).abs().sum() == 0 and blank_condition(ModelConfig(), 2) is None
    with pytest.raises(ConfigError, match="class weights must have shape"):
        condition(cfg, 2, class_weights=torch.ones(2, 5))
    for arch in sorted(GENERATORS):
        shape = (2,) if arch == "mlp" else (1, 28, 28)
        c = ModelConfig(arch=arch, z_dim=8, width=8, num_classes=3, shape=shape)
        m = GeneratorModel(build_generator(c).eval(), c)
        z = m.sample_z(2, 0)
        assert torch.equal(m.generate(z, torch.tensor([0, 2])), m.net(z, F.one_hot(torch.tensor([0, 2]), 3).float()))
        assert m.early_features(z).shape[0] == 2

"""The one training loop: every loss, exact resume, the NaN guard, stop callbacks, classifiers."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import explorer.data
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import ConfigError, TrainingDiverged
from explorer.losses import LOSSES, WassersteinLoss
from explorer.models import ModelConfig
from explorer.store.checkpoint import load_generator
from explorer.store.config import TrainConfig
from explorer.training.loop import resume_config, train


def fake_digits(name, root=None, split="train", **options):
    """400 random 'digits' with labels: enough to exercise every code path in a second."""
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    x = (torch.rand(400, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    y = torch.randint(0, 10, (400,), generator=g)
    return TensorData(x, y, None, DatasetInfo("digits", "image", (1, 28, 28), tuple("0123456789")))


@pytest.fixture(autouse=True)
def tiny_data(monkeypatch):
    monkeypatch.setattr(explorer.data, "load_dataset", fake_digits, raising=False)


def tiny(**kw) -> TrainConfig:
    base = dict(dataset="digits", model=ModelConfig(z_dim=8, width=8, shape=(1, 28, 28)), steps=6, batch_size=16,
                log_every=1, sample_every=3, checkpoint_every=3)
    base.update(kw)
    return TrainConfig(**base)


def losses(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_trains_and_writes_a_loadable_checkpoint(tmp_path, loss):
    crit = LOSSES[loss].critic_norm or "batch"   # what the loss asks of its critic
    cfg = tiny(loss=loss, model=ModelConfig(z_dim=8, width=8, critic_norm=crit))
    result = train(cfg, tmp_path / "run", progress=False)
    assert result["state"] == "finished" and result["step"] == 6
    log = losses(tmp_path / "run")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert all("loss_d" in r and "grad_norm_d" in r and "grad_norm_g" in r for r in log)
    if issubclass(LOSSES[loss], WassersteinLoss):
        assert "wasserstein" in log[-1]
    if loss == "wgan":  # clipping held after every critic step
        crit = load_file(tmp_path / "run" / "critic.safetensors")
        assert max(v.abs().max().item() for k, v in crit.items() if "running" not in k and "num_batches" not in k) <= 0.01
    m = load_generator(tmp_path / "run")
    assert m.generate(m.sample_z(2, 0)).shape == (2, 1, 28, 28)
    for f in ("config.json", "generator.safetensors", "critic.safetensors", "state.pt", "samples.png", "README.md"):
        assert (tmp_path / "run" / f).is_file(), f
    assert (tmp_path / "run" / "samples" / "step_000003.png").is_file()


@pytest.mark.parametrize("kind", ["bce-conditional", "wgangp", "classifier"])
def test_resume_continues_exactly(tmp_path, kind):
    if kind == "classifier":
        cfg = tiny(task="classifier", steps=8)
    elif kind == "wgangp":
        cfg = tiny(loss="wgangp", steps=8, model=ModelConfig(z_dim=8, width=8, critic_norm="none"))
    else:
        cfg = tiny(steps=8, model=ModelConfig(z_dim=8, width=8, num_classes=10))
    train(cfg, tmp_path / "straight", progress=False)
    train(cfg.replace(steps=5), tmp_path / "split", progress=False)
    train(resume_config(tmp_path / "split", steps=8), tmp_path / "split", resume=True, progress=False)
    a, b = losses(tmp_path / "straight"), losses(tmp_path / "split")
    key = "loss" if kind == "classifier" else "loss_g"
    assert [r[key] for r in a] == [r[key] for r in b] and len(b) == 8
    for name in ("classifier",) if kind == "classifier" else ("generator", "generator_raw", "critic"):
        wa = load_file(tmp_path / "straight" / f"{name}.safetensors")
        wb = load_file(tmp_path / "split" / f"{name}.safetensors")
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name


def test_an_image_gan_is_drawn_from_its_weights_moving_average(tmp_path):
    train(tiny(steps=6, ema_decay=0.5), tmp_path / "run", progress=False)
    avg, raw = load_file(tmp_path / "run" / "generator.safetensors"), load_file(tmp_path / "run" / "generator_raw.safetensors")
    assert set(avg) == set(raw)
    weights = [k for k in raw if k.endswith("weight")]
    assert any(not torch.equal(avg[k], raw[k]) for k in weights)     # the average lags the trained weights
    m = load_generator(tmp_path / "run")                              # every reader draws with the average
    assert all(torch.equal(v, avg[k]) for k, v in m.net.state_dict().items())
    # BatchNorm statistics are the average's own, measured on its samples, not the raw weights' statistics
    stats = [k for k in raw if k.endswith("running_mean")]
    assert stats and any(not torch.allclose(avg[k], raw[k]) for k in stats)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["ema_decay"] == 0.5


def test_without_averaging_there_is_one_generator(tmp_path):
    train(tiny(steps=3, ema_decay=0.0), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "generator.safetensors").is_file()
    assert not (tmp_path / "run" / "generator_raw.safetensors").exists()


def test_the_average_follows_its_warm_up_and_leaves_the_random_state_alone():
    from explorer.training.ema import WeightAverage
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = WeightAverage(net, decay=0.99)
    start = ema.avg[0].weight.clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update()            # first update: d = min(0.99, 1/10) = 0.1, so the average moves 90 % of the way
    assert torch.allclose(ema.avg[0].weight, start + 0.9)
    for _ in range(2000):   # then d reaches 0.99 and the average settles on constant weights
        ema.update()
    assert torch.allclose(ema.avg[0].weight, net[0].weight, atol=1e-5)
    state = torch.get_rng_state()
    ema.refresh(lambda n: (torch.randn(n, 3) * 5 + 2,), batches=4, batch=64)
    assert torch.equal(torch.get_rng_state(), state)
    assert ema.avg[1].running_mean.abs().mean() > 1.0     # measured on its inputs (mean about 2 x weights)
    assert not ema.avg.training and ema.avg[1].momentum == 0.1


def test_a_run_saved_before_averaging_resumes_with_an_average(tmp_path):
    cfg = tiny(steps=3, ema_decay=0.0)
    train(cfg, tmp_path / "run", progress=False)
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    del conf["train"]["ema_decay"]                       # as such a run's config.json reads
    (tmp_path / "run" / "config.json").write_text(json.dumps(conf))
    again = resume_config(tmp_path / "run", steps=5)
    assert again.ema_decay == 0.0                        # it was trained without one
    train(again.replace(ema_decay=0.9), tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run" / "generator_raw.safetensors").is_file()


def test_a_decaying_learning_rate_resumes_on_its_schedule(tmp_path):
    cfg = tiny(loss="wgangp", steps=8, lr_decay_to=0.25, model=ModelConfig(z_dim=8, width=8, critic_norm="none"))
    assert [cfg.lr_factor(s) for s in (0, 4, 8, 100)] == [1.0, 0.625, 0.25, 0.25]
    train(cfg, tmp_path / "straight", progress=False)
    train(cfg, tmp_path / "split", progress=False, callback=lambda e: e["step"] < 5)   # interrupted at step 5
    train(resume_config(tmp_path / "split"), tmp_path / "split", resume=True, progress=False)
    a, b = losses(tmp_path / "straight"), losses(tmp_path / "split")
    assert [r["loss_g"] for r in a] == [r["loss_g"] for r in b] and len(b) == 8
    st = torch.load(tmp_path / "split" / "state.pt", weights_only=True)
    assert st["optim"]["g"]["param_groups"][0]["lr"] == pytest.approx(1e-4 * cfg.lr_factor(7))  # the last step's
    const = tiny(loss="wgangp", steps=8, model=ModelConfig(z_dim=8, width=8, critic_norm="none"))
    train(const, tmp_path / "const", progress=False)
    assert [r["loss_g"] for r in losses(tmp_path / "const")] != [r["loss_g"] for r in a]


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from explorer.training import tasks
    real_step = tasks.GANTask.step

    def poisoned(self, next_batch, measure):
        if self.opt_g.state and len(losses_seen) == 4:  # at step 5, wreck the generator
            with torch.no_grad():
                for p in self.G.parameters():
                    p.fill_(float("nan"))
        out = real_step(self, next_batch, measure)
        losses_seen.append(out["loss_g"])
        return out

    losses_seen = []
    monkeypatch.setattr(tasks.GANTask, "step", poisoned)
    before = None
    with pytest.raises(TrainingDiverged, match=r"step 5.*last good checkpoint \(step 3\)"):
        train(tiny(steps=10), tmp_path / "run", progress=False)
    before = load_file(tmp_path / "run" / "generator.safetensors")
    assert all(torch.isfinite(v).all() for v in before.values() if v.is_floating_point())
    assert json.loads((tmp_path / "run" / "config.json").read_text())["provenance"]["step"] == 3
    load_generator(tmp_path / "run")  # still loadable


def test_callback_can_stop_a_run_and_it_is_saved(tmp_path):
    events = []

    def cb(ev):
        events.append(ev)
        return ev["step"] < 4

    result = train(tiny(steps=20), tmp_path / "run", progress=False, callback=cb)
    assert result["state"] == "stopped" and result["step"] == 4
    assert events[-1]["state"] == "stopped"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["provenance"]["step"] == 4
    assert any("samples" in e and e["samples"] is not None for e in events)  # a preview image reached the UI hook


def test_classifier_task_reports_test_accuracy(tmp_path):
    result = train(tiny(task="classifier", steps=4), tmp_path / "clf", progress=False)
    conf = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert conf["kind"] == "classifier" and 0 <= conf["metrics"]["test_accuracy"] <= 1
    assert "test_accuracy" in result["metrics"]


def test_refuses_to_overwrite_and_to_resume_nothing(tmp_path):
    train(tiny(steps=2), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="already holds a model"):
        train(tiny(steps=2), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="no resumable run"):
        train(tiny(steps=2), tmp_path / "empty", resume=True, progress=False)
    with pytest.raises(ConfigError, match="already at step 2"):
        train(resume_config(tmp_path / "run"), tmp_path / "run", resume=True, progress=False)


@pytest.mark.parametrize("field,value", [("steps", 0), ("steps", -5), ("batch_size", 0), ("lr_g", 5.0),
                                         ("n_critic", 0), ("lr_decay_to", -0.1), ("lr_decay_to", 1.5),
                                         ("info_lambda", -1.0), ("info_lambda_cont", -0.1), ("ema_decay", 1.0),
                                         ("ema_decay", -0.1), ("ema_decay", True), ("ema_decay", "0.9"),
                                         ("class_weight", -1.0), ("class_weight", float("nan"))])
def test_invalid_settings(field, value):
    with pytest.raises(ConfigError):
        tiny(**{field: value}).validated()


def test_shape_mismatch_between_model_and_data(tmp_path):
    with pytest.raises(ConfigError, match="shape"):
        train(tiny(model=ModelConfig(z_dim=8, width=8, shape=(3, 32, 32))), tmp_path / "x", progress=False)


@pytest.mark.parametrize("arch", ["dcgan", "infogan"])
def test_infogan_trains_its_q_head_and_ships_codes(tmp_path, arch):
    cfg = tiny(task="infogan", model=ModelConfig(arch=arch, z_dim=8, width=8, cat_codes=10, cont_codes=2))
    train(cfg, tmp_path / "info", progress=False)
    log = losses(tmp_path / "info")
    assert all("info_g" in r for r in log)
    m = load_generator(tmp_path / "info")
    assert m.cfg.cat_codes == 10 and m.cfg.cont_codes == 2
    z = m.sample_z(1, 0).repeat(2, 1)
    with torch.no_grad():  # the categorical code reaches the picture
        a = m.generate(z, None, m.sample_codes(2, 0, cat=1))
        b = m.generate(z, None, m.sample_codes(2, 0, cat=7))
    assert not torch.allclose(a, b)
    from explorer.cli import main
    assert main(["sample", "--model", str(tmp_path / "info"), "--sweep-code", "1", "--out", str(tmp_path / "g.png")]) == 0
    from PIL import Image
    w, h = Image.open(tmp_path / "g.png").size
    assert h > w  # 10 categorical codes down, 9 values of the continuous code across
    assert main(["sample", "--model", str(tmp_path / "info"), "--sweep-code", "5", "--out", str(tmp_path / "h.png")]) == 2
    assert main(["sample", "--model", str(tmp_path / "info"), "--code", "12", "--out", str(tmp_path / "h.png")]) == 2
    with pytest.raises(ConfigError, match="codes"):
        train(tiny(task="infogan"), tmp_path / "nocodes", progress=False)


def test_infogan_q_head_learns_with_the_generator_and_the_body_with_the_gan_loss():
    from explorer.training import distributed as D
    from explorer.training.loop import BatchStream
    from explorer.training.tasks import TASKS
    cfg = tiny(task="infogan", model=ModelConfig(arch="infogan", z_dim=8, cat_codes=10, cont_codes=2))
    data = fake_digits("digits")
    task = TASKS["infogan"](cfg, data, D.setup("cpu"))
    params = lambda opt: {id(p) for g in opt.param_groups for p in g["params"]}  # noqa: E731
    q, body = {id(p) for p in task.D.q.parameters()}, {id(p) for p in task.D.body.parameters()}
    assert q <= params(task.opt_g) and not q & params(task.opt_d)
    assert body <= params(task.opt_d) and not body & params(task.opt_g)
    before = {k: v.clone() for k, v in task.D.state_dict().items()}
    stats = task.step(BatchStream(data, cfg.batch_size, 0, 0, 1), measure=True)
    after = task.D.state_dict()
    assert stats["info_g"] > 0
    assert not torch.equal(before["q.0.weight"], after["q.0.weight"])       # Q moved with the generator's step
    assert not torch.equal(before["body.0.weight"], after["body.0.weight"])  # the body with the critic's


def test_the_code_turn_recovers_slant_and_width_from_mixed_codes():
    from explorer.training.codes import fit_turn
    g = torch.Generator().manual_seed(0)
    cont = (torch.rand(3000, 2, generator=g) * 2 - 1).numpy()
    mixed = cont @ torch.tensor([[0.6, -0.8], [0.8, 0.6]]).numpy()     # each code half slant, half width
    noise = torch.randn(3000, 2, generator=g).numpy() * 0.2
    fit = fit_turn(cont, mixed[:, 0] + noise[:, 0], -mixed[:, 1] + noise[:, 1])
    assert fit["before"]["c1_slant_r"] < 0.7 and abs(fit["before"]["c2_width_r"]) < 0.7
    assert fit["slant_r"] > 0.9 and fit["width_r"] > 0.9
    u = cont @ fit["rotation"]                      # the new codes: c1 rises with slant, c2 with width
    assert np.corrcoef(u[:, 0], mixed[:, 0])[0, 1] > 0.9 and np.corrcoef(u[:, 1], -mixed[:, 1])[0, 1] > 0.9
    flat = fit_turn(cont, mixed[:, 0], np.zeros(3000))       # strokes that never vary: nothing to turn towards
    assert "skipped" in flat and np.array_equal(flat["rotation"], np.eye(2))


@pytest.mark.parametrize("arch", ["dcgan", "infogan"])
def test_turning_the_codes_keeps_every_picture_and_the_q_head_reads_the_new_codes(arch):
    from explorer.models import build_critic, build_generator
    from explorer.training.codes import first_layer, turn_codes
    mc = ModelConfig(arch=arch, z_dim=8, width=8, shape=(1, 28, 28), cat_codes=10, cont_codes=2)
    G, Dn = build_generator(mc).eval(), build_critic(mc).eval()
    t = 0.7
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ np.diag([1.0, -1.0])
    z = torch.randn(5, 8)
    cat = torch.nn.functional.one_hot(torch.arange(5), 10).float()
    u = torch.rand(5, 2) * 2 - 1
    c = u @ torch.as_tensor(rot, dtype=torch.float32).T                   # c = R u
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        before, q_before = G(z, torch.cat([cat, c], 1)), Dn(x, with_q=True)[1]
        q_out = [m for m in Dn.q.modules() if isinstance(m, torch.nn.Linear)][-1]
        turn_codes(first_layer(G), q_out, rot, start=8 + 10)
        after, q_after = G(z, torch.cat([cat, u], 1)), Dn(x, with_q=True)[1]
    assert torch.allclose(before, after, atol=1e-5)                        # fed u, it draws what it drew fed R u
    assert torch.allclose(q_after[:, :10], q_before[:, :10])               # the categorical reading is untouched
    assert torch.allclose(q_after[:, 10:], q_before[:, 10:] @ torch.as_tensor(rot, dtype=torch.float32), atol=1e-5)


def test_a_run_with_align_codes_turns_its_codes_at_the_end_and_says_so(tmp_path):
    from explorer.training.presets import PRESETS, custom_config
    mc = ModelConfig(arch="infogan", z_dim=8, width=8, cat_codes=10, cont_codes=2)
    train(tiny(task="infogan", model=mc, align_codes=True, steps=3), tmp_path / "run", progress=False)
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    fit = conf["metrics"]["code_alignment"]
    assert 0 <= fit["angle_deg"] < 180 and 0 <= fit["slant_r"] <= 1 and 0 <= fit["width_r"] <= 1
    assert conf["train"]["align_codes"] is True
    assert PRESETS["digits-infogan"].align_codes                           # the shipped model's recipe turns them
    assert not custom_config("digits-infogan", dataset="folder", data_path="/tmp/x").align_codes
    for bad in (dict(task="gan", model=ModelConfig(z_dim=8, width=8)),           # no codes to turn
                dict(task="infogan", model=replace(mc, cont_codes=1)),            # one code: nothing to turn
                dict(task="infogan", model=replace(mc, shape=(3, 32, 32)))):      # colour pictures: no strokes
        with pytest.raises(ConfigError, match="align-codes"):
            tiny(align_codes=True, **bad).validated()
    with pytest.raises(ConfigError, match="align-codes"):
        tiny(task="infogan", model=mc, align_codes="yes").validated()


def test_a_spectrally_normalised_critic_trains_with_the_hinge_loss_and_stays_1_lipschitz(tmp_path):
    from explorer.training.presets import custom_config
    cfg = custom_config("faces-dcgan", loss="hinge", critic_norm="spectral", ema_decay=0.9)
    assert (cfg.loss, cfg.model.critic_norm, cfg.ema_decay) == ("hinge", "spectral", 0.9)
    cfg = tiny(loss="hinge", steps=4, model=ModelConfig(z_dim=8, width=8, critic_norm="spectral"))
    train(cfg, tmp_path / "run", progress=False)
    _, critic = load_generator(tmp_path / "run", with_critic=True)     # the saved critic rebuilds with its norm
    layers = [m for m in critic.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    for m in layers:    # each layer's weight, as the critic uses it, has largest singular value about 1
        assert torch.linalg.matrix_norm(m.weight.flatten(1), ord=2) < 1.1
    assert critic(torch.zeros(2, 1, 28, 28)).shape == (2,)


def test_a_critic_with_a_class_head_learns_to_name_classes_and_teaches_the_generator(tmp_path):
    cfg = tiny(steps=4, model=ModelConfig(z_dim=8, width=8, num_classes=10, class_head=True), class_weight=2.0)
    train(cfg, tmp_path / "run", progress=False)
    log = losses(tmp_path / "run")
    # cross-entropy over 10 classes starts near log 10 on both sides
    assert all(0 < r["class_d"] < 5 and 0 < r["class_g"] < 5 for r in log)
    _, critic = load_generator(tmp_path / "run", with_critic=True)
    score, logits = critic(torch.zeros(3, 1, 28, 28), torch.eye(10)[:3], with_class=True)
    assert score.shape == (3,) and logits.shape == (3, 10)
    plain = tiny(steps=2, model=ModelConfig(z_dim=8, width=8, num_classes=10))
    train(plain, tmp_path / "plain", progress=False)
    assert "class_d" not in losses(tmp_path / "plain")[-1]
    with pytest.raises(ConfigError, match="needs a conditional model"):
        train(tiny(model=ModelConfig(z_dim=8, width=8, class_head=True)), tmp_path / "bad", progress=False)


def attribute_digits(name, root=None, split="train", **options):
    """fake_digits with three independent binary attributes, for a critic's attribute head to read."""
    data = fake_digits(name, root, split)
    g = torch.Generator().manual_seed(2)
    return TensorData(data.x, data.y, (torch.rand(len(data), 3, generator=g) < 0.4).float(), data.info)


def with_attribute_head(**kw) -> TrainConfig:
    return tiny(model=ModelConfig(z_dim=8, width=8, attributes=3), attribute_match=5.0, **kw)


def test_the_attribute_term_charges_a_generator_that_ties_independent_attributes():
    from explorer.training.tasks import GANTask
    g = torch.Generator().manual_seed(0)
    real = (torch.rand(4000, 3, generator=g) < 0.5).float() * 0.8 + 0.1     # independent, as the head reads them
    task = GANTask.__new__(GANTask)
    task.real_attr = GANTask._attribute_stats(real)

    def gap(logits):
        task.fake_attr = None           # a fresh moving average: the gaps of this batch alone
        return task._attribute_match(logits)[1]
    own = torch.randn(4000, 3, generator=g) * 3
    tied = own.clone()
    tied[:, 1] = tied[:, 0]                                                 # attribute 1 always with attribute 0
    assert gap(own) < 0.01
    assert gap(tied) > 0.9                                                  # a correlation of 1 where the data has 0
    assert gap(own - 3) > 0.1                                               # independent, but every rate too low
    # the term's slope pulls the tied pair apart: a small step against it lowers their correlation
    tied.requires_grad_(True)
    task.fake_attr = None
    term, _ = task._attribute_match(tied)
    term.backward()
    assert tied.grad[:, :2].abs().sum() > 0
    assert gap(tied.detach() - 1e3 * tied.grad) < gap(tied.detach())
    # the gap is measured on a moving average: one odd batch moves it by a twentieth
    task.fake_attr = None
    task._attribute_match(own)
    assert task._attribute_match(tied.detach())[1] < 0.1


def test_a_critic_with_an_attribute_head_reads_attributes_and_its_term_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(explorer.data, "load_dataset", attribute_digits, raising=False)
    cfg = with_attribute_head(steps=6)
    train(cfg, tmp_path / "straight", progress=False)
    log = losses(tmp_path / "straight")
    # soft targets (0.1 / 0.9): the head's cross-entropy stays above their own entropy, about 0.33 nats
    assert all(0.3 < r["attributes_d"] < 1.5 for r in log)
    assert all(r["attribute_gap_g"] >= 0 for r in log)
    summary = json.loads((tmp_path / "straight" / "config.json").read_text())["summary"]
    assert "attribute matching x 5" in summary          # the model picker and the card say the term was on
    _, critic = load_generator(tmp_path / "straight", with_critic=True)
    score, logits = critic(torch.zeros(2, 1, 28, 28), with_attributes=True)
    assert score.shape == (2,) and logits.shape == (2, 3)
    # the real pictures' moving statistics are part of the run: a resumed run continues exactly
    train(cfg.replace(steps=4), tmp_path / "split", progress=False)
    train(resume_config(tmp_path / "split", steps=6), tmp_path / "split", resume=True, progress=False)
    assert [r["loss_g"] for r in log] == [r["loss_g"] for r in losses(tmp_path / "split")]
    off = tiny(steps=2, model=ModelConfig(z_dim=8, width=8, attributes=3))    # a head, no term: it only reads
    train(off, tmp_path / "off", progress=False)
    assert "attributes_d" in losses(tmp_path / "off")[-1] and "attribute_gap_g" not in losses(tmp_path / "off")[-1]
    info_net = with_attribute_head(steps=2).replace(model=ModelConfig(arch="infogan", z_dim=8, attributes=3))
    train(info_net, tmp_path / "infogan-net", progress=False)                # InfoGAN's MNIST critic has the head too
    assert losses(tmp_path / "infogan-net")[-1]["attribute_gap_g"] >= 0


def attribute_pictures(name, root=None, split="train", **options):
    """400 random pictures with three binary attributes and no classes, as a judge of attributes learns them."""
    data = attribute_digits(name, root, split)
    return TensorData(data.x, None, data.attrs, DatasetInfo("digits", "image", (1, 28, 28), (), ("A", "B", "C")))


def test_without_an_attribute_head_the_term_reads_the_frozen_judge(tmp_path, monkeypatch):
    monkeypatch.setattr(explorer.data, "load_dataset", attribute_pictures, raising=False)
    train(tiny(task="classifier", steps=3), tmp_path / "judge", progress=False)
    judge_before = load_file(tmp_path / "judge" / "classifier.safetensors")
    cfg = tiny(steps=4, attribute_match=10.0, judge=str(tmp_path / "judge"))
    train(cfg, tmp_path / "gan", progress=False)
    log = losses(tmp_path / "gan")
    assert all(r["attribute_gap_g"] > 0 for r in log) and "attributes_d" not in log[-1]
    state = torch.load(tmp_path / "gan" / "state.pt", weights_only=True)["task"]
    assert len(state["real_attributes"]) == 2 and state["real_attributes"][0].shape == (3,)
    judge_after = load_file(tmp_path / "judge" / "classifier.safetensors")     # frozen: read, never trained
    assert all(torch.equal(judge_before[k], judge_after[k]) for k in judge_before)
    # a judge of other attributes, or of classes, cannot price these pictures' attributes
    monkeypatch.setattr(explorer.data, "load_dataset", fake_digits, raising=False)
    train(tiny(task="classifier", steps=2), tmp_path / "digit-judge", progress=False)
    monkeypatch.setattr(explorer.data, "load_dataset", attribute_pictures, raising=False)
    with pytest.raises(ConfigError, match="reads no attributes; 'digits' has A, B, C"):
        train(tiny(attribute_match=10.0, judge=str(tmp_path / "digit-judge")), tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="attribute head or the run's judge: set one"):
        train(tiny(attribute_match=10.0), tmp_path / "bad", progress=False)


@pytest.mark.parametrize("change, message", [
    (dict(attribute_match=-1.0), "attribute-match must be a number from 0 to 1000"),
    (dict(attribute_match="5"), "attribute-match must be a number from 0 to 1000"),
    (dict(attribute_match=5.0, model=ModelConfig(z_dim=8, width=8)), "needs something that reads attributes"),
])
def test_bad_attribute_settings_are_refused_before_training(change, message):
    with pytest.raises(ConfigError, match=message):
        tiny(**change).validated()


def test_an_attribute_head_must_fit_the_data(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="reads 3 attributes; 'digits' has 0 .set attributes to 0."):
        train(with_attribute_head(), tmp_path / "none", progress=False)      # digits carry no attributes
    monkeypatch.setattr(explorer.data, "load_dataset", attribute_digits, raising=False)
    with pytest.raises(ConfigError, match="reads 5 attributes; 'digits' has 3"):
        train(tiny(model=ModelConfig(z_dim=8, width=8, attributes=5)), tmp_path / "five", progress=False)
    with pytest.raises(ConfigError, match="a class head or an attribute head, not both"):
        train(tiny(model=ModelConfig(z_dim=8, width=8, attributes=3, num_classes=10, class_head=True)),
              tmp_path / "both", progress=False)
    with pytest.raises(ConfigError, match="must be >= 0"):
        train(tiny(model=ModelConfig(z_dim=8, width=8, attributes=-1)), tmp_path / "neg", progress=False)
    assert not any((tmp_path / d).exists() and any((tmp_path / d).iterdir()) for d in ("none", "five", "both", "neg"))


def test_the_attribute_term_is_set_by_hand_only_where_a_preset_has_it():
    from explorer.training.presets import custom_config
    assert custom_config("faces-dcgan-independent").attribute_match == 4            # read by the preset's judge
    assert custom_config("faces-dcgan-independent", attribute_match=0).attribute_match == 0
    assert custom_config("faces-dcgan-independent", attribute_match=12).attribute_match == 12
    with pytest.raises(ConfigError, match="preset 'digits-dcgan' has none"):
        custom_config("digits-dcgan", attribute_match=5)
    with pytest.raises(ConfigError, match="attribute-match must be a number from 0 to 1000"):
        custom_config("faces-dcgan-independent", attribute_match=1e6)
    # on other pictures the judge would read attributes they do not have: the preset trains without the term
    other = custom_config("faces-dcgan-independent", dataset="folder", data_path="/tmp/faces")
    assert (other.model.attributes, other.attribute_match) == (0, 0)
    with pytest.raises(ConfigError, match="attribute-match reads the faces data's attributes; on 'folder'"):
        custom_config("faces-dcgan-independent", dataset="folder", data_path="/tmp/faces", attribute_match=5)
    assert custom_config("faces-dcgan-independent", correlation=0.3).attribute_match == 4     # the same data, other correlation


def test_a_preset_changed_by_hand_keeps_what_was_not_touched():
    from explorer.training.presets import PRESETS, custom_config
    cfg = custom_config("digits-dcgan", loss="wgangp", gp_lambda=5, n_critic=3, z_dim=16, batch_size=32)
    assert (cfg.loss, cfg.loss_options, cfg.n_critic, cfg.model.z_dim, cfg.batch_size) == ("wgangp", {"gp_lambda": 5.0},
                                                                                           3, 16, 32)
    assert cfg.model.critic_norm == "layer"            # the penalty is per sample: BatchNorm leaves the critic
    assert custom_config("faces-dcgan", loss="wgangp").model.critic_norm == "layer"
    assert custom_config("toy-8gaussians-bce", loss="wgangp").model.critic_norm == "none"   # MLP: bare, as before
    # a new loss brings this net's tuning for it where a preset has one (digits-wgangp: the same net), the user's
    # own choices first; else the loss's defaults (no preset tunes faces-dcgan's net for WGAN-GP)
    assert (cfg.lr_g, cfg.lr_d, cfg.betas) == (2e-4, 2e-4, (0.5, 0.9))
    assert custom_config("digits-dcgan", loss="wgangp").n_critic == 2            # not the textbook 5
    assert custom_config("digits-dcgan", loss="wgangp", arch="dcgan").n_critic is None   # another net: defaults
    plain = custom_config("faces-dcgan", loss="wgangp")
    assert (plain.n_critic, plain.lr_g, plain.betas) == (None, None, None)
    assert custom_config("toy-8gaussians-bce", loss="wgangp", lr=3e-4).lr_g == 3e-4
    same = custom_config("digits-infogan", steps=10)
    assert same == PRESETS["digits-infogan"].replace(steps=10)   # nothing else moves (lr_g 1e-3, lr_d 2e-4)
    assert custom_config("toy-8gaussians-wgangp", loss="bce", saturating=True).loss_options == {"saturating": True}
    assert custom_config("digits-dcgan", dataset="fashion").dataset == "fashion"
    faces = custom_config("faces-dcgan", correlation=0.3)
    assert faces.data_options == {"correlation": 0.3}
    assert custom_config("celeba-dcgan", dataset="folder", data_path="/x").data_options == {"image_size": 64,
                                                                                            "path": "/x"}


@pytest.mark.parametrize("preset, change, fragment", [
    ("digits-dcgan", {"clip": 0.05}, "clip is a setting of the wgan loss, not of bce"),
    ("toy-8gaussians-wgan", {"gp_lambda": 1}, "gp-lambda is a setting of the wgangp loss"),
    ("digits-classifier", {"z_dim": 8}, "trains a classifier: z_dim apply to GANs only"),
    ("digits-dcgan", {"data_path": "/tmp"}, "takes no folder path"),
    ("digits-dcgan", {"correlation": 0.5}, "no attribute correlation"),
    ("digits-dcgan", {"z_dim": 0}, "z-dim must be a whole number from 1"),
    ("digits-dcgan", {"n_critic": 2.5}, "n-critic must be a whole number"),
    ("digits-dcgan", {"loss": "focal"}, "unknown loss 'focal'"),
    ("toy-ring-wgangp", {"arch": "dcgan"}, "2-D points need the MLP"),
    ("digits-dcgan", {"dataset": "cifar"}, "unknown dataset 'cifar'"),
    ("digits-dcgan", {"lr": 2.0}, "learning rate must be a number from 1e-07 to 0.1"),
    ("digits-dcgan", {"critic_norm": "instance"}, "critic-norm must be one of batch, layer, spectral, none"),
    ("digits-wgangp", {"critic_norm": "batch"}, "needs a per-sample critic"),
    ("faces-pix2pix", {"critic_norm": "spectral"}, "critic_norm apply to GANs only"),
    ("digits-dcgan", {"ema_decay": 1.0}, "ema-decay must be a number from 0 to 0.99999"),
    ("digits-dcgan", {"ema_decay": float("nan")}, "ema-decay must be a number"),
])
def test_bad_changes_to_a_preset_are_refused_clearly(preset, change, fragment):
    from explorer.training.presets import custom_config
    with pytest.raises(ConfigError, match=fragment):
        custom_config(preset, **change)


def test_a_run_shorter_than_the_preview_interval_still_reports_its_final_samples(tmp_path):
    events = []
    train(tiny(steps=2, sample_every=500), tmp_path / "short", progress=False,
          callback=lambda ev: events.append(ev) or True)
    assert events[-1]["state"] == "finished" and events[-1]["samples"] is not None   # the Train tab shows it
    assert all(e.get("samples") is None for e in events[:-1])                      # no preview came before


def test_a_save_killed_between_its_moves_is_undone_and_resumes_exactly(tmp_path, monkeypatch):
    """Death right after a save moved the new weights in (beside the old state.pt): resuming first
    puts the previous checkpoint back whole, and the run still ends on the unbroken run's weights. The same
    for the very first save (nothing to put back: its files are taken out)."""
    import os
    from explorer.store import checkpoint as C

    class Killed(BaseException):
        pass

    cfg = tiny(steps=8, checkpoint_every=4)
    train(cfg, tmp_path / "straight", progress=False)
    real_replace = os.replace

    def dies_after(name):
        def replace(src, dst):
            done = real_replace(src, dst)
            moving_in = ".saving-" in str(src) and ".saving-" not in str(dst)    # a staged file moving in
            if moving_in and os.path.basename(dst) == name:
                raise Killed                           # right after the new weights went in
            return done
        return replace

    for run, die_at_save in (("torn", 2), ("torn-first", 1)):
        out, saves = tmp_path / run, [0]
        real_save = C.save_checkpoint

        def counting_save(*a, **k):
            saves[0] += 1
            if saves[0] == die_at_save:
                monkeypatch.setattr(C.os, "replace", dies_after("generator.safetensors"))
            try:
                return real_save(*a, **k)
            finally:
                monkeypatch.setattr(C.os, "replace", real_replace)

        monkeypatch.setattr("explorer.training.loop.save_checkpoint", counting_save)
        with pytest.raises(Killed):
            train(cfg, out, progress=False)
        monkeypatch.setattr("explorer.training.loop.save_checkpoint", real_save)
        assert (out / C.PREVIOUS).is_dir()                 # the torn save left its undo behind
        if die_at_save == 1:   # nothing to resume: the torn first save's files are taken out again
            assert C.recover_torn_save(out) and not (out / "state.pt").exists()
            continue
        step_before = 4
        train(resume_config(out, steps=8), out, resume=True, progress=False)
        assert not (out / C.PREVIOUS).exists()
        a, b = load_file(tmp_path / "straight" / "generator.safetensors"), load_file(out / "generator.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a), f"resumed from a mixed checkpoint (step {step_before})"


KILLABLE = """
import sys
from pathlib import Path
from explorer.training.loop import resume_config, train
from explorer.training.presets import get_preset
out, resume = Path(sys.argv[1]), sys.argv[2] == "1"
cfg = get_preset("toy-8gaussians-bce").replace(steps=300, checkpoint_every=15, log_every=5, sample_every=100)
print("ready", flush=True)
train(resume_config(out) if resume else cfg, out, resume=resume, progress=False)
"""


@pytest.mark.slow
def test_killed_at_random_moments_it_always_resumes_to_the_unbroken_result(tmp_path):
    """kill -9 at ten random moments (saves included, a save every 15 steps): after each kill the folder loads,
    and resuming each time ends on exactly the weights of a run never interrupted."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    from explorer.store.checkpoint import load_state
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}

    def saved_at(out):
        try:
            return (out / "state.pt").stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def run(out, resume, kill_after=None):
        """Run to the end, or until the run has saved once more and then `kill_after` seconds have passed: each
        kill falls at a random phase of the save cycle (saves included) and every life makes progress, however
        slow the machine is today."""
        before = saved_at(out)
        p = subprocess.Popen([sys.executable, "-c", KILLABLE, str(out), "1" if resume else "0"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        t0 = time.perf_counter()
        if kill_after is None:
            assert p.wait(120) == 0, p.stderr.read()
            return time.perf_counter() - t0
        while saved_at(out) == before and p.poll() is None and time.perf_counter() - t0 < 120:
            time.sleep(0.002)
        time.sleep(kill_after)
        p.send_signal(signal.SIGKILL)
        p.wait(30)

    took = run(tmp_path / "unbroken", False)           # how long a whole run lasts: 20 save cycles
    out, rng, kills, resumed = tmp_path / "killed", random.Random(7), 0, 0
    while kills < 10:
        started = (out / "state.pt").is_file()
        resumed += started
        if started and load_state(out / "state.pt")["step"] == 300:
            break                                              # it finished between two kills
        run(out, started, kill_after=rng.uniform(0.0, 1.5) * took / 20)
        kills += 1
        if (out / "state.pt").is_file():                       # whatever moment it died at, what is there loads
            load_generator(out)
            assert load_state(out / "state.pt")["step"] % 15 == 0
    if load_state(out / "state.pt")["step"] < 300:
        run(out, True)
    a, b = load_file(tmp_path / "unbroken" / "generator.safetensors"), load_file(out / "generator.safetensors")
    assert kills >= 5 and resumed >= 3, (kills, resumed)     # killed mid-run, resumed from checkpoints, often
    assert all(torch.equal(a[k], b[k]) for k in a)

"""The VAE in the one loop: its terms, its checkpoint (decoder as a generator, encoder beside it), exact resume,
its eval figures (ELBO, reconstruction, disentanglement against the true factors) and its refusals."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.errors import ConfigError
from explorer.models import ModelConfig
from explorer.store.checkpoint import load_encoder, load_generator
from explorer.store.config import TrainConfig
from explorer.training.loop import resume_config, train

ROOT = Path(__file__).resolve().parents[1]
FACES = (3, 32, 32)


def tiny_vae(**kw) -> TrainConfig:
    """A VAE on 96 rendered faces (the renderer draws them: no data files needed), a few steps."""
    base = dict(task="vae", dataset="faces", data_options={"n": 96, "correlation": 0.0},
                model=ModelConfig(z_dim=8, width=8, shape=FACES), steps=6, batch_size=16, log_every=1,
                sample_every=3, checkpoint_every=3, lr_g=1e-3)
    base.update(kw)
    return TrainConfig(**base)


def logged(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_a_vae_trains_and_its_decoder_is_a_generator_with_its_encoder_beside_it(tmp_path):
    train(tiny_vae(beta=4.0), tmp_path / "vae", data_root=tmp_path, progress=False)
    rows = logged(tmp_path / "vae")
    assert len(rows) == 6
    for r in rows:     # loss = reconstruction + beta x KL; the ELBO is minus (reconstruction + KL)
        assert r["kl"] >= 0 and r["reconstruction"] > 0
        assert r["loss"] == pytest.approx(r["reconstruction"] + 4.0 * r["kl"], rel=1e-4)
        assert r["elbo"] == pytest.approx(-(r["reconstruction"] + r["kl"]), rel=1e-4)
    conf = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert conf["kind"] == "vae" and conf["summary"].startswith("beta-VAE (beta 4)")
    assert conf["encoder"]["logvar"] is True and (tmp_path / "vae" / "encoder.safetensors").is_file()
    card = (tmp_path / "vae" / "README.md").read_text()
    assert "VAE's own encoder" in card and "reconstruction + 4 x KL" in card
    model = load_generator(tmp_path / "vae")
    with torch.no_grad():
        img = model.generate(model.sample_z(2, 0))
    assert img.shape == (2, *FACES) and img.abs().max() <= 1
    enc = load_encoder(model)
    parts = enc.split(enc(img))
    assert parts["z"].shape == (2, 8) and parts["logvar"].shape == (2, 8)


def test_a_vae_resumes_exactly(tmp_path):
    cfg = tiny_vae(steps=8)
    train(cfg, tmp_path / "straight", data_root=tmp_path, progress=False)
    train(cfg.replace(steps=5), tmp_path / "split", data_root=tmp_path, progress=False)
    train(resume_config(tmp_path / "split", steps=8), tmp_path / "split", data_root=tmp_path, resume=True,
          progress=False)
    a, b = logged(tmp_path / "straight"), logged(tmp_path / "split")
    assert [r["loss"] for r in a] == [r["loss"] for r in b] and len(b) == 8
    from safetensors.torch import load_file
    for name in ("generator", "encoder"):
        wa = load_file(tmp_path / "straight" / f"{name}.safetensors")
        wb = load_file(tmp_path / "split" / f"{name}.safetensors")
        assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_the_explorer_draws_a_vae_like_any_generator(tmp_path):
    """Listed by the model cache, drawn by the renderer (what Explore and /render call), walked by Interpolate,
    steered by Directions, and inverted from its encoder's mean (a search that never does worse)."""
    import shutil
    from explorer.services.directions import DirectionStudio
    from explorer.services.inversion import Inverter
    from explorer.services.pixels import Renderer
    root = tmp_path / "ckpt"
    train(tiny_vae(judge="faces-attributes"), root / "faces-vae", data_root=tmp_path, progress=False)
    shutil.copytree(ROOT / "checkpoints" / "faces-attributes", root / "faces-attributes")
    r = Renderer(root)
    assert [m["name"] for m in r.models.refresh()] == ["faces-vae"]
    img = r.image("faces-vae", [0.0] * 8, None, None, [])
    assert img.size == (32, 32)
    studio = DirectionStudio(r.models, root)
    assert studio.supports("faces-vae")
    strip, table, _, _ = studio.edits("faces-vae", "Smiling", ["gradient", "sefa"], 2.0, [1, 2])
    assert strip.width > 0 and {row["method"] for row in table} == {"original", "gradient", "sefa"}
    got = Inverter(r.models, root).invert("faces-vae", img, steps=10)
    assert got["note"] is None                     # its own encoder gives the first guess
    assert got["result"].error <= got["result"].guess_error


def test_eval_reports_the_elbo_reconstruction_and_disentanglement_against_true_factors(tmp_path):
    from explorer.metrics.evaluate import evaluate_generator
    train(tiny_vae(), tmp_path / "v", data_root=tmp_path, progress=False)
    model = load_generator(tmp_path / "v")
    out = evaluate_generator(model, ROOT / "checkpoints", data_root=tmp_path, n=64)
    assert out["elbo_nats_per_image"] == pytest.approx(-(out["reconstruction_nats"] + out["kl_nats"]), abs=2e-3)
    assert out["kl_nats"] >= 0 and out["reconstruction_mse"] > 0
    assert out["sharpness"]["samples"] >= 0 and out["sharpness"]["data"] > 0
    d = out["disentanglement"]
    assert d["source"].startswith("encoder means of")
    assert set(d["per_factor"]) == set(model.attributes) and 0 <= d["mig"] <= 1 and 0 <= d["sap"] <= 1
    # a GAN's latent is scored on its samples, labelled by the eval judge (not the one directions use)
    model.meta = {**model.meta, "kind": "gan"}
    as_gan = evaluate_generator(model, ROOT / "checkpoints", data_root=tmp_path, n=64)
    assert "elbo_nats_per_image" not in as_gan
    assert as_gan["disentanglement"]["source"].endswith("attributes by faces-attributes-eval")
    from explorer.metrics.evaluate import latent_disentanglement
    torch.manual_seed(0)    # a judge whose verdicts vary over these samples (a barely trained model's all look alike):
    linear = torch.nn.Linear(3 * 32 * 32, 7)    # a random linear score, split at its median

    def judge(x):
        s = linear(x.flatten(1))
        return s - s.median(0).values
    model.meta = {**model.meta, "kind": "gan"}
    g = latent_disentanglement(model, judge, None, None, list(model.attributes))
    assert g["source"].startswith("z of 2000 samples") and 0 <= g["dci_disentanglement"] <= 1
    silent = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 7))
    torch.nn.init.zeros_(silent[1].weight), torch.nn.init.constant_(silent[1].bias, -1.0)
    assert "no factor varies" in latent_disentanglement(model, silent, None, None, list(model.attributes))["not_scored"]


@pytest.mark.parametrize("change, fragment", [
    (dict(beta=0.0), "beta .* must be a number above 0"),
    (dict(beta=float("nan")), "beta .* must be a number above 0"),
    (dict(beta=True), "beta .* must be a number above 0"),
    (dict(model=ModelConfig(z_dim=8, width=8, shape=FACES, num_classes=10)), "a VAE here is unconditional"),
    (dict(model=ModelConfig(arch="mlp", z_dim=8, shape=FACES)), "DCGAN generator as its decoder"),
])
def test_bad_vae_settings_are_refused_clearly(change, fragment):
    with pytest.raises(ConfigError, match=fragment):
        tiny_vae(**change).validated()


@pytest.mark.parametrize("preset, change, fragment", [
    ("digits-vae", {"loss": "wgangp"}, "trains a VAE: loss apply to GANs only"),
    ("digits-vae", {"beta": 0}, "beta must be a number from 0.01"),
    ("digits-dcgan", {"beta": 4}, "beta weighs a VAE's KL term"),
])
def test_bad_changes_to_a_vae_preset_are_refused_clearly(preset, change, fragment):
    from explorer.training.presets import custom_config
    with pytest.raises(ConfigError, match=fragment):
        custom_config(preset, **change)


def test_a_vae_preset_takes_beta_and_z_dim():
    from explorer.training.presets import custom_config
    cfg = custom_config("faces-vae", beta=6, z_dim=10)
    assert cfg.beta == 6 and cfg.model.z_dim == 10 and cfg.task == "vae"
    assert np.isclose(custom_config("faces-betavae").beta, 4.0)

"""Image-to-image translation: the rendered pairs and domains, users' folders, the U-Net / ResNet / PatchGAN nets,
pix2pix and CycleGAN in the one loop (resumed exactly), eval, the service, the CLI and their bad inputs."""
import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import assert_one_line_error, run_cli
from explorer.data import load_dataset
from explorer.data.faces import ATTRIBUTES, render_faces, sample_attributes
from explorer.errors import ConfigError, DataError, ExplorerError
from explorer.models import ModelConfig, build_translator
from explorer.models.translation import PatchCritic
from explorer.store.checkpoint import load_state, load_translator
from explorer.store.config import TrainConfig
from explorer.training.loop import resume_config, train
from ui_helpers import make_faces, make_translators

FACES = (3, 32, 32)


# ---------- data ----------

def test_a_sketch_is_the_same_face_as_a_line_drawing():
    attrs = sample_attributes(40, 0.0, 3)
    colour, sketch = render_faces(attrs, 32, 3), render_faces(attrs, 32, 3, sketch=True)
    assert sketch.shape == colour.shape and sketch.dtype == np.uint8
    grey = sketch.astype(float).mean(1)                         # N x H x W
    assert (grey > 240).mean() > 0.4 and (grey < 100).mean() > 0.03   # white paper, black lines
    assert np.abs(sketch[:, 0] - sketch[:, 1].astype(int)).max() <= 1  # no colour: grey levels only
    # the drawing follows the face: the same attributes and nuisance give the same drawing, others another one
    np.testing.assert_array_equal(sketch, render_faces(attrs, 32, 3, sketch=True))
    assert not np.array_equal(sketch, render_faces(attrs, 32, 4, sketch=True))
    # what outlines alone could not carry is shaded: dark hair is grey, blond hair stays white
    long_dark, long_blond = attrs.copy(), attrs.copy()
    long_dark[:, [4, 5]], long_blond[:, [4, 5]] = (1, 0), (1, 1)
    dark, blond = (render_faces(a, 32, 3, sketch=True).astype(float).mean() for a in (long_dark, long_blond))
    assert dark < blond - 5
    # and sunglasses are drawn in black over the eyes
    off, on = attrs.copy(), attrs.copy()
    off[:, 0], on[:, 0] = 0, 1
    eyes = slice(12, 17)
    d_off, d_on = (render_faces(a, 32, 3, sketch=True)[:, :, eyes].astype(float).mean() for a in (off, on))
    assert d_on < d_off - 20


def test_faces_sketch_pairs_every_face_with_its_drawing(tmp_path):
    data = load_dataset("faces-sketch", root=tmp_path, n=24)
    faces = load_dataset("faces", root=tmp_path, n=24)
    assert data.info.kind == "paired" and data.domain_names == ("sketch", "face") and len(data) == 24
    b, y, attrs, a = data.get_batch(torch.arange(6))
    assert a.shape == b.shape == (6, *FACES) and a.min() >= -1 and b.max() <= 1
    torch.testing.assert_close(b, faces.get_batch(torch.arange(6))[0])        # B: the faces dataset's faces
    torch.testing.assert_close(attrs, faces.attrs[:6])
    assert (a.mean(1) > 0.9).float().mean() > 0.4                             # A: drawings on white
    test = load_dataset("faces-sketch", root=tmp_path, split="test", n=24)
    assert not torch.equal(test.x, data.x)


def test_faces_domains_split_by_the_attribute_from_independent_seeds(tmp_path):
    data = load_dataset("faces-domains", root=tmp_path, n=300, attribute="Hat")
    k = ATTRIBUTES.index("Hat")
    assert data.info.kind == "unpaired" and data.domain_names == ("without Hat", "with Hat")
    assert (data.a_attrs[:, k] == 0).all() and (data.attrs[:, k] == 1).all()
    others = [j for j in range(len(ATTRIBUTES)) if j != k]
    assert (data.attrs[:, others].mean(0) - data.a_attrs[:, others].mean(0)).abs().max() < 0.15
    a = data.a.flatten(1)
    assert not (a[:, None, :] == data.x.flatten(1)[None, :, :]).all(-1).any()  # no face in both domains
    test = load_dataset("faces-domains", root=tmp_path, n=300, attribute="Hat", split="test")
    assert not torch.equal(test.a, data.a)
    with pytest.raises(ConfigError, match="unknown faces attribute 'Glasses'.*Sunglasses"):
        load_dataset("faces-domains", root=tmp_path, n=8, attribute="Glasses")
    with pytest.raises(DataError, match="n >= 1"):
        load_dataset("faces-domains", root=tmp_path, n=0)


def _png(path, colour, size=40):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


def test_pairs_from_a_folder_match_by_name_and_refuse_what_is_not_a_pair(tmp_path):
    base = tmp_path / "pairs"
    for i in range(12):
        _png(base / "A" / f"{i:02d}.png", (i * 20, 0, 0))
        _png(base / "B" / f"{i:02d}.jpg", (0, i * 20, 0))
    _png(base / "A" / "lonely.png", (9, 9, 9))                                  # no partner in B: skipped
    data = load_dataset("pairs", root=tmp_path, path=str(base), image_size=32)
    assert data.info.kind == "paired" and len(data) == 11                        # 12 pairs, the last 10% test
    b, _, _, a = data.get_batch(torch.arange(len(data)))
    assert torch.allclose((a[:, 0, 0, 0] + 1) * 127.5 / 20, torch.arange(11.0), atol=0.1)
    assert torch.allclose((b[:, 1, 0, 0] + 1) * 127.5 / 20, torch.arange(11.0), atol=0.1)
    with pytest.raises(DataError, match="no B/ folder"):
        _png(tmp_path / "half" / "A" / "x.png", (0, 0, 0))
        load_dataset("pairs", root=tmp_path, path=str(tmp_path / "half"))
    _png(tmp_path / "apart" / "A" / "x.png", (0, 0, 0))
    _png(tmp_path / "apart" / "B" / "y.png", (0, 0, 0))
    with pytest.raises(DataError, match="no file name appears in both"):
        load_dataset("pairs", root=tmp_path, path=str(tmp_path / "apart"))
    with pytest.raises(ConfigError, match="--data-path"):
        load_dataset("pairs", root=tmp_path)


def test_domains_from_two_folders_or_a_celeba_attribute(tmp_path):
    for i in range(10):
        _png(tmp_path / "cats" / f"{i}.png", (200, 0, 0))
    for i in range(20):
        _png(tmp_path / "dogs" / f"{i}.png", (0, 0, 200))
    data = load_dataset("domains", root=tmp_path, path=str(tmp_path / "cats"), path_b=str(tmp_path / "dogs"),
                        image_size=32)
    assert data.domain_names == ("cats", "dogs") and len(data) == 18              # the larger domain's train split
    b, _, _, a = data.get_batch(torch.arange(18))                               # A wraps around: 9 pictures
    assert (a[:, 0] > 0.5).all() and (b[:, 2] > 0.5).all()
    # CelebA's layout split by an attribute
    celeba = tmp_path / "celeba"
    lines = ["20", "Eyeglasses Smiling"]
    for i in range(20):
        _png(celeba / "img_align_celeba" / f"{i:06d}.jpg", (250, 250, 250) if i % 2 else (5, 5, 5), 60)
        lines.append(f"{i:06d}.jpg {1 if i % 2 else -1} -1")
    (celeba / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    split = load_dataset("domains", root=tmp_path, path=str(celeba), attribute="Eyeglasses", image_size=32)
    assert split.domain_names == ("without Eyeglasses", "with Eyeglasses")
    assert (split.a_attrs[:, 0] == 0).all() and (split.attrs[:, 0] == 1).all()
    assert split.a.float().mean() < 50 and split.x.float().mean() > 200
    with pytest.raises(ConfigError, match="no attribute 'Glasses'"):
        load_dataset("domains", root=tmp_path, path=str(celeba), attribute="Glasses", image_size=32)
    with pytest.raises(ConfigError, match="second folder"):
        load_dataset("domains", root=tmp_path, path=str(tmp_path / "cats"))


# ---------- models ----------

@pytest.mark.parametrize("size", [32, 64])
def test_the_unet_maps_a_picture_to_one_of_its_shape_through_its_skips(size):
    cfg = ModelConfig(arch="unet", width=8, shape=(3, size, size))
    g = build_translator(cfg).eval()
    x = torch.randn(2, 3, size, size)
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    # the skips carry the input's layout: changing one corner changes that corner of the output most
    x2 = x.clone()
    x2[:, :, :4, :4] = 1
    d = (g(x2) - y).abs().mean(1)
    assert d[:, :8, :8].mean() > 2 * d[:, -8:, -8:].mean()
    with pytest.raises(ConfigError, match="unknown translator architecture 'dcgan'"):
        build_translator(ModelConfig(arch="dcgan", shape=FACES))
    with pytest.raises(ConfigError, match="square 32 or 64"):
        build_translator(ModelConfig(arch="unet", width=8, shape=(1, 28, 28)))


def test_the_resnet_generator_and_the_patch_critic_keep_their_shapes():
    g = build_translator(ModelConfig(arch="resnet", width=8, depth=2, shape=FACES))
    assert g(torch.randn(3, *FACES)).shape == (3, *FACES)
    scores = PatchCritic(6, 8)(torch.randn(2, 6, 32, 32))
    assert scores.shape == (2, 1, 14, 14)          # one score per overlapping patch


# ---------- training ----------

def tiny(task, **kw):
    if task == "pix2pix":
        base = dict(task="pix2pix", dataset="faces-sketch", model=ModelConfig(arch="unet", width=8, shape=FACES))
    else:
        base = dict(task="cyclegan", dataset="faces-domains", loss="lsgan", pool_size=6, lr_decay_start=0.5,
                    lr_decay_to=0.0, model=ModelConfig(arch="resnet", width=8, depth=1, shape=FACES))
    return TrainConfig(**{**base, "data_options": {"n": 32}, "steps": 8, "batch_size": 4, "critic_width": 8,
                          "log_every": 2, "sample_every": 100, "checkpoint_every": 4, **kw})


@pytest.mark.parametrize("task", ["pix2pix", "cyclegan"])
def test_a_translator_trains_saves_and_resumes_exactly(tmp_path, task):
    cfg = tiny(task)
    whole = train(cfg, tmp_path / "whole", progress=False)
    assert whole["state"] == "finished" and whole["step"] == 8
    stopped = train(cfg, tmp_path / "cut", progress=False, callback=lambda e: e["step"] < 4)   # stopped at 4
    assert stopped["state"] == "stopped" and stopped["step"] == 4
    if task == "cyclegan":   # the history pools are training state: saved with the run
        assert load_state(tmp_path / "cut" / "state.pt")["task"]["pool_b"].shape[0] > 0
    train(resume_config(tmp_path / "cut"), tmp_path / "cut", resume=True, progress=False)
    files = ["generator", "critic"] + (["generator_back", "critic_back"] if task == "cyclegan" else [])
    for f in files:
        a, b = (load_file(tmp_path / run / f"{f}.safetensors") for run in ("whole", "cut"))
        assert all(torch.equal(a[k], b[k]) for k in a), f
    t = load_translator(tmp_path / "whole")
    assert t.method == task and t.directions == (("forward", "back") if task == "cyclegan" else ("forward",))
    x = torch.rand(2, *FACES) * 2 - 1
    assert t.translate(x).shape == x.shape
    torch.testing.assert_close(t.translate(x), t.translate(x))                 # deterministic without noise
    conf = (tmp_path / "whole" / "README.md").read_text()
    assert "## Translation" in conf and ("generator_back" in conf) == (task == "cyclegan")


def test_pix2pix_noise_is_its_dropout_seeded():
    g = build_translator(ModelConfig(arch="unet", width=8, shape=FACES))
    from explorer.models.translation import Translator
    t = Translator({"forward": g}, ModelConfig(arch="unet", width=8, shape=FACES), ("a", "b"), "t")
    x = torch.randn(1, *FACES)
    one, again, other = (t.translate(x, noise_seed=s) for s in (1, 1, 2))
    torch.testing.assert_close(one, again)
    assert not torch.equal(one, other) and not torch.equal(one, t.translate(x))
    assert not any(m.training for m in g.modules())                           # dropout off again afterwards
    with pytest.raises(ConfigError, match="not 'back'"):
        t.translate(x, "back")
    with pytest.raises(ConfigError, match="shape"):
        t.translate(torch.zeros(1, 1, 28, 28))


def test_the_learning_rate_holds_then_falls_to_zero_over_the_second_half():
    cfg = tiny("cyclegan", steps=100)
    assert cfg.lr_factor(0) == cfg.lr_factor(50) == 1.0
    assert cfg.lr_factor(75) == pytest.approx(0.5) and cfg.lr_factor(99) == pytest.approx(0.02)


@pytest.mark.parametrize("change, message", [
    (dict(l1_weight=float("nan")), "l1-weight must be a number"),
    (dict(pool_size=-1), "pool-size must be a whole number"),
    (dict(model=ModelConfig(arch="dcgan", shape=FACES)), "translator architecture"),
    (dict(lr_decay_start=1.0), "lr-decay-start must be in"),
])
def test_bad_translation_settings_are_refused_before_any_picture_is_drawn(change, message):
    with pytest.raises(ConfigError, match=message):
        tiny("pix2pix").replace(**change)


@pytest.mark.parametrize("preset, dataset, message", [
    ("faces-pix2pix", "faces", "pix2pix learns from paired pictures \\(faces-sketch or pairs\\); 'faces' is not"),
    ("faces-pix2pix", "faces-domains", "holds unpaired pictures"),
    ("faces-cyclegan-sunglasses", "pairs", "cyclegan learns from unpaired pictures"),
    ("faces-dcgan", "faces-sketch", "holds pairs of pictures for translation"),
])
def test_a_dataset_of_the_wrong_kind_is_refused_before_any_picture_is_drawn(tmp_path, preset, dataset, message):
    from explorer.training.presets import custom_config
    with pytest.raises(ConfigError, match=message):
        custom_config(preset, dataset=dataset)
    cfg = dataclasses.replace(custom_config(preset), dataset=dataset)     # a config written by hand
    with pytest.raises(ConfigError, match=message):
        train(cfg, tmp_path / "run", data_root=tmp_path, progress=False)
    assert not (tmp_path / "faces-cache").exists() and not (tmp_path / "run").exists()


# ---------- eval, service, CLI ----------

def _declared_png(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w x h pixels (a decompression bomb's calling card)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + \
        chunk(b"IEND", b"")

@pytest.fixture(scope="module")
def shelf(tmp_path_factory):
    """Tiny translators judged by an untrained faces judge, and a GAN beside them."""
    root = tmp_path_factory.mktemp("translators")
    make_faces(root)
    return make_translators(root)


def test_eval_reports_what_each_method_promises(shelf):
    from explorer.services.evaluation import evaluate
    p = evaluate("sketch2face", shelf, n=10)
    assert p["pictures"] == 10 and p["judge"] == "judge" and 0 <= p["l1"] <= 1 and 0 < p["l1_input"] <= 1
    assert set(p["attribute_agreement"]) == set(ATTRIBUTES) and p["frechet_distance"] >= 0
    assert p["attribute_agreement_min"] == min(p["attribute_agreement"].values())
    c = evaluate("glasses", shelf, n=10)
    assert c["attribute"] == "Sunglasses" and 0 <= c["added"] <= 1 and 0 <= c["removed"] <= 1
    assert set(c["others_kept"]) == set(ATTRIBUTES) - {"Sunglasses"}
    assert set(c["cycle_l1"]) == {"a_to_b_to_a", "b_to_a_to_b"} and set(c["identity_l1"]) == {"forward_on_b",
                                                                                               "back_on_a"}


def test_the_service_translates_drawings_uploads_and_held_out_pictures(shelf, tmp_path):
    from explorer.services.translation import Translation
    desk = Translation(shelf)
    assert desk.names() == ["sketch2face", "glasses"]                          # pix2pix first; no GAN listed
    ex = desk.held_out("sketch2face", 3)
    assert ex["input"].shape == (32, 32, 3) and ex["truth"].shape == (32, 32, 3)
    assert ex["input"].mean() > ex["truth"].mean()                             # a drawing on white paper
    # a drawing pad's transparent canvas is white paper
    pad = np.zeros((256, 256, 4), np.uint8)
    pad[100:110, 50:200] = (0, 0, 0, 255)
    x = desk.prepare("sketch2face", pad)
    assert x.shape == (1, *FACES) and x.mean() > 0.8
    got = desk.translate("sketch2face", pad, variations=True)
    assert got["output"].shape == (1, *FACES) and got["back"] is None and got["variations"].shape == (4, *FACES)
    rows = desk.readings("sketch2face", {**got, "truth": desk.prepare("sketch2face", ex["truth"])})
    assert [r["attribute"] for r in rows] == list(ATTRIBUTES) and all(0 <= r["truth"] <= 1 for r in rows)
    path = tmp_path / "me.png"
    Image.new("RGB", (80, 60), (200, 150, 120)).save(path)
    both = desk.translate("glasses", str(path), "back")
    assert both["back"] is not None and both["variations"] is None
    w, h = desk.sheet(both).size
    assert 2.5 * h < w < 3.5 * h                                               # input, output, sent back
    for bad, message in [(("faces", str(path)), "'faces' is a gan model, not one of the translators"),
                         (("nope", str(path)), "unknown model 'nope' \\(translators: "),
                         (("glasses", str(path), "sideways"), "not 'sideways'"),
                         (("sketch2face", str(tmp_path / "none.png")), "was not found"),
                         (("sketch2face", None), "no picture")]:
        with pytest.raises(ExplorerError, match=message):
            desk.translate(*bad)
    with pytest.raises(ExplorerError, match="the held-out picture"):
        desk.held_out("sketch2face", float("nan"))
    with pytest.raises(ExplorerError, match="blank"):
        desk.translate("sketch2face", np.zeros((256, 256, 4), np.uint8))     # an untouched drawing pad
    glance = desk.glance("glasses", "back")
    assert glance.width > 2 * glance.height                                 # 8 inputs, outputs, the way back


def test_translate_cli_writes_the_sheet_and_refuses_bad_requests(shelf, tmp_path):
    out, npz = tmp_path / "t.png", tmp_path / "t.npz"
    r = run_cli("translate", "--checkpoints", shelf, "--model", "glasses", "--seed", "2", "--n", "3", "--reverse",
                "--out", out, "--npz", npz)
    assert r.returncode == 0, r.stderr
    assert "with Sunglasses -> without Sunglasses, 3 picture(s)" in r.stderr
    w, h = Image.open(out).size
    assert 0.8 < w / h < 1.2                                      # 3 rows of input, output, sent back
    with np.load(npz) as f:
        assert f["input"].shape == f["output"].shape == f["back"].shape == (3, 32, 32, 3)
        assert "variations" not in f
    # a palette picture and a 16-bit one are translated like any other
    pal, deep = tmp_path / "pal.png", tmp_path / "deep.png"
    Image.new("RGB", (50, 40), (30, 120, 200)).convert("P", palette=Image.ADAPTIVE).save(pal)
    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 15)
    Image.fromarray(ramp).save(deep)
    for picture in (pal, deep):
        r = run_cli("translate", "--checkpoints", shelf, "--model", "sketch2face", "--image", picture, "--out", out)
        assert r.returncode == 0, r.stderr
    from explorer.services.translation import Translation
    x = Translation(shelf).prepare("sketch2face", str(deep))
    assert x.min() < -0.9 and x.max() > 0.5                        # scaled from 16 bits, not clipped white
    gone = tmp_path / "never.png"
    for args, fragment in [
        (("--model", "faces", "--seed", "0"), "'faces' is a gan model, not one of the translators"),
        (("--model", "sketch2face", "--seed", "0", "--reverse"), "not 'back'"),
        (("--model", "sketch2face", "--image", pal, "--seed", "1"), "not both"),
        (("--model", "sketch2face", "--seed", "0", "--n", "0"), "--n must be from 1 to 64"),
    ]:
        assert_one_line_error(run_cli("translate", "--checkpoints", shelf, *args, "--out", gone), fragment)
    script, blank, bomb = tmp_path / "evil.png", tmp_path / "blank.png", tmp_path / "bomb.png"
    script.write_text("#!/bin/sh\necho hi\n")
    Image.new("RGB", (64, 64), "white").save(blank)
    bomb.write_bytes(_declared_png(20000, 20000))
    for picture, fragment in [(script, "not a picture"), (blank, "blank"), (bomb, "too large")]:
        assert_one_line_error(run_cli("translate", "--checkpoints", shelf, "--model", "sketch2face", "--image",
                                      picture, "--out", gone), fragment)
    assert not gone.exists()                                       # nothing written for a refused picture


DDP_SCRIPT = """
import sys
from pathlib import Path
from explorer.models import ModelConfig
from explorer.store.config import TrainConfig
from explorer.training.loop import train
task, out = sys.argv[1], Path(sys.argv[2])
if task == "pix2pix":
    cfg = TrainConfig(task="pix2pix", dataset="faces-sketch", model=ModelConfig(arch="unet", width=8, shape=(3, 32, 32)))
else:
    cfg = TrainConfig(task="cyclegan", dataset="faces-domains", loss="lsgan", pool_size=4,
                      model=ModelConfig(arch="resnet", width=8, depth=1, shape=(3, 32, 32)))
train(cfg.replace(data_options={"n": 16}, steps=3, batch_size=2, critic_width=8, log_every=1, sample_every=100,
                  checkpoint_every=2), out, data_root=out.parent / "data", progress=False)
"""


@pytest.mark.parametrize("task", ["pix2pix", "cyclegan"])
def test_a_translator_trains_under_torchrun(tmp_path, task):
    """Two CPU processes (gloo): the frozen critics of the generator's turn sync nothing, every net stays in
    sync (checked by the loop at the end), rank 0 alone writes one loadable translator."""
    import json
    import os
    import subprocess
    import sys
    from conftest import ROOT
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(script), task, str(tmp_path / "run")], capture_output=True, text=True, env=env,
                       timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    assert conf["provenance"]["processes"] == 2 and conf["provenance"]["step"] == 3 and conf["kind"] == "translator"
    assert load_translator(tmp_path / "run").translate(torch.zeros(1, *FACES)).shape == (1, *FACES)

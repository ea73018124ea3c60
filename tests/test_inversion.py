"""Inversion: the encoder task, the optimisation from its guess, and MNIST-style preparation of a drawing."""
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from explorer.errors import ConfigError, DataError
from explorer.latent.inversion import invert, prepare_digit, prepare_picture
from explorer.models import ModelConfig
from explorer.store.checkpoint import load_encoder, load_generator
from explorer.store.config import TrainConfig
from explorer.training.loop import train
from ui_helpers import make_model


def encoder_config(generator, steps=6) -> TrainConfig:
    """The dataset only fixes the pictures' shape (the encoder learns on the generator's own samples): the
    rendered faces, a few of them, so no files are needed."""
    return TrainConfig(task="encoder", dataset="faces", data_options={"n": 16}, generator=str(generator),
                       model=ModelConfig(shape=(3, 32, 32), width=8), steps=steps, batch_size=8, log_every=2,
                       sample_every=3, checkpoint_every=3)


@pytest.fixture
def faces_generator(tmp_path):
    """A tiny conditional generator of 32 px colour pictures (3 classes)."""
    make_model(tmp_path / "cond", num_classes=3, z_dim=16, seed=3, shape=(3, 32, 32))
    return tmp_path / "cond"


def test_an_encoder_trains_in_the_loop_and_is_published_beside_its_generator(tmp_path, faces_generator):
    make_model(tmp_path / "digits", z_dim=16)
    with pytest.raises(ConfigError, match="'.*digits' draws \\(1, 28, 28\\)"):    # 28 px digits, 32 px faces
        train(encoder_config(tmp_path / "digits"), tmp_path / "bad", progress=False)
    run = tmp_path / "run"
    result = train(encoder_config(faces_generator), run, progress=False)
    assert result["state"] == "finished" and result["metrics"]["z_error"] > 0
    assert json.loads((run / "config.json").read_text())["kind"] == "encoder"
    conf = json.loads((faces_generator / "config.json").read_text())
    assert conf["encoder"]["file"] == "encoder.safetensors" and conf["encoder"]["steps"] == 6
    model = load_generator(faces_generator)
    encoder = load_encoder(model)
    assert encoder(torch.zeros(2, 3, 32, 32)).shape == (2, 16 + 3)          # z, then the class logits
    assert "encoder" in (faces_generator / "README.md").read_text().lower()


def test_an_encoder_run_resumes_exactly(tmp_path, faces_generator):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(encoder_config(faces_generator, 6), whole, progress=False)
    train(encoder_config(faces_generator, 3), parts, progress=False)
    train(encoder_config(faces_generator, 6), parts, resume=True, progress=False)
    from safetensors.torch import load_file
    a, b = load_file(str(whole / "encoder.safetensors")), load_file(str(parts / "encoder.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_encoder_needs_its_generator():
    with pytest.raises(ConfigError, match="needs the generator it inverts"):
        TrainConfig(task="encoder").validated()


def test_inversion_finds_a_picture_the_generator_drew(tmp_path):
    """From a random start, Adam on z brings the picture closer; a conditional model keeps the best class."""
    make_model(tmp_path / "cond", num_classes=10, z_dim=16, seed=3)
    model = load_generator(tmp_path / "cond")
    with torch.no_grad():
        target = model.generate(model.sample_z(1, 42), torch.tensor([7]))
    seen = []
    result = invert(model, target, steps=60, lr=0.05, progress=lambda s, e: seen.append(e))
    assert result.error < result.curve[0][1] * 0.7
    assert result.label in range(10) and result.z.shape == (1, 16)
    assert seen and seen[-1] == pytest.approx(result.curve[-1][1])
    with torch.no_grad():
        redrawn = model.generate(result.z, torch.tensor([result.label]))
    assert float(((redrawn - target) ** 2).mean()) == pytest.approx(result.error, rel=1e-4)


def test_a_search_never_ends_worse_than_the_encoders_guess(tmp_path):
    """An encoder that gives exactly the z that drew the picture: the search's prior term would pull this small
    z outwards, away from the picture, so the guess (perfect by pixels and the judge's features alike) is kept."""
    make_model(tmp_path / "g", 0, z_dim=16, seed=2)
    model = load_generator(tmp_path / "g")
    z_true = 0.2 * torch.randn(1, 16, generator=torch.Generator().manual_seed(3))   # far inside the prior's shell
    with torch.no_grad():
        target = model.generate(z_true)

    class Exact:
        def __call__(self, x):
            return z_true.clone()

        def split(self, out):
            return {"z": out, "class_logits": None, "cat_logits": None, "cont": None}

    res = invert(model, target, Exact(), steps=30, prior_weight=1.0)
    assert res.guess_error == pytest.approx(0, abs=1e-10) and res.error <= res.guess_error + 1e-12
    assert torch.equal(res.z, z_true)
    loose = invert(model, target, None, steps=30, prior_weight=1.0)   # a random start is still searched from
    assert loose.error < loose.guess_error


def test_inversion_finds_an_infogans_codes_with_z(tmp_path):
    make_model(tmp_path / "info", z_dim=8, cat_codes=10, cont_codes=2)
    model = load_generator(tmp_path / "info")
    with torch.no_grad():
        target = model.generate(model.sample_z(1, 5), None, model.sample_codes(1, 5, cat=4))
    result = invert(model, target, steps=40)
    assert result.codes.shape == (1, 12) and result.codes[0, :10].sum() == 1
    assert result.error < result.curve[0][1]


def stroke(size=200, dark_on_light=False, width=18) -> Image.Image:
    bg, ink = (255, 0) if dark_on_light else (0, 255)
    im = Image.new("L", (size, size), bg)
    ImageDraw.Draw(im).line([(60, 30), (150, 170)], fill=ink, width=width)   # a slanted "1", off centre
    return im


def test_a_drawing_is_prepared_as_mnist_was():
    x = prepare_digit(stroke())
    assert x.shape == (1, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    ink = (x[0, 0] + 1) / 2
    rows, cols = np.nonzero(ink.numpy() > 0.1)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21
    ys, xs = np.indices((28, 28))
    m = ink.numpy() / ink.numpy().sum()
    assert abs((ys * m).sum() - 14) < 1 and abs((xs * m).sum() - 14) < 1       # centred by mass
    assert torch.allclose(prepare_digit(stroke(dark_on_light=True)), x, atol=0.05)


@pytest.mark.parametrize("picture", [Image.new("L", (50, 50), 0), Image.new("L", (50, 50), 255),
                                     Image.new("RGB", (9, 9), (40, 40, 40))])
def test_an_empty_drawing_is_refused(picture):
    with pytest.raises(DataError, match="the picture is empty"):
        prepare_digit(picture)


def test_a_photo_is_cropped_square_and_resized():
    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8))
    x = prepare_picture(im, (3, 32, 32))
    assert x.shape == (1, 3, 32, 32) and -1 <= x.min() and x.max() <= 1


# ---------- the CLI: invert, then sample and edit the found z ----------

@pytest.fixture
def cli_models(tmp_path):
    make_model(tmp_path / "cond", num_classes=10, z_dim=16, seed=3)
    make_model(tmp_path / "plain", z_dim=16, seed=4)
    stroke().save(tmp_path / "drawn.png")
    return tmp_path


def cli(*args):
    from explorer.cli import main
    return main([str(a) for a in args])


def test_invert_then_sample_the_found_z(cli_models, capsys):
    """As a user scripts it: invert a drawing, then `sample --z` redraws the result exactly."""
    root = cli_models
    from conftest import run_cli
    proc = run_cli("invert", "--model", root / "cond", "--image", root / "drawn.png", "--steps", 20,
                   "--npz", root / "found.npz", "--out", root / "invert.png")
    assert proc.returncode == 0, proc.stderr
    assert "has no encoder yet" in proc.stderr and "pixel error" in proc.stderr
    assert Image.open(root / "invert.png").size[0] > 3 * 28 * 4      # input, guess, result side by side
    found = np.load(root / "found.npz")
    assert found["z"].shape == (1, 16) and str(found["model"]) == "cond" and 0 <= int(found["label"][0]) < 10
    assert cli("sample", "--model", root / "cond", "--z", root / "found.npz", "--npz", root / "again.npz") == 0
    again = np.load(root / "again.npz")
    model = load_generator(root / "cond")
    with torch.no_grad():
        expected = model.generate(torch.from_numpy(found["z"]), torch.from_numpy(found["label"]))
    from explorer.render import to_uint8
    assert np.array_equal(again["images"], to_uint8(expected))


@pytest.mark.parametrize("make, args, message", [
    (lambda r: (r / "script.png").write_text("#!/bin/sh\necho hi\n"), ["--image", "script.png"], "not a picture"),
    (lambda r: Image.new("L", (64, 64)).save(r / "blank.png"), ["--image", "blank.png"], "the picture is empty"),
    (lambda r: None, ["--image", "drawn.png", "--steps", "5000"], "steps must be a whole number from 0 to 1000"),
    (lambda r: None, ["--image", "missing.png"], "was not found"),
])
def test_invert_refuses_bad_pictures_in_one_line(cli_models, capsys, make, args, message):
    root = cli_models
    make(root)
    args = [str(root / a) if a.endswith(".png") else a for a in args]
    assert cli("invert", "--model", root / "cond", *args, "--npz", root / "x.npz") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_z_file_must_fit_the_model(cli_models, capsys):
    root = cli_models
    np.savez(root / "other.npz", model=np.array("cond"), z=np.zeros((1, 16), np.float32), label=np.array([3]))
    np.savez(root / "nan.npz", z=np.full((1, 16), np.nan, np.float32))
    np.savez(root / "short.npz", z=np.zeros((1, 5), np.float32))
    (root / "junk.npz").write_bytes(b"not a zip")
    np.save(root / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (root / "pickled.npz").write_bytes((root / "pickled.npy").read_bytes())
    for name, message in (("other.npz", "was found for 'cond', not 'plain'"), ("nan.npz", "NaN"),
                          ("short.npz", "plain needs 16 numbers per row"), ("junk.npz", "is not a z file"),
                          ("pickled.npz", "is not a z file"), ("none.npz", "no z file at")):
        assert cli("sample", "--model", root / "plain", "--z", root / name, "--npz", root / "s.npz") == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (name, err)
    np.savez(root / "nolabel.npz", z=np.zeros((1, 16), np.float32))
    assert cli("sample", "--model", root / "cond", "--z", root / "nolabel.npz", "--npz", root / "s.npz") == 2
    assert "needs a class label in 0..9" in capsys.readouterr().err


def test_points_cannot_be_inverted(tmp_path, capsys):
    from explorer.store.checkpoint import save_checkpoint
    from explorer.models import build_generator
    cfg = TrainConfig(dataset="toy2d", model=ModelConfig(arch="mlp", z_dim=2, shape=(2,), width=8))
    save_checkpoint(tmp_path / "toy", {"kind": "gan", "name": "toy", "train": cfg.to_dict(), "class_names": [],
                                       "dataset": {"name": "toy2d", "shape": [2], "options": {}}, "attributes": []},
                    {"generator": build_generator(cfg.model)})
    stroke().save(tmp_path / "d.png")
    assert cli("invert", "--model", tmp_path / "toy", "--image", tmp_path / "d.png", "--npz", tmp_path / "x.npz") == 2
    assert "draws 2-D points" in capsys.readouterr().err


def test_render_z_file_draws_what_sample_draws_and_refuses_bad_files(cli_models):
    """/render_z_file, as a script sends an invert output to the running app: the same pixels as the model
    draws for that z and class; another model's file, NaN, a pickle and a non-file get one readable error."""
    from gradio_client import Client, handle_file
    from ui_helpers import launch
    root = cli_models
    model = load_generator(root / "cond")
    z = torch.randn(1, 16, generator=torch.Generator().manual_seed(9))
    np.savez(root / "found.npz", model=np.array("cond"), z=z.numpy(), label=np.array([7]))
    np.savez(root / "nan.npz", model=np.array("cond"), z=np.full((1, 16), np.nan, np.float32), label=np.array([7]))
    np.savez(root / "plain.npz", model=np.array("plain"), z=z.numpy())
    (root / "pickled.npz").write_bytes(b"\x80\x04\x95junk")
    demo, url = launch(root)
    try:
        client = Client(url, verbose=False)
        png = client.predict("cond", handle_file(str(root / "found.npz")), api_name="/render_z_file")
        from explorer.render import to_uint8
        with torch.no_grad():
            expected = to_uint8(model.generate(z, torch.tensor([7])))[0]
        got = np.asarray(Image.open(png))
        assert np.array_equal(got.reshape(expected.shape), expected)
        for name, message in (("nan.npz", "NaN"), ("plain.npz", "was found for 'plain', not 'cond'"),
                              ("pickled.npz", "is not a z file")):
            with pytest.raises(Exception, match=message):
                client.predict("cond", handle_file(str(root / name)), api_name="/render_z_file")
        assert client.predict("plain", handle_file(str(root / "plain.npz")), api_name="/render_z_file")  # still serving
    finally:
        demo.close()


def test_an_inverted_z_is_edited_first_and_the_meter_reads_it(tmp_path):
    """Edit in Directions: the picture's z is the strip's first column and the face the meter reads."""
    from explorer.latent.edit import probabilities
    from explorer.services.directions import DirectionStudio
    from explorer.services.pixels import ModelCache
    from ui_helpers import make_faces
    root = make_faces(tmp_path)
    studio = DirectionStudio(ModelCache(root), root)
    name, attr = "faces", studio.names("faces")[0]
    z = torch.randn(1, 16, generator=torch.Generator().manual_seed(1)) * 1.2
    img, table, _, _ = studio.edits(name, attr, ["gradient"], 2.0, [1, 2, 3], picture_z=z[0].tolist())
    plain, plain_table, _, _ = studio.edits(name, attr, ["gradient"], 2.0, [1, 2, 3])
    assert img.width > plain.width and img.height == plain.height        # one more column: the picture
    e = studio._entry(name)
    expected = probabilities(e["model"], e["judge"], z)[0]
    original = [row["probability"] for row in table if row["method"] == "original"]
    assert original == pytest.approx(expected.tolist(), abs=1e-4)
    from explorer.render import grid
    with torch.no_grad():   # the top-left tile: the picture itself (label margin 92 px, pad 2, scale 3)
        tile = np.asarray(grid(e["model"].generate(z), nrow=1, scale=3))[6:6 + 96, 6:6 + 96]
    assert np.array_equal(np.asarray(img)[6:6 + 96, 92 + 6:92 + 6 + 96], tile)
    assert not np.array_equal(np.asarray(plain)[6:6 + 96, 92 + 6:92 + 6 + 96], tile)
    for bad, message in (([float("nan")] * 16, "NaN"), ([0.0] * 5, "16 numbers")):
        with pytest.raises(ConfigError, match=message):
            studio.edits(name, attr, ["gradient"], 2.0, [1, 2], picture_z=bad)

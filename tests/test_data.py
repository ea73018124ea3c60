"""Every dataset through the one registry, the resolver, and each way data can be missing or malformed.

CPU only, no network. Real data (MNIST, the CelebA subset) comes from ../shared/data and its tests skip without
it; every malformed case is built in tmp_path from Pillow-drawn images (no real faces are ever copied).
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.data import DATASETS, dataset_options, load_dataset, resolve_data_root
from explorer.data.toy2d import RING_RADIUS, RING_STD, TOY_MODES, sample_toy
from explorer.errors import ConfigError, DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ENV = "LATENT_EXPLORER_DATA"


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg, msg
    return msg


# --- registry and resolver ----------------------------------------------------------------------------------

def test_registry_has_every_dataset_without_loading_any():
    assert {"digits", "fashion", "faces", "celeba", "folder", "toy2d"} <= set(DATASETS)
    assert set(dataset_options("celeba")) == {"path", "image_size", "limit"}
    assert dataset_options("toy2d") == {"distribution": "8gaussians", "n": 100_000, "seed": 0}


def test_resolver_order(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == (tmp_path / "arg", "--data-root")     # explicit wins
    assert resolve_data_root(None) == (tmp_path / "env", f"${ENV}")                    # then the variable
    monkeypatch.delenv(ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_root(None) == (tmp_path / "home" / ".cache" / "latent-explorer", "the default location")


def test_unknown_names_options_and_values():
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'.*digits"):
        load_dataset("imagenet")
    with pytest.raises(ConfigError, match="no option 'colour'.*distribution"):
        load_dataset("toy2d", colour="red")
    with pytest.raises(ConfigError, match="split"):
        load_dataset("toy2d", split="valid")
    with pytest.raises(ConfigError, match="image_size"):
        load_dataset("folder", path=".", image_size=48)
    with pytest.raises(ConfigError, match="limit"):
        load_dataset("celeba", path=".", limit=0)
    with pytest.raises(ConfigError, match="n must be"):
        load_dataset("toy2d", n=0)


# --- digits and fashion -------------------------------------------------------------------------------------

def test_digits_from_the_shared_data():
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST not found at {SHARED / 'MNIST' / 'raw'} (CI provides ../shared/data)")
    d = load_dataset("digits", root=SHARED, split="test", download=False)
    assert len(d) == 10000 and d.x.dtype == torch.uint8 and d.x.shape[1:] == (1, 28, 28)
    assert d.y.dtype == torch.int64 and set(d.y.unique().tolist()) == set(range(10))
    assert d.info.kind == "image" and d.info.shape == (1, 28, 28) and d.info.class_names == tuple("0123456789")
    x, y, a = d.get_batch(torch.arange(64))
    assert x.dtype == torch.float32 and x.min() == -1 and x.max() <= 1 and a.shape == (64, 0)
    assert len(load_dataset("digits", root=SHARED, download=False)) == 60000


@pytest.mark.parametrize("name,folder", [("digits", "MNIST"), ("fashion", "FashionMNIST")])
@pytest.mark.parametrize("source", ["--data-root", f"${ENV}", "the default location"])
def test_missing_mnist_names_the_place_and_the_source(name, folder, source, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    root = {"--data-root": tmp_path / "arg", f"${ENV}": tmp_path / "env",
            "the default location": tmp_path / ".cache" / "latent-explorer"}[source]
    if source == f"${ENV}":
        monkeypatch.setenv(ENV, str(root))
    with pytest.raises(DataError) as e:
        load_dataset(name, root=root if source == "--data-root" else None, download=False)
    msg = one_line(e)
    assert str(root / folder / "raw") in msg and f"from {source}" in msg and "--data-root DIR" in msg


def test_unreadable_mnist_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f).write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot be read") as e:
        load_dataset("digits", root=tmp_path, download=False)
    one_line(e)


# --- celeba layout ------------------------------------------------------------------------------------------

def make_celeba(folder: Path, n=6, header="Smiling Young", rows=None, count=None) -> Path:
    """A fake CelebA folder: n flat-coloured 89x109 JPEGs (red = 20 * i) and their attribute file."""
    (folder / "img_align_celeba").mkdir(parents=True)
    for i in range(1, n + 1):
        Image.new("RGB", (89, 109), (20 * i, 100, 50)).save(folder / "img_align_celeba" / f"{i:06d}.jpg")
    rows = rows if rows is not None else [f"{i:06d}.jpg {1 if i % 2 else -1} -1" for i in range(1, n + 1)]
    (folder / "list_attr_celeba.txt").write_text(f"{len(rows) if count is None else count}\n{header}\n"
                                                  + "\n".join(rows) + "\n")
    return folder


def test_celeba_layout(tmp_path):
    folder = make_celeba(tmp_path / "c", n=10)
    d = load_dataset("celeba", root=tmp_path, path=str(folder), image_size=32)
    assert d.x.shape == (9, 3, 32, 32) and d.x.dtype == torch.uint8 and d.attrs.dtype == torch.float32
    assert d.info.attribute_names == ("Smiling", "Young") and d.info.shape == (3, 32, 32)
    assert d.attrs[:, 0].tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1] and d.attrs[:, 1].sum() == 0
    red = d.x[:, 0].float().mean((1, 2))
    assert (red.diff() > 10).all()            # sorted by file name, each image kept with its own row
    test = load_dataset("celeba", root=tmp_path, path=str(folder), image_size=32, split="test")
    assert len(test) == 1 and test.x[0, 0].float().mean() > red.max()    # the last file, not in train
    assert len(load_dataset("celeba", root=tmp_path, path=str(folder), image_size=32, limit=3)) == 3
    assert len(list((tmp_path / "celeba-cache").glob("*.npz"))) == 3     # one cache file per distinct load
    again = load_dataset("celeba", root=tmp_path, path=str(folder), image_size=32)
    assert torch.equal(again.x, d.x) and torch.equal(again.attrs, d.attrs)


def test_celeba_default_folder_is_under_the_root(tmp_path):
    make_celeba(tmp_path / "celeba", n=3)
    assert len(load_dataset("celeba", root=tmp_path, image_size=32)) == 2
    with pytest.raises(DataError) as e:
        load_dataset("celeba", root=tmp_path / "elsewhere")
    assert str(tmp_path / "elsewhere" / "celeba") in one_line(e) and "--data-root" in str(e.value)


def test_celeba_skips_images_without_rows_and_rows_without_images(tmp_path):
    rows = [f"{i:06d}.jpg 1 -1" for i in (1, 2, 3, 4, 5, 99)]     # no row for 6; 99 has no image
    folder = make_celeba(tmp_path / "c", n=6, rows=rows, count=202599)  # a trimmed copy keeps the old count
    d = load_dataset("celeba", root=tmp_path, path=str(folder), image_size=32)
    assert len(d) == 4 and d.info.options["without_attributes"] == 1


@pytest.mark.parametrize("text,fragment", [
    ("three\nA B\n000001.jpg 1 1\n", "line 1 should be the number"),
    ("1\n", "count line and a header"),
    ("1\n\n000001.jpg\n", "line 2"),
    ("1\nA B\n000001.jpg 1\n", "line 3 has 1 values but the header"),         # too few values
    ("2\nA B\n000001.jpg 1 1\n000002.jpg 1 1 1\n", "line 4 has 3 values"),   # too many
    ("1\nA B\n000001.jpg 1 0\n", "line 3 has the value '0', not 1 or -1"),
    ("1\nA B\n000001.jpg 1 x\n", "line 3 has the value 'x'"),
])
def test_malformed_celeba_attribute_files(tmp_path, text, fragment):
    folder = make_celeba(tmp_path / "c", n=2)
    (folder / "list_attr_celeba.txt").write_text(text)
    with pytest.raises(DataError, match=fragment) as e:
        load_dataset("celeba", root=tmp_path, path=str(folder))
    assert "list_attr_celeba.txt" in one_line(e)


def test_celeba_missing_pieces(tmp_path):
    cases = []
    (tmp_path / "bare").mkdir()
    cases.append((tmp_path / "nope", "does not exist"))
    cases.append((tmp_path / "bare", "no img_align_celeba/"))
    no_attr = make_celeba(tmp_path / "no_attr", n=1)
    (no_attr / "list_attr_celeba.txt").unlink()
    cases.append((no_attr, "no list_attr_celeba.txt"))
    empty = make_celeba(tmp_path / "empty", n=0, rows=["000001.jpg 1 1"])
    cases.append((empty, "no images in"))
    strangers = make_celeba(tmp_path / "strangers", n=2, rows=["100001.jpg 1 1"])
    cases.append((strangers, "none of the 2 images .* has a row"))
    broken = make_celeba(tmp_path / "broken", n=2)
    for f in (broken / "img_align_celeba").iterdir():
        f.write_bytes(b"not a jpeg")
    cases.append((broken, "could not be decoded"))
    for folder, fragment in cases:
        with pytest.raises(DataError, match=fragment) as e:
            load_dataset("celeba", root=tmp_path, path=str(folder))
        assert str(folder) in one_line(e)


def test_real_celeba_subset(tmp_path):
    folder = SHARED / "celeba-10k"
    if not (folder / "list_attr_celeba.txt").is_file():
        pytest.skip(f"no CelebA subset at {folder} (CI provides ../shared/data)")
    d = load_dataset("celeba", root=tmp_path, path=str(folder), limit=200)
    assert d.x.shape == (200, 3, 64, 64) and len(d.info.attribute_names) == 40
    lines = (folder / "list_attr_celeba.txt").read_text().splitlines()
    first = [int(v) > 0 for v in lines[2].split()[1:]]                  # 000001.jpg's row
    assert d.attrs[0].tolist() == first
    assert 0.2 < d.attrs[:, d.info.attribute_names.index("Male")].mean() < 0.8
    assert 40 < d.x.float().mean() < 215 and d.x.float().std() > 30   # real photographs, not blank arrays


# --- any image folder ---------------------------------------------------------------------------------------

def test_image_folder_with_attributes_and_junk(tmp_path):
    base = tmp_path / "imgs"
    (base / "sub").mkdir(parents=True)
    for i in range(6):
        Image.new("RGB", (40, 30), (i * 40, 0, 0)).save(base / ("sub" if i % 2 else ".") / f"{i}.png")
    (base / "broken.jpg").write_bytes(b"not an image at all")
    (base / "notes.txt").write_text("not even looked at")
    (base / "attributes.csv").write_text("\ufefffilename,Red, Odd\n0.png,0,0\nsub/1.png,1,1\n2.png,1,0\n"
                                         "sub/3.png,1,1\n4.png,1,0\nbroken.jpg,0,0\ngone.png,1,1\n")
    d = load_dataset("folder", root=tmp_path, path=str(base), image_size=32)
    # 6 listed files that exist (5.png has no row) -> 5 train + 1 test; broken.jpg is skipped in train
    assert d.x.shape == (4, 3, 32, 32) and d.info.attribute_names == ("Red", "Odd")
    assert d.info.options["skipped"] == 1 and d.info.options["without_attributes"] == 1
    assert d.attrs.tolist() == [[0, 0], [1, 0], [1, 0], [1, 1]]          # 0.png 2.png 4.png sub/1.png
    assert d.x[:, 0].float().mean((1, 2)).round().tolist() == [0, 80, 160, 40]
    gray = load_dataset("folder", root=tmp_path, path=str(base), image_size=32, channels=1)
    assert gray.x.shape[1] == 1 and gray.info.shape == (1, 32, 32)


def test_image_folder_without_csv_has_no_attributes(tmp_path):
    for i in range(3):
        Image.new("L", (50, 70), i * 100).save(tmp_path / f"{i}.bmp")
    d = load_dataset("folder", root=tmp_path / "root", path=str(tmp_path), image_size=32)
    assert d.x.shape == (2, 3, 32, 32) and d.attrs.shape == (2, 0) and d.info.attribute_names == ()
    assert (d.y == -1).all()


def test_image_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="--data-path"):
        load_dataset("folder", root=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", root=tmp_path, path=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataError, match=r"no images found in .*empty \(looked for .jpg, .jpeg, .png"):
        load_dataset("folder", root=tmp_path, path=str(tmp_path / "empty"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError, match="could not be decoded"):
        load_dataset("folder", root=tmp_path, path=str(tmp_path / "junk"))


@pytest.mark.parametrize("text,fragment", [
    ("filename,A\na.png,1\nb.png,2\n", "line 3"),
    ("filename,A\na.png\n", "line 2"),
    ("filename\na.png\n", "line 1"),
    ("filename,A\nzzz.png,1\n", "has a row in attributes.csv"),
])
def test_malformed_attributes_csv(tmp_path, text, fragment):
    base = tmp_path / "bad"
    base.mkdir()
    for f in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(base / f)
    (base / "attributes.csv").write_text(text)
    with pytest.raises(DataError, match=fragment) as e:
        load_dataset("folder", root=tmp_path, path=str(base))
    one_line(e)


# --- toy2d --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dist", sorted(TOY_MODES))
def test_toy_distributions(dist):
    pts = sample_toy(dist, 8000, seed=1)
    assert pts.shape == (8000, 2) and pts.dtype == np.float32
    assert np.array_equal(pts, sample_toy(dist, 8000, seed=1)) and not np.array_equal(pts, sample_toy(dist, 8000, 2))
    centres, std = TOY_MODES[dist]
    if centres is not None:
        nearest = np.linalg.norm(pts[:, None] - centres[None], axis=2).argmin(1)
        counts = np.bincount(nearest, minlength=len(centres))
        assert counts.min() > 0.5 * len(pts) / len(centres)                 # every mode is used
        for k, c in enumerate(centres):
            own = pts[nearest == k]
            assert np.abs(own.mean(0) - c).max() < 5 * std / np.sqrt(len(own))   # sample mean at the centre
            assert np.allclose(own.std(0), std, rtol=0.15)                      # spread as specified
    elif dist == "ring":
        r = np.linalg.norm(pts, axis=1)
        assert abs(r.mean() - RING_RADIUS) < 0.01 and abs(r.std() - RING_STD) < 0.01
        assert np.abs(pts.mean(0)).max() < 0.1                                  # all the way round
    else:
        assert np.abs(pts).max() < 2.5 and pts.std(0).min() > 0.8               # about [-2, 2]^2


def test_toy_centres_are_as_specified():
    c8, s8 = TOY_MODES["8gaussians"]
    assert s8 == 0.02 and np.allclose(np.linalg.norm(c8, axis=1), 2.0)
    assert np.allclose(np.sort(np.degrees(np.arctan2(c8[:, 1], c8[:, 0])) % 360), np.arange(0, 360, 45))
    c25, s25 = TOY_MODES["25gaussians"]
    assert s25 == 0.05 and len(c25) == 25 and set(map(tuple, c25)) == {(x, y) for x in range(-4, 5, 2)
                                                                       for y in range(-4, 5, 2)}


def test_toy2d_through_the_registry():
    d = load_dataset("toy2d", distribution="25gaussians", n=500, seed=3)
    assert d.x.shape == (500, 2) and d.x.dtype == torch.float32 and d.info.kind == "points"
    assert d.info.shape == (2,) and d.info.options["distribution"] == "25gaussians"
    x, y, a = d.get_batch(torch.arange(10))
    assert torch.equal(x, d.x[:10]) and (y == -1).all() and a.shape == (10, 0)     # points are not rescaled
    assert torch.equal(load_dataset("toy2d", distribution="25gaussians", n=500, seed=3).x, d.x)
    test = load_dataset("toy2d", distribution="25gaussians", n=500, seed=3, split="test")
    assert not torch.equal(test.x, d.x)                                            # another seed stream
    with pytest.raises(ConfigError, match="unknown 2-D distribution 'spiral'.*8gaussians"):
        load_dataset("toy2d", distribution="spiral")


def test_a_failed_mnist_download_says_what_was_tried_and_leaves_nothing(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST
    monkeypatch.delenv("LATENT_EXPLORER_OFFLINE", raising=False)
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/mnist/"])   # a closed local port: fails at once
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DataError) as e:
        load_dataset("digits", root=root, download=True)
    msg = one_line(e)
    assert "tried to download it from http://127.0.0.1:9/mnist/" in msg and "offline" in msg
    assert str(root / "MNIST" / "raw") in msg and "RuntimeError" not in msg
    assert list(root.iterdir()) == []   # no empty MNIST folder (nor partial files) left in the cache

"""Every dataset through the one registry, the resolver, and each way data can be missing or malformed."""
import numpy as np
import pytest
import torch
from PIL import Image

from explorer.data import DATASETS, load_dataset, resolve_data_root
from explorer.data.toy2d import TOY_MODES, sample_toy
from explorer.errors import ConfigError, DataError


def test_registry_has_every_dataset():
    load_dataset("toy2d", n=10)  # fills the registry
    assert {"digits", "fashion", "faces", "celeba", "folder", "toy2d"} <= set(DATASETS)


def test_resolver_order(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == (tmp_path / "arg", "--data-root")
    assert resolve_data_root(None) == (tmp_path / "env", "$LATENT_EXPLORER_DATA")
    monkeypatch.delenv("LATENT_EXPLORER_DATA")
    root, where = resolve_data_root(None)
    assert root.name == "latent-explorer" and where == "the default location"


def test_digits_from_the_shared_data(data_root):
    d = load_dataset("digits", root=data_root, split="test", download=False)
    assert len(d) == 10000 and d.x.dtype == torch.uint8 and d.x.shape[1:] == (1, 28, 28)
    assert d.info.class_names == tuple("0123456789") and set(d.y.unique().tolist()) == set(range(10))
    x, y, a = d.get_batch(torch.arange(64))
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1 and a.shape == (64, 0)


@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_missing_mnist_names_the_place_and_the_source(name, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path))
    with pytest.raises(DataError) as e:
        load_dataset(name, download=False)
    msg = str(e.value)
    assert str(tmp_path) in msg and "$LATENT_EXPLORER_DATA" in msg and "--data-root" in msg and "\n" not in msg


def test_faces_through_the_registry(tmp_path):
    d = load_dataset("faces", root=tmp_path, n=40, correlation=0.5)
    assert d.x.shape == (40, 3, 32, 32) and d.attrs.shape == (40, 7) and d.info.attribute_names[0] == "Sunglasses"


@pytest.mark.parametrize("dist", sorted(TOY_MODES))
def test_toy_distributions(dist):
    pts = sample_toy(dist, 4000, seed=1)
    assert pts.shape == (4000, 2) and pts.dtype == np.float32
    assert np.array_equal(pts, sample_toy(dist, 4000, seed=1)) and not np.array_equal(pts, sample_toy(dist, 4000, 2))
    centres, std = TOY_MODES[dist]
    if centres is not None:
        d = np.linalg.norm(pts[:, None] - centres[None], axis=2)
        assert (d.min(1) < 4 * std).mean() > 0.99                   # every point sits on a mode
        counts = np.bincount(d.argmin(1), minlength=len(centres))
        assert counts.min() > 0.5 * len(pts) / len(centres)        # every mode is used
    elif dist == "ring":
        assert abs(np.linalg.norm(pts, axis=1).mean() - 2.0) < 0.01


def test_toy_centres_are_as_specified():
    c8, s8 = TOY_MODES["8gaussians"]
    assert s8 == 0.02 and np.allclose(np.linalg.norm(c8, axis=1), 2.0)
    assert np.allclose(np.sort(np.degrees(np.arctan2(c8[:, 1], c8[:, 0])) % 360), np.arange(0, 360, 45))
    c25, s25 = TOY_MODES["25gaussians"]
    assert s25 == 0.05 and sorted(set(c25[:, 0])) == [-4, -2, 0, 2, 4] and len(c25) == 25


def make_celeba(root, n=6, header="Smiling Young", rows=None):
    (root / "img_align_celeba").mkdir(parents=True)
    for i in range(1, n + 1):
        Image.new("RGB", (89, 109), (20 * i, 100, 50)).save(root / "img_align_celeba" / f"{i:06d}.jpg")
    rows = rows if rows is not None else [f"{i:06d}.jpg {1 if i % 2 else -1} -1" for i in range(1, n + 1)]
    (root / "list_attr_celeba.txt").write_text(f"{len(rows)}\n{header}\n" + "\n".join(rows) + "\n")
    return root


def test_celeba_layout(tmp_path):
    root = make_celeba(tmp_path / "c", n=10)
    d = load_dataset("celeba", root=tmp_path, path=str(root), image_size=32)
    assert d.x.shape == (9, 3, 32, 32) and d.info.attribute_names == ("Smiling", "Young")
    assert d.attrs[:, 0].tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1] and d.attrs[:, 1].sum() == 0
    assert len(load_dataset("celeba", root=tmp_path, path=str(root), image_size=32, split="test")) == 1


@pytest.mark.parametrize("rows,fragment", [
    (["000001.jpg 1"], "line 3"),                      # too few values
    (["000001.jpg 1 0"], "not 1 or -1"),
    (["000001.jpg 1 x"], "not 1 or -1"),
])
def test_malformed_celeba_attribute_files(tmp_path, rows, fragment):
    root = make_celeba(tmp_path / "c", n=1, rows=rows)
    with pytest.raises(DataError, match=fragment):
        load_dataset("celeba", root=tmp_path, path=str(root))


def test_celeba_missing_pieces(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("celeba", root=tmp_path, path=str(tmp_path / "nope"))
    (tmp_path / "bare").mkdir()
    with pytest.raises(DataError, match="img_align_celeba"):
        load_dataset("celeba", root=tmp_path, path=str(tmp_path / "bare"))
    root = make_celeba(tmp_path / "c", n=2)
    (root / "list_attr_celeba.txt").write_text("three\nA\n")
    with pytest.raises(DataError, match="line 1"):
        load_dataset("celeba", root=tmp_path, path=str(root))


def test_real_celeba_subset(tmp_path):
    from conftest import SHARED_DATA
    folder = SHARED_DATA / "celeba-10k"
    if not folder.is_dir():
        pytest.skip(f"no CelebA subset at {folder} (CI provides ../shared/data)")
    d = load_dataset("celeba", root=tmp_path, path=str(folder), limit=200)
    assert d.x.shape == (180, 3, 64, 64) and len(d.info.attribute_names) == 40
    assert "Smiling" in d.info.attribute_names and 0.2 < d.attrs[:, d.info.attribute_names.index("Male")].mean() < 0.8


def test_image_folder_with_attributes_and_junk(tmp_path):
    base = tmp_path / "imgs"
    (base / "sub").mkdir(parents=True)
    for i in range(5):
        Image.new("RGB", (40, 30), (i * 40, 0, 0)).save(base / ("sub" if i % 2 else ".") / f"{i}.png")
    (base / "broken.jpg").write_bytes(b"not an image at all")
    (base / "attributes.csv").write_text("filename,Red\n0.png,0\nsub/1.png,1\n2.png,0\nsub/3.png,1\n4.png,1\n"
                                         "broken.jpg,0\n")
    d = load_dataset("folder", root=tmp_path, path=str(base), image_size=32)
    assert d.x.shape[1:] == (3, 32, 32) and d.info.attribute_names == ("Red",)
    assert d.info.options["skipped"] == 1  # the broken file is skipped, not fatal
    gray = load_dataset("folder", root=tmp_path, path=str(base), image_size=32, channels=1)
    assert gray.x.shape[1] == 1


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_dataset("folder", root=tmp_path, path=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="--data-path"):
        load_dataset("folder", root=tmp_path)
    (tmp_path / "bad").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "bad" / "a.png")
    (tmp_path / "bad" / "attributes.csv").write_text("filename,A\na.png,2\n")
    with pytest.raises(DataError, match="line 2"):
        load_dataset("folder", root=tmp_path, path=str(tmp_path / "bad"))


def test_unknown_names_and_options():
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(ConfigError, match="no option"):
        load_dataset("toy2d", colour="red")
    with pytest.raises(ConfigError, match="unknown 2-D distribution"):
        load_dataset("toy2d", distribution="spiral")
    with pytest.raises(ConfigError, match="split"):
        load_dataset("toy2d", split="valid")

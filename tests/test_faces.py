"""Synthetic faces: shapes, determinism, the correlation knob, exact labels (checked on pixels), cache, errors."""
import numpy as np
import pytest
import torch

from explorer.data import faces
from explorer.data.faces import (ATTRIBUTES, attribute_correlation_matrix, load_faces, render_faces,
                                 sample_attributes)
from explorer.errors import DataError

S = 64  # pixel checks run at 64px, where regions are a few pixels wide even after pose jitter
IDX = {name: j for j, name in enumerate(ATTRIBUTES)}


def luma(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114])


def toggle(name: str, n: int = 32, seed: int = 3, **force: int) -> tuple[np.ndarray, np.ndarray]:
    """The same n faces (random other attributes, same nuisance) with `name` off and on: float n x S x S x 3."""
    base = sample_attributes(n, 0.0, seed)
    for k, v in force.items():
        base[:, IDX[k]] = v
    off, on = base.copy(), base.copy()
    off[:, IDX[name]], on[:, IDX[name]] = 0, 1
    off_img, on_img = (render_faces(a, S, seed).transpose(0, 2, 3, 1).astype(float) for a in (off, on))
    # nuisance never depends on attributes: the background corner is untouched
    assert np.array_equal(off_img[:, 0, 0], on_img[:, 0, 0])
    return off_img, on_img


def region(x: np.ndarray, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    """Crop n x S x S x 3 images to a box given in fractions of the image."""
    return x[:, int(y0 * S):int(y1 * S), int(x0 * S):int(x1 * S)]


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).mean(axis=(1, 2, 3))


# --- attributes and the correlation knob ---

def test_attribute_names():
    for name in ("Sunglasses", "Smiling", "Beard", "Hat", "Long_Hair", "Blond_Hair", "Wide_Face"):
        assert name in ATTRIBUTES


@pytest.mark.parametrize("c", [0.0, 0.3, 0.5, 0.8, 0.95, 0.999])
def test_correlation_matrix_is_a_psd_correlation_matrix(c):
    m = attribute_correlation_matrix(c)
    assert m.shape == (len(ATTRIBUTES), len(ATTRIBUTES))
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert np.linalg.eigvalsh(m).min() >= -1e-10


def test_correlation_matrix_signs():
    np.testing.assert_allclose(attribute_correlation_matrix(0.0), np.eye(len(ATTRIBUTES)))
    m = attribute_correlation_matrix(0.8)
    assert m[IDX["Beard"], IDX["Wide_Face"]] > 0.5
    assert m[IDX["Sunglasses"], IDX["Hat"]] > 0.5
    assert m[IDX["Beard"], IDX["Long_Hair"]] < -0.5
    assert m[IDX["Smiling"]].sum() == 1.0  # Smiling stays independent of everything


def test_sampled_attributes_follow_the_knob():
    ind, cor = (sample_attributes(20000, c, seed=0).astype(float) for c in (0.0, 0.8))
    assert ind.shape == (20000, len(ATTRIBUTES)) and set(np.unique(ind)) == {0.0, 1.0}
    off_diag = np.corrcoef(ind.T)[~np.eye(len(ATTRIBUTES), dtype=bool)]
    assert np.abs(off_diag).max() < 0.05
    r = np.corrcoef(cor.T)
    assert r[IDX["Beard"], IDX["Wide_Face"]] > 0.3
    assert r[IDX["Sunglasses"], IDX["Hat"]] > 0.3
    assert r[IDX["Beard"], IDX["Long_Hair"]] < -0.3
    for a in (ind, cor):  # every attribute has plenty of positives at any correlation
        assert ((a.mean(0) > 0.25) & (a.mean(0) < 0.6)).all(), a.mean(0)


def test_sample_attributes_is_deterministic():
    np.testing.assert_array_equal(sample_attributes(100, 0.5, 7), sample_attributes(100, 0.5, 7))
    assert not np.array_equal(sample_attributes(100, 0.5, 7), sample_attributes(100, 0.5, 8))


# --- rendering ---

@pytest.mark.parametrize("size", [32, 64])
def test_render_shapes_and_dtype(size):
    x = render_faces(sample_attributes(5, 0.0, 0), size, seed=0)
    assert x.shape == (5, 3, size, size) and x.dtype == np.uint8
    assert x.std() > 20  # not a blank image


def test_render_is_deterministic_and_independent_of_chunking():
    a = sample_attributes(faces.CHUNK + 12, 0.0, 1)   # two chunks
    serial = render_faces(a, 32, seed=5, workers=1)
    np.testing.assert_array_equal(serial, render_faces(a, 32, seed=5, workers=2))
    # face i depends only on (seed, i, its attributes), not on how many faces are rendered
    np.testing.assert_array_equal(serial[:10], render_faces(a[:10], 32, seed=5))
    assert not np.array_equal(serial[:10], render_faces(a[:10], 32, seed=6))


def test_render_rejects_bad_attrs():
    with pytest.raises(DataError):
        render_faces(np.zeros((3, 2)), 32)
    with pytest.raises(DataError):
        render_faces(np.zeros((3, len(ATTRIBUTES))), 48)


# --- labels are exact: each attribute visibly changes its own region, on every face ---

def test_sunglasses_darken_the_eyes():
    off, on = toggle("Sunglasses")
    drop = luma(region(off, .42, .52, .32, .68)).mean((1, 2)) - luma(region(on, .42, .52, .32, .68)).mean((1, 2))
    assert drop.min() > 25 and drop.mean() > 50, drop


def test_beard_covers_the_chin():
    off, on = toggle("Beard")
    assert mean_abs_diff(region(off, .68, .76, .4, .6), region(on, .68, .76, .4, .6)).min() > 12


def test_hat_covers_the_top_of_the_head():
    off, on = toggle("Hat")
    assert mean_abs_diff(region(off, .08, .38, .3, .7), region(on, .08, .38, .3, .7)).min() > 20


def test_smile_changes_the_mouth():
    off, on = toggle("Smiling")
    assert mean_abs_diff(region(off, .6, .7, .4, .6), region(on, .6, .7, .4, .6)).min() > 10


def test_long_hair_falls_beside_the_neck():
    off, on = toggle("Long_Hair")
    left, right = (.65, .85, .25, .31), (.65, .85, .69, .75)   # just outside the neck, below the ears
    diff = [mean_abs_diff(region(off, *box), region(on, *box)) for box in (left, right)]
    assert np.minimum(*diff).min() > 10


def test_blond_hair_is_light():
    off, on = toggle("Blond_Hair", Long_Hair=1, Hat=0)   # long hair is never bald, so the hair shows on top
    gain = luma(region(on, .22, .32, .4, .6)).mean((1, 2)) - luma(region(off, .22, .32, .4, .6)).mean((1, 2))
    assert gain.min() > 40, gain


def skin_width(images: np.ndarray, tol: float = 30) -> np.ndarray:
    """Per image: the widest horizontal run of the centre pixel's colour, over rows through the cheeks."""
    widths = []
    for im in images:
        best = 0
        for row in im[int(.45 * S):int(.7 * S)]:
            same = np.abs(row - row[S // 2]).max(1) <= tol
            left = S // 2 - np.argmin(same[:S // 2][::-1]) if not same[:S // 2].all() else 0
            right = S // 2 + np.argmin(same[S // 2:]) if not same[S // 2:].all() else S
            best = max(best, right - left)
        widths.append(best)
    return np.array(widths)


def test_wide_face_widens_the_skin():
    off, on = toggle("Wide_Face", Beard=0)   # a beard would hide the cheeks
    narrow, wide = skin_width(off), skin_width(on)
    assert (wide - narrow).min() >= 5, (narrow, wide)
    assert (narrow > 0.25 * S).all() and (wide < 0.75 * S).all()


# --- load_faces ---

def test_load_faces_shapes_and_info():
    d = load_faces(None, n=12, correlation=0.5, seed=2)
    assert d.x.shape == (12, 3, 32, 32) and d.x.dtype == torch.uint8
    assert d.attrs.shape == (12, len(ATTRIBUTES)) and d.attrs.dtype == torch.float32
    assert set(d.attrs.unique().tolist()) <= {0.0, 1.0}
    assert (d.y == -1).all()
    assert d.info.name == "faces" and d.info.kind == "image" and d.info.shape == (3, 32, 32)
    assert d.info.attribute_names == ATTRIBUTES and d.info.options["correlation"] == 0.5
    x, y, a = d.get_batch(torch.arange(4))
    assert x.shape == (4, 3, 32, 32) and -1 <= x.min() and x.max() <= 1


def test_load_faces_is_deterministic_and_splits_differ():
    a, b = load_faces(None, n=8, seed=1), load_faces(None, n=8, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.attrs, b.attrs)
    t = load_faces(None, split="test", n=8, seed=1)
    assert not torch.equal(a.x, t.x)
    assert load_faces(None, n=8, image_size=64).x.shape == (8, 3, 64, 64)


def test_cache_round_trip(tmp_path, monkeypatch):
    first = load_faces(tmp_path, n=10, correlation=0.8, seed=4)
    files = list((tmp_path / "faces-cache").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "faces-cache").glob("*.tmp"))

    def no_render(*args, **kwargs):
        raise AssertionError("should have read the cache")
    monkeypatch.setattr(faces, "render_faces", no_render)
    second = load_faces(tmp_path, n=10, correlation=0.8, seed=4)
    assert torch.equal(first.x, second.x) and torch.equal(first.attrs, second.attrs)
    with pytest.raises(AssertionError):   # any other parameter is another cache entry
        load_faces(tmp_path, n=10, correlation=0.7, seed=4)


def test_unwritable_root_just_skips_the_cache(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    assert load_faces(blocker, n=4).x.shape == (4, 3, 32, 32)


@pytest.mark.parametrize("kwargs", [{"image_size": 48}, {"correlation": 1.5}, {"correlation": -0.1},
                                    {"correlation": 1.0}, {"split": "val"}, {"n": 0}])
def test_bad_inputs_raise_data_error(kwargs):
    with pytest.raises(DataError) as e:
        load_faces(None, **{"n": 4, **kwargs})
    assert "\n" not in str(e.value)

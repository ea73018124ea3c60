import numpy as np
import pytest
import torch

from explorer.errors import ConfigError
from explorer.latent import interpolate_path, lerp, slerp, truncate
from explorer.metrics.coverage import mode_coverage
from explorer.metrics.frechet import fd_between, frechet_distance


def test_lerp_and_slerp_hit_their_endpoints():
    a, b = torch.randn(16), torch.randn(16)
    t = torch.tensor([0.0, 1.0])
    for f in (lerp, slerp):
        out = f(a, b, t)
        assert torch.allclose(out[0], a, atol=1e-5) and torch.allclose(out[1], b, atol=1e-5)


def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(512, generator=g), torch.randn(512, generator=g)
    mid = torch.tensor([0.5])
    assert slerp(a, b, mid)[0].norm() == pytest.approx((a.norm() + b.norm()).item() / 2, rel=1e-4)
    assert lerp(a, b, mid)[0].norm() < 0.8 * a.norm()


def test_path_through_several_points():
    pts = torch.randn(3, 8)
    path = interpolate_path(pts, 5, "lerp")
    assert path.shape == (5, 8)
    assert torch.allclose(path[0], pts[0]) and torch.allclose(path[2], pts[1]) and torch.allclose(path[4], pts[2])
    with pytest.raises(ConfigError):
        interpolate_path(pts, 5, "cubic")
    with pytest.raises(ConfigError):
        interpolate_path(pts[:1], 5)


def test_truncation_bounds_and_is_reproducible():
    z = torch.randn(100, 32) * 3
    t1, t2 = truncate(z, 1.0, seed=3), truncate(z, 1.0, seed=3)
    assert t1.abs().max() <= 1.0 and torch.equal(t1, t2)
    small = z.abs() <= 1.0
    assert torch.equal(t1[small], z[small])  # entries already inside are kept
    assert torch.equal(truncate(z, None), z)
    with pytest.raises(ConfigError):
        truncate(z, -1.0)


def test_frechet_distance_closed_form():
    d = 4
    assert frechet_distance(np.zeros(d), np.eye(d), np.zeros(d), np.eye(d)) == pytest.approx(0.0, abs=1e-9)
    # N(0, I) vs N(m, 4I): |m|^2 + tr(I + 4I - 2*2I) = |m|^2 + d
    m = np.array([1.0, 2.0, 0.0, 0.0])
    assert frechet_distance(np.zeros(d), np.eye(d), m, 4 * np.eye(d)) == pytest.approx(5.0 + d)
    rs = np.random.RandomState(0)
    x = rs.randn(4000, 3)
    assert fd_between(x, x + 3.0) == pytest.approx(27.0, rel=1e-6)


def test_mode_coverage_counts_modes_and_quality():
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    rs = np.random.RandomState(0)
    two_modes = np.concatenate([rs.randn(1000, 2) * 0.05, rs.randn(1000, 2) * 0.05 + [5, 0]])
    r = mode_coverage(two_modes, centres, std=0.05)
    assert r["modes_captured"] == 2 and r["modes_total"] == 3 and r["high_quality"] > 0.97
    r = mode_coverage(rs.uniform(-10, 10, (2000, 2)), centres, std=0.05)
    assert r["high_quality"] < 0.05


def stroke(width: int, shear: float) -> torch.Tensor:
    """A vertical bar of `width` pixels, sheared so its top moves right by `shear` px per row upwards."""
    img = -torch.ones(1, 1, 28, 28)
    for r in range(4, 24):
        c = int(round(14 + shear * (14 - r)))
        img[0, 0, r, c - width // 2: c - width // 2 + width] = 1.0
    return img


def test_stroke_features_measure_slant_and_thickness():
    from explorer.metrics.strokes import slant, thickness
    upright, leaning = stroke(2, 0.0), stroke(2, 0.4)
    assert abs(slant(upright).item()) < 0.05 and slant(leaning).item() > 0.3
    assert slant(stroke(2, -0.4)).item() < -0.3
    thin, thick = thickness(stroke(2, 0.0)).item(), thickness(stroke(5, 0.0)).item()
    assert thick > 1.8 * thin


def test_width_is_the_digits_breadth_with_its_slant_taken_out():
    from explorer.metrics.strokes import width
    narrow, wide = width(stroke(2, 0.0)).item(), width(stroke(8, 0.0)).item()
    assert wide > 3 * narrow
    # a leaning bar spreads over more columns, but it is no wider a shape
    assert width(stroke(2, 0.4)).item() == pytest.approx(narrow, abs=0.3)
    assert width(stroke(2, -0.4)).item() == pytest.approx(narrow, abs=0.3)
    spread = (stroke(2, 0.4)[0, 0] > 0).any(0).sum().item()
    assert spread > 6


def test_a_code_sweep_keeps_the_digit_only_where_the_digit_stays():
    """InfoGAN's sweep metric on a stand-in generator whose picture is the categorical value, shifted to the next
    class where c1 > 0: c1's sweep over [-2, 2] keeps the class on its 5 values <= 0 of 9, c2's on all."""
    import torch.nn.functional as F
    from torch import nn
    from explorer.metrics.evaluate import _sweeps_keep_class
    from explorer.models import GeneratorModel, ModelConfig

    class Stand(nn.Module):
        def forward(self, z, cond):
            k = cond[:, :10].argmax(1) + (cond[:, 10] > 0).long()
            return (k % 10).float()[:, None, None, None].expand(-1, 1, 28, 28) / 10

    class Judge(nn.Module):
        def forward(self, x):
            return F.one_hot((x.mean((1, 2, 3)) * 10).round().long(), 10).float()

    model = GeneratorModel(Stand(), ModelConfig(arch="infogan", z_dim=4, shape=(1, 28, 28), cat_codes=10,
                                                cont_codes=2))
    out = _sweeps_keep_class(model, Judge(), {k: k for k in range(10)}, n_z=3)
    assert out["continuous_sweep_keeps_class"] == {"c1": round(5 / 9, 4), "c2": 1.0}

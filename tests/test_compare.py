"""GAN vs VAE: the sharpness measure, the Compare service's pictures and table, and its refusals."""
import pytest
import torch
import torch.nn.functional as F

from explorer.errors import ConfigError, ExplorerError
from explorer.metrics.sharpness import laplacian_variance, mean_sharpness
from ui_helpers import make_faces, make_model, make_vae


def test_sharpness_falls_when_a_picture_is_blurred():
    g = torch.Generator().manual_seed(0)
    sharp = (torch.rand(4, 3, 32, 32, generator=g) > 0.5).float() * 2 - 1      # hard edges everywhere
    blurred = F.avg_pool2d(F.pad(sharp, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert torch.all(laplacian_variance(blurred) < 0.5 * laplacian_variance(sharp))
    assert mean_sharpness(torch.zeros(2, 1, 28, 28)) == 0                        # flat: no detail at all
    # by hand: one bright pixel (grey 1) in a dark picture: the Laplacian is -4 there and 1 at its 4 neighbours
    dot = -torch.ones(1, 1, 5, 5)
    dot[0, 0, 2, 2] = 1
    lap = torch.tensor([0, 1, 0, 1, -4, 1, 0, 1, 0], dtype=torch.float32)     # the 3 x 3 valid region
    assert laplacian_variance(dot).item() == pytest.approx(lap.var().item())
    with pytest.raises(ValueError, match="N x C x H x W"):
        laplacian_variance(torch.zeros(3, 32, 32))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """'faces' (an untrained GAN on correlated faces), 'faces-vae' (a VAE of the same data and z_dim),
    'other-vae' (a VAE of the independent faces), 'digits' (a GAN of other data), a 'judge'."""
    from explorer.services import Services
    root = make_faces(tmp_path_factory.mktemp("cmp"))
    make_vae(root, "faces-vae")
    make_vae(root, "other-vae", correlation=0.0, z_dim=8)
    make_model(root / "digits", 0, z_dim=16)
    return Services.open(root, training=False).compare


def test_the_vae_finds_its_gan_and_the_pair_is_checked(pair):
    gans, vaes = pair.choices()
    assert set(gans) == {"faces", "digits"} and set(vaes) == {"faces-vae", "other-vae"}
    assert pair.partner("faces-vae") == "faces"          # same data, same z_dim
    assert pair.partner("other-vae") is None             # nobody drew the independent faces with z_dim 8
    assert pair.vae_for("faces") == "faces-vae"          # the VAE of its very terms, before other-vae's
    assert pair.vae_for("digits") is None                # no VAE drew digits here
    assert pair.same_terms("faces", "faces-vae") == "Same data, same z_dim."
    assert "z_dim differs (16 vs 8)" in pair.same_terms("faces", "other-vae")
    for gan, vae, message in (("faces-vae", "faces-vae", "is a VAE: pick a GAN"),
                              ("faces", "faces", "is not a VAE"),
                              ("digits", "faces-vae", "trained on different data"),
                              ("", "faces-vae", "pick a GAN and a VAE")):
        with pytest.raises(ConfigError, match=message):
            pair.check_pair(gan, vae)
    with pytest.raises(ExplorerError, match="unknown model|no model"):
        pair.check_pair("nope", "faces-vae")


def test_same_seeds_same_z_and_a_gan_cannot_reconstruct(pair):
    g_img, v_img = pair.samples("faces", "faces-vae", [1, 2, 3])
    assert g_img.size == v_img.size and g_img.size[0] > 2.5 * g_img.size[1]     # one row of three
    with pytest.raises(ConfigError, match="same z_dim"):
        pair.samples("faces", "other-vae", [1, 2])
    with pytest.raises(ConfigError, match="is a GAN: it has no encoder of its own, so it cannot reconstruct"):
        pair.encode("faces", torch.zeros(1, 3, 32, 32))
    rec = pair.reconstructions("faces", "faces-vae", [0, 1, 2, 3])
    assert set(rec["errors"]) == {"vae"} and rec["errors"]["vae"] > 0     # the GAN here has no inversion encoder
    # the VAE's reconstruction is its decoder on its encoder's mean: recomputed by hand
    x = pair.real("faces-vae")[:4]
    v = pair.models.get("faces-vae")
    with torch.no_grad():
        by_hand = float((v.generate(pair.encode("faces-vae", x)) - x).pow(2).mean())
    assert rec["errors"]["vae"] == pytest.approx(by_hand, rel=1e-5)
    for bad in (-1, 10_000, 2.5, float("nan")):
        with pytest.raises(ConfigError, match="held-out picture"):
            pair.reconstructions("faces", "faces-vae", [bad])


def test_interpolation_walks_both_between_two_held_out_pictures(pair):
    got = pair.interpolation("faces", "faces-vae", 0, 5, steps=6)
    w, h = got["image"].size
    assert w > 1.5 * h                                  # three rows of six
    assert "no encoder yet" in got["note"]             # the GAN's search started from random z, and says so


def test_the_table_measures_every_row_and_says_why(pair):
    rows = pair.table("faces", "faces-vae", n=200)

    def by(start):
        (row,) = [r for r in rows if r["row"].startswith(start)]
        return row
    assert len(rows) == 6 and all(r["why"] for r in rows)
    assert by("Bound on log p")["GAN"] == "not available"
    assert float(by("Bound on log p")["VAE"]) < 0                          # minus (reconstruction + KL) nats
    assert float(by("Frechet distance on judge's features")["GAN"]) >= 0
    assert float(by("Sharpness")["VAE"]) >= 0 and "data:" in by("Sharpness")["row"]
    assert by("An encoder")["VAE"] == "yes, one pass"
    assert "not measured" in by("Disentanglement against the true factors")["GAN"]
    with pytest.raises(ConfigError, match="number of pictures"):
        pair.table("faces", "faces-vae", n=5)

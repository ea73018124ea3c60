"""Direction methods on a generator and judge whose answers are known in closed form."""
import shutil

import numpy as np
import pytest
import torch

from explorer.errors import ConfigError
from explorer.latent import directions as D
from explorer.latent.edit import (clamp_strength, compute_directions, get_direction, judge_directions, pick_pc,
                                  rename_pc)
from explorer.models import GeneratorModel, ModelConfig, build_generator
from conftest import SHARED_DATA, run_cli

Z = 16


class LinearNet(torch.nn.Module):
    """'Images' are z itself, as a 1 x 4 x 4 picture: every effect is linear and exact."""

    def forward(self, z, cond=None):
        return z.view(-1, 1, 4, 4)

    def early_features(self, z, cond=None):   # every generator net names the layer GANSpace reads
        return z


def judge_with(weights: torch.Tensor) -> torch.nn.Module:
    lin = torch.nn.Linear(Z, weights.shape[0], bias=False)
    lin.weight.data = weights
    return torch.nn.Sequential(torch.nn.Flatten(), lin).eval()


@pytest.fixture
def entangled():
    """Attribute 0 and attribute 1 read overlapping z-directions (entangled); attribute 2 is separate."""
    e = torch.eye(Z)
    w = torch.stack([e[0] + e[1], e[1] + e[2], e[5]]) * 2.0
    cfg = ModelConfig(arch="mlp", z_dim=Z, shape=(1, 4, 4))
    model = GeneratorModel(LinearNet(), cfg, attributes=("A", "B", "C"), name="linear")
    return model, judge_with(w), w


def test_gradient_direction_is_the_judges_weight_vector(entangled):
    model, judge, w = entangled
    grads = D.logit_gradients(model, judge, n=8)
    d = D.gradient_direction(grads, 0)
    assert torch.allclose(d, w[0] / w[0].norm(), atol=1e-6)


def test_penalized_and_conditional_cut_the_side_effect(entangled):
    model, judge, w = entangled
    grads = D.logit_gradients(model, judge, n=8)
    plain = D.gradient_direction(grads, 0)
    pen = D.penalized_direction(grads, 0, weight=10.0)
    def side(d):
        return abs((w[1] @ d).item()) / (w[0] @ d).item()  # change of B per unit change of A
    assert side(pen) < 0.3 * side(plain)
    assert torch.allclose(D.penalized_direction(grads, 0, weight=0.0), plain, atol=1e-6)
    normals = torch.nn.functional.normalize(w, dim=1)
    cond = D.conditional_direction(normals, 0, [1])
    assert abs((normals[1] @ cond).item()) < 1e-5 and (normals[0] @ cond).item() > 0.5
    cond2 = D.conditional_direction(normals, 0, [1, 2])
    assert abs((normals[1] @ cond2).item()) < 1e-5 and abs((normals[2] @ cond2).item()) < 1e-5
    with pytest.raises(ConfigError):
        D.penalized_direction(grads, 0, weight=-1)


def test_boundary_recovers_a_known_normal():
    rs = np.random.RandomState(0)
    z = rs.randn(3000, Z).astype(np.float32)
    true = np.zeros(Z)
    true[3], true[7] = 0.6, 0.8
    labels = (z @ true > 0.2).astype(np.float32)[:, None]
    n = D.boundary_normals(z, labels)[0]
    assert n @ true > 0.97 and abs(np.linalg.norm(n) - 1) < 1e-5


@pytest.mark.parametrize("arch", ["dcgan", "infogan"])
def test_pca_directions_are_unit_vectors_of_a_real_generator(arch):
    cfg = ModelConfig(arch=arch, z_dim=Z, width=8)
    torch.manual_seed(0)
    model = GeneratorModel(build_generator(cfg), cfg)
    pcs = D.pca_directions(model, k=4, n=300)
    assert pcs.shape == (4, Z) and torch.allclose(pcs.norm(dim=1), torch.ones(4), atol=1e-5)


@pytest.mark.parametrize("arch", ["dcgan", "infogan", "mlp"])
def test_sefa_finds_the_directions_the_first_layer_stretches_most(arch):
    """SeFa's rows are orthonormal, sorted by how much the first layer stretches them, and no random unit
    direction is stretched more than the first; the map it factorises is what the first layer does to z."""
    shape = (1, 28, 28) if arch != "mlp" else (2,)
    cfg = ModelConfig(arch=arch, z_dim=Z, width=8, shape=shape, num_classes=3)
    torch.manual_seed(0)
    net = build_generator(cfg)
    model = GeneratorModel(net, cfg)
    rows = D.sefa_directions(model, k=5)
    assert rows.shape == (5, Z) and torch.allclose(rows @ rows.T, torch.eye(5), atol=1e-5)
    a = D.first_layer_map(net, Z)
    stretch = (rows @ a.T).norm(dim=1)
    assert torch.all(stretch[:-1] >= stretch[1:] - 1e-6)
    rand = torch.randn(200, Z)
    assert ((rand / rand.norm(dim=1, keepdim=True)) @ a.T).norm(dim=1).max() <= stretch[0] + 1e-5
    first = next(m for m in net.modules() if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d)))
    z = torch.randn(4, Z)
    zc = torch.cat([z, torch.zeros(4, 3)], 1)
    out = first(zc) if isinstance(first, torch.nn.Linear) else first(zc[:, :, None, None])
    bias = 0 if first.bias is None else (first(torch.zeros_like(zc)) if isinstance(first, torch.nn.Linear)
                                         else first(torch.zeros_like(zc)[:, :, None, None]))
    assert torch.allclose((out - bias).flatten(1), z @ a.T, atol=1e-5)


def test_compute_and_judge_all_methods(entangled):
    model, judge, _ = entangled
    dirs = compute_directions(model, judge, list("ABC"), n_grad=16, n_boundary=600, pca_k=2)
    for method in ("gradient", "penalized", "boundary", "conditional"):
        for a in "ABC":
            assert torch.isfinite(get_direction(dirs, method, a, model, list("ABC"))).all()
    results = judge_directions(model, dirs, judge, ["A", "B", "C"], list("ABC"), n_seeds=16)
    row = {(r["attribute"], r["method"]): r for r in results}
    g, c = row[("A", "gradient")], row[("A", "conditional")]
    assert g["target_before"] < 0.2 and g["target_after"] > 0.8
    assert c["strength_to_flip"] is not None and c["side_effect"] < g["side_effect"]
    # C reads a z-axis no other attribute reads: its gradient edit changes nothing else, while a random step
    # of the same length moves A and B
    sep = row[("C", "gradient")]
    assert sep["side_effect"] < 0.01 < sep["random_side_effect"]
    assert all(r["random_side_effect"] >= 0 for r in results if r["strength_to_flip"] is not None)


def test_another_penalty_weight_refinds_only_the_penalized_directions(entangled):
    from explorer.latent.edit import with_penalty
    model, judge, w = entangled
    dirs = compute_directions(model, judge, list("ABC"), n_grad=16, n_boundary=600, pca_k=2)
    assert with_penalty(dirs, model, judge, list("ABC"), 1.0) is dirs      # the saved weight: nothing to do
    heavy = with_penalty(dirs, model, judge, list("ABC"), 30.0)
    def side(d):
        return abs((w[1] @ d).item()) / (w[0] @ d).item()                   # change of B per unit change of A
    assert side(heavy["penalized/A"]) < 0.5 * side(dirs["penalized/A"])
    assert all(torch.equal(heavy[k], v) for k, v in dirs.items() if not k.startswith("penalized/"))


def test_bad_direction_requests(entangled):
    model, judge, _ = entangled
    dirs = {"gradient/A": torch.ones(Z)}
    with pytest.raises(ConfigError, match="unknown method"):
        get_direction(dirs, "magic", "A", model, list("ABC"))
    with pytest.raises(ConfigError, match="unknown attribute 'Moustache'"):
        get_direction(dirs, "gradient", "Moustache", model, list("ABC"))
    with pytest.raises(ConfigError, match="lack boundary/A: recompute"):
        get_direction(dirs, "boundary", "A", model, list("ABC"))
    assert clamp_strength(1e6) == (10.0, True) and clamp_strength(-2.0) == (-2.0, False)
    with pytest.raises(ConfigError):
        clamp_strength(float("nan"))
    plain = GeneratorModel(LinearNet(), ModelConfig(arch="mlp", z_dim=Z, shape=(1, 4, 4)), name="plain")
    with pytest.raises(ConfigError, match="no attributes"):
        compute_directions(plain, judge, [])


def test_the_pca_method_walks_a_named_pc_or_the_closest_one(entangled):
    e = torch.eye(Z)
    pcs = torch.stack([e[3], -(e[0] + e[1]) / 2 ** 0.5, e[5]])   # pc1 is A's weight vector, flipped
    dirs = {"pca": pcs, "gradient/A": torch.nn.functional.normalize(e[0] + e[1], dim=0), "gradient/C": e[5]}
    k, sign, why = pick_pc(dirs, "A", list("ABC"), {})
    assert (k, sign) == (1, -1.0) and "closest to A" in why and "cosine 1.00" in why
    assert torch.allclose(get_direction(dirs, "pca", "A", entangled[0], list("ABC")), dirs["gradient/A"])
    assert pick_pc(dirs, "A", list("ABC"), {"pc2": "A"})[:2] == (2, 1.0)      # a person's name wins
    assert pick_pc(dirs, "C", list("ABC"), {"pc2": "C", "pc1": "A"})[:2] == (2, 1.0)
    assert pick_pc(dirs, "A", list("ABC"), {"pc2": "C", "pc1": "A"})[:2] == (1, -1.0)  # walked the way adding A
    assert pick_pc(dirs, "glasses", list("ABC"), {"pc0": "glasses"})[0] == 0  # names need not be attributes
    assert torch.equal(get_direction(dirs, "pca", "pc2", entangled[0], list("ABC")), e[5])
    with pytest.raises(ConfigError, match="pc0 to pc2, not pc7"):
        pick_pc(dirs, "pc7", list("ABC"), {})
    with pytest.raises(ConfigError, match="unknown attribute 'Moustache' for pca"):
        pick_pc(dirs, "Moustache", list("ABC"), {"pc0": "glasses"})


def test_naming_principal_directions_checks_the_name():
    named = rename_pc({}, 3, "  Smiling   wide ", 10)
    assert named == {"pc3": "Smiling wide"}                       # whitespace tidied
    assert rename_pc(named, 3.0, "", 10) == {}                     # empty clears (a slider gives floats)
    assert rename_pc(named, 3, "Beard", 10) == {"pc3": "Beard"}    # renaming replaces
    for k, label, msg in ((10, "x", "pc0 to pc9, not pc10"), (-1, "x", "not pc-1"), (2.5, "x", "not pc2.5"),
                          ("two", "x", "not pctwo"), (1, "y" * 41, "at most 40"), (1, "a\x00b", "printable"),
                          (1, "pc4", "before it has a name"), (1, "Smiling wide", "pc3 is already called")):
        with pytest.raises(ConfigError, match=msg):
            rename_pc(named, k, label, 10)


@pytest.fixture(scope="module")
def tiny_faces(tmp_path_factory):
    """An untrained 32x32 generator with the faces' attributes and an untrained judge, saved as checkpoints."""
    from ui_helpers import make_faces
    return make_faces(tmp_path_factory.mktemp("ck"), z_dim=Z)


def test_studio_edits_meter_matrices_and_arithmetic(tiny_faces):
    from explorer.services.directions import DirectionStudio
    from explorer.services.pixels import ModelCache
    from explorer.ui.directions import meter_frame
    studio = DirectionStudio(ModelCache(tiny_faces), tiny_faces)
    img, table, clamped, used = studio.edits("faces", "Hat", ["gradient", "conditional", "pca"], 50.0, [1, 2, 3])
    assert clamped and used == 10.0
    assert img.size[1] > 3 * img.size[0] / 3 / 2  # 4 rows (originals + 3 methods) of 3 faces
    assert {r["method"] for r in table} == {"original", "gradient", "conditional", "pca"}
    assert len(table) == 4 * 7 and all(0 <= r["probability"] <= 1 for r in table)
    frame, order = meter_frame(table)  # the meter draws every (attribute, method) as its own bar, none stacked
    assert frame["bar"].is_unique and sorted(order) == sorted(frame["bar"])
    assert len({frame.set_index("bar").loc[b, "attribute"] for b in order[:4]}) == 1  # grouped by attribute
    assert frame.set_index("bar").loc["Hat · cond", "probability"] == next(
        r["probability"] for r in table if r["attribute"] == "Hat" and r["method"] == "conditional")
    ent = studio.entanglement("faces", "gradient", n=8)
    diag = np.diag(ent["matrix"])
    assert ent["matrix"].shape == (7, 7) and np.allclose(diag[np.isfinite(diag)], 1.0)
    corr = studio.data_correlation("faces")["matrix"]
    names = list(studio.models.get("faces").attributes)
    assert corr[names.index("Sunglasses"), names.index("Hat")] > 0.3  # the data's correlation, re-sampled
    assert studio.cosines("faces", "gradient", "gradient")["matrix"].diagonal() == pytest.approx(np.ones(7), abs=1e-5)
    z_fake = np.random.RandomState(0).randn(400, Z).astype(np.float32)
    studio._cache["faces"]["arith"] = (z_fake, np.repeat((z_fake[:, :1] > 0).astype(np.float32), 7, 1))
    assert studio.vector_arithmetic("faces", "Beard", 3, 2.0).width > 0   # with: z[0] > 0; without: z[0] < 0
    studio._cache["faces"]["arith"] = (z_fake, np.zeros((400, 7), np.float32))
    with pytest.raises(ConfigError, match="no difference of means"):
        studio.vector_arithmetic("faces", "Beard", 3, 2.0)
    assert (tiny_faces / "faces" / "directions.safetensors").exists() is False  # computed lazily, kept in memory
    assert "saved beside the model" in studio.recompute("faces")
    assert (tiny_faces / "faces" / "directions.safetensors").exists()


def test_studio_walks_and_names_principal_directions(tiny_faces, monkeypatch):
    import json
    from explorer.services import directions as S
    from explorer.services.pixels import ModelCache
    studio = S.DirectionStudio(ModelCache(tiny_faces), tiny_faces)
    assert studio.pc_count("faces") == 10
    img, effects = studio.pc_walk("faces", 2, [1, 2, 3], 2.0)
    assert img.size[0] / img.size[1] == pytest.approx(5 / 3, rel=0.05)   # 3 seeds x 5 steps
    assert [r["attribute"] for r in effects] == list(studio.names("faces"))
    assert all(abs(r["change at +2"]) <= 1 and abs(r["change at -2"]) <= 1 for r in effects)
    assert "closest to Hat" in studio.pca_choice("faces", "Hat")
    assert "now called 'Hat'" in studio.name_pc("faces", 2, "Hat")
    assert json.loads((tiny_faces / "faces" / "pca_names.json").read_text()) == {"pc2": "Hat"}
    assert "pc2, which you named 'Hat'" in studio.pca_choice("faces", "Hat")
    fresh = S.DirectionStudio(ModelCache(tiny_faces), tiny_faces)           # the name outlives the app
    assert fresh.pc_names("faces") == {"pc2": "Hat"}
    pc2 = fresh.direction("faces", "pca", "pc2")
    hat = fresh.direction("faces", "pca", "Hat")      # pc2, turned the way that adds a hat
    assert torch.equal(hat, pc2) or torch.equal(hat, -pc2)
    assert (hat @ fresh.direction("faces", "gradient", "Hat")) >= 0
    with pytest.raises(ConfigError, match="pc0 to pc9"):
        studio.name_pc("faces", 12, "Beard")
    # SeFa's directions: walked by number, the closest one to an attribute found, aligned per attribute
    s_img, s_effects = studio.pc_walk("faces", 2, [1, 2, 3], 2.0, "sefa")
    assert s_img.size == img.size and s_img.tobytes() != img.tobytes()
    assert "sefa" in studio.pca_choice("faces", "Hat", "sefa") and "SeFa direction closest to Hat" in \
        studio.pca_choice("faces", "Hat", "sefa")
    sefa2 = studio.direction("faces", "sefa", "sefa2")
    assert torch.allclose(sefa2, D.sefa_directions(studio._entry("faces")["model"])[2])
    aligned = studio.unsupervised_alignment("faces")
    assert set(aligned) == set(studio.names("faces"))
    assert all(0 <= r[f]["cosine"] <= 1 + 1e-6 for r in aligned.values() for f in ("pca", "sefa"))
    for bad_family, bad_k, message in (("ica", 0, "unknown family"), ("sefa", 10, "number"),
                                       ("sefa", float("nan"), "number")):
        with pytest.raises(ConfigError, match=message):
            studio.pc_walk("faces", bad_k, [1], 2.0, bad_family)
    with pytest.raises(ConfigError, match="sefa0 to sefa9, not sefa12"):
        studio.direction("faces", "sefa", "sefa12")
    assert studio.pc_names("faces") == {"pc2": "Hat"}                      # a refused name changes nothing

    def read_only(*a):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(S, "save_pc_names", read_only)
    assert "kept until the app stops" in studio.name_pc("faces", 2, "")
    assert studio.pc_names("faces") == {} and "closest to Hat" in studio.pca_choice("faces", "Hat")
    (tiny_faces / "faces" / "pca_names.json").unlink()


def test_directions_cli_prints_every_method_at_equal_target_change(tiny_faces, tmp_path):
    """`directions --json` as issue 5 specifies it, its table form, and a judge that does not exist."""
    import json
    import shutil
    from conftest import assert_one_line_error, run_cli
    root = tmp_path / "ck"
    shutil.copytree(tiny_faces, root)
    (root / "faces" / "directions.safetensors").unlink(missing_ok=True)
    p = run_cli("directions", "--model", "faces", "--checkpoints", root, "--judge", "judge", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["model"] == "faces" and out["judge"] == "judge"
    assert {(r["attribute"], r["method"]) for r in out["results"]} == {
        (a, m) for a in out["cosines"] for m in ("gradient", "penalized", "boundary", "conditional")}
    keys = {"attribute", "method", "strength_to_flip", "target_before", "target_after", "side_effect",
            "random_side_effect"}
    assert all(keys <= set(r) for r in out["results"])
    for r in out["results"]:   # the untrained judge may call an attribute present everywhere: then a note says so
        assert (0 <= r["target_before"] <= 1) if r["target_before"] is not None else "below 0.2" in r["note"]
    assert (root / "faces" / "directions.safetensors").exists()   # computed once, kept beside the model
    table = run_cli("directions", "--model", "faces", "--checkpoints", root, "--judge", "judge")
    assert table.returncode == 0 and "side effect" in table.stdout.splitlines()[0]
    assert len(table.stdout.splitlines()) == 1 + len(out["results"])
    assert sum("below 0.2" in ln for ln in table.stdout.splitlines()) == sum("note" in r for r in out["results"])
    assert_one_line_error(run_cli("directions", "--model", "faces", "--checkpoints", root, "--judge", "nosuch"),
                          "nosuch")
    # another penalty weight re-finds the penalized directions only; a negative one, or saving it, is refused
    heavy = json.loads(run_cli("directions", "--model", "faces", "--checkpoints", root, "--judge", "judge",
                               "--json", "--penalty", "50").stdout)
    assert out["penalty"] == 1.0 and heavy["penalty"] == 50.0
    assert all(heavy["cosines"][a][m] == out["cosines"][a][m] for a in out["cosines"] for m in ("boundary",
                                                                                             "conditional"))
    assert_one_line_error(run_cli("directions", "--model", "faces", "--checkpoints", root, "--penalty", "-1"),
                          "penalty weight must be >= 0")
    assert_one_line_error(run_cli("directions", "--model", "faces", "--checkpoints", root, "--penalty", "5",
                                  "--save"), "drop --penalty or --save")
    # pca edits: by PC, or by attribute (the closest PC, said on stderr); a PC that does not exist is refused
    npz = tmp_path / "pca.npz"
    p = run_cli("edit", "--model", "faces", "--checkpoints", root, "--attribute", "Hat", "--method", "pca",
                "--strength", "2", "--n", "2", "--npz", npz)
    assert p.returncode == 0 and "pca walks pc" in p.stderr and "closest to Hat" in p.stderr
    assert np.load(npz)["z"].shape == (2, Z)
    assert_one_line_error(run_cli("edit", "--model", "faces", "--checkpoints", root, "--attribute", "pc99",
                                  "--method", "pca", "--npz", npz), "pc0 to pc9, not pc99")


def test_studio_explains_models_without_attributes(tiny_faces, tmp_path):
    from explorer.services.directions import NO_ATTRIBUTES, DirectionStudio
    from explorer.services.pixels import ModelCache
    from ui_helpers import make_model
    make_model(tmp_path / "digits", 10)
    studio = DirectionStudio(ModelCache(tmp_path), tmp_path)
    assert not studio.supports("digits")
    with pytest.raises(ConfigError) as e:
        studio.edits("digits", "Hat", ["gradient"], 1.0, [1, 2])
    assert str(e.value) == NO_ATTRIBUTES


@pytest.fixture(scope="module")
def tiny_digits(tmp_path_factory):
    """An untrained unconditional digits generator and an untrained 10-class digit judge, as checkpoints."""
    from explorer.models import build_classifier
    from explorer.store.checkpoint import save_checkpoint
    from explorer.store.config import TrainConfig
    from ui_helpers import make_model
    root = tmp_path_factory.mktemp("digits-ck")
    make_model(root / "digits-dcgan", 0, z_dim=Z)
    make_model(root / "digits-cdcgan", 10, z_dim=Z)
    j_cfg = TrainConfig(task="classifier", dataset="digits", model=ModelConfig(shape=(1, 28, 28)), classifier_width=8)
    torch.manual_seed(1)
    save_checkpoint(root / "digits-classifier", {"kind": "classifier", "train": j_cfg.to_dict(),
                    "dataset": {"name": "digits", "shape": [1, 28, 28], "options": {}},
                    "class_names": list("0123456789"), "attributes": []},
                    {"classifier": build_classifier("cnn", (1, 28, 28), 10, 8)})
    return root


def test_digits_are_steered_by_class_thickness_and_slant(tiny_digits):
    from explorer.latent.judges import soft_thickness
    from explorer.services.directions import DirectionStudio
    from explorer.services.pixels import ModelCache
    studio = DirectionStudio(ModelCache(tiny_digits), tiny_digits)
    names = studio.names("digits-dcgan")
    assert names == [f"digit {k}" for k in range(10)] + ["Thick", "Slanted"]
    assert not studio.supports("digits-cdcgan")     # a conditional model needs its label: not steerable here
    model = studio.models.get("digits-dcgan")
    z = model.sample_z(32, 5)
    d = studio.direction("digits-dcgan", "gradient", "Thick")
    with torch.no_grad():
        before, after = soft_thickness(model.generate(z)), soft_thickness(model.generate(z + 0.5 * d))
    assert (after - before).mean() > 0                  # the "Thick" direction thickens strokes
    img, table, _, _ = studio.edits("digits-dcgan", "digit 3", ["gradient", "conditional"], 2.0, [1, 2])
    assert {r["attribute"] for r in table} == set(names) and img.width > 0
    with pytest.raises(ConfigError, match="unknown attribute 'Hat'"):
        studio.edits("digits-dcgan", "Hat", ["gradient"], 1.0, [1, 2])


def test_the_digit_judges_logits_mean_what_they_say(tiny_digits):
    from explorer.latent.judges import DigitJudge
    from explorer.store.checkpoint import load_classifier
    clf, _ = load_classifier("digits-classifier", tiny_digits)
    judge = DigitJudge(clf)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    out = judge(x)
    p = torch.softmax(clf(x), 1)
    assert out.shape == (6, 12)
    assert torch.allclose(torch.sigmoid(out[:, :10]), p, atol=1e-5)   # log-odds: sigmoid gives back p(class)
    blank = -torch.ones(1, 1, 28, 28)
    thin, thick = blank.clone(), blank.clone()
    thin[0, 0, 4:24, 13] = 1
    thick[0, 0, 4:24, 11:16] = 1
    assert judge(thick)[0, 10] > 0 > judge(thin)[0, 10]                # wider than MNIST's median stroke: Thick
    lean = blank.clone()
    for r in range(4, 24):
        lean[0, 0, r, 20 - (r - 4) // 2: 23 - (r - 4) // 2] = 1         # top to the right
    assert judge(lean)[0, 11] > judge(thick)[0, 11]


@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").is_dir(), reason="MNIST is not in ../shared/data")
def test_stroke_references_are_mnists_medians():
    from explorer.data import load_dataset
    from explorer.latent.judges import SLANT_REF, THICK_REF, soft_thickness
    from explorer.metrics.strokes import slant
    x = load_dataset("digits", root=SHARED_DATA, split="test").x.float() / 127.5 - 1
    for ref, values in ((THICK_REF, soft_thickness(x)), (SLANT_REF, slant(x))):
        q1, med, q3 = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75])).tolist()
        assert med == pytest.approx(ref[0], abs=0.01) and (q3 - q1) / 1.349 == pytest.approx(ref[1], rel=0.02)


def test_the_card_shows_the_directions_table():
    from explorer.store.card import model_card
    d = {"model": "m", "judge": "j", "results": [
        {"attribute": "Hat", "method": "gradient", "strength_to_flip": 2.5, "target_before": 0.01,
         "target_after": 0.83, "side_effect": 0.12, "random_side_effect": 0.05},
        {"attribute": "Hat", "method": "penalized", "strength_to_flip": None, "target_before": 0.01,
         "target_after": None, "side_effect": None}],
        "cosines": {"Hat": {"penalized": 0.5, "boundary": 0.97, "conditional": 0.9}}}
    conf = {"name": "m", "summary": "s", "dataset": {"name": "faces", "shape": [3, 32, 32]},
            "metrics": {"eval": {"fd": 1.0}, "directions": d}, "provenance": {}}
    card = model_card(conf)
    assert "| Hat | gradient | 2.5 | 0.010 | 0.830 | 0.120 | 0.050 |" in card
    assert "| Hat | penalized | - | 0.010 | - | - | - |" in card   # a row saved before the random step: "-"
    assert "| Hat | 0.50 | 0.97 | 0.90 |" in card and '"fd": 1.0' in card and '"results"' not in card


def test_the_pca_row_walks_the_pc_the_status_line_names(tiny_faces):
    """The edit strip's pca row, its status line and `edit --method pca` walk one PC: here the one named Hat."""
    import torch
    from explorer.latent.edit import pick_pc
    from explorer.services.directions import DirectionStudio
    from explorer.render import grid, label_rows
    from explorer.services.pixels import ModelCache
    studio = DirectionStudio(ModelCache(tiny_faces), tiny_faces)
    studio._cache.pop("faces", None)
    e = studio._entry("faces")
    e["pc_names"] = {"pc3": "Hat"}
    assert studio.pca_choice("faces", "Hat").startswith("pc3")
    img, _, _, used = studio.edits("faces", "Hat", ["pca"], 2.0, [1, 2])
    k, sign, _ = pick_pc(studio._dirs(e), "Hat", e["names"], e["pc_names"])
    m = e["model"]
    z = torch.cat([m.sample_z(1, 1), m.sample_z(1, 2)])
    with torch.inference_mode():
        want = label_rows(grid(torch.cat([m.generate(z), m.generate(z + used * sign * studio._dirs(e)["pca"][k])]),
                               nrow=2, scale=3), ["original", "pca"])
    assert k == 3 and np.array_equal(np.asarray(img), np.asarray(want))


def test_default_seeds_lack_the_attribute(tiny_faces):
    from explorer.latent.edit import probabilities
    from explorer.services.directions import DirectionStudio
    from explorer.services.pixels import ModelCache
    import torch
    studio = DirectionStudio(ModelCache(tiny_faces), tiny_faces)
    e = studio._entry("faces")
    seeds = studio.seeds_lacking("faces", "Smiling", n=6)
    assert len(seeds) == 6 and len(set(seeds)) == 6 and min(seeds) >= 1
    p = probabilities(e["model"], e["judge"], torch.cat([e["model"].sample_z(1, s) for s in seeds]))
    lacking = p[:, e["names"].index("Smiling")] < 0.5
    assert lacking.all() or lacking[: int(lacking.sum())].all()   # those that lack it come first
    with pytest.raises(ConfigError, match="unknown attribute"):
        studio.seeds_lacking("faces", "Freckles")


def test_edit_finds_and_keeps_missing_directions_first(tiny_faces, tmp_path):
    """`edit` on a model with no directions beside it finds them (gradients, so outside no_grad), saves them,
    and walks a penalized direction at another weight."""
    root = tmp_path / "ck"
    shutil.copytree(tiny_faces, root)
    (root / "faces" / "directions.safetensors").unlink(missing_ok=True)
    npz = tmp_path / "e.npz"
    p = run_cli("edit", "--model", "faces", "--checkpoints", root, "--attribute", "Hat", "--method", "penalized",
                "--penalty", "3", "--n", "2", "--npz", npz)
    assert p.returncode == 0, p.stderr
    assert (root / "faces" / "directions.safetensors").exists() and "saved beside the model" in p.stderr
    edited = np.load(npz)
    assert edited["z"].shape == (2, Z) and not np.allclose(edited["z"], edited["z_before"])

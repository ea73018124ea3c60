"""generator.onnx: written at save time and by `export`, checked at load against torch, refused when bad (the
model is then drawn on the server, with a note the page shows)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.services.pixels import Renderer
from explorer.store import portable
from explorer.store.checkpoint import load_generator, save_checkpoint
from ui_helpers import make_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable")
    make_model(root / "cond", 10, seed=1)
    make_model(root / "info", z_dim=16, seed=2, cat_codes=10, cont_codes=2)
    return root


def copy_model(saved, tmp_path, name="cond"):
    shutil.copytree(saved / name, tmp_path / name)
    return tmp_path / name


def test_a_saved_generator_has_a_checked_onnx_that_shares_its_weights(saved):
    for name in ("cond", "info"):
        cfg = json.loads((saved / name / "config.json").read_text())
        assert cfg["onnx"] == {"file": "generator.onnx", "input": "zc", "output": "image",
                               "weights": "generator.safetensors"}
        onnx_size = (saved / name / "generator.onnx").stat().st_size
        assert onnx_size < (saved / name / "generator.safetensors").stat().st_size / 2   # no second copy
        verdict = portable.verify(saved / name, load_generator(saved / name))
        assert verdict.ok and verdict.max_diff <= portable.TOLERANCE, verdict.note


def test_float16_weights_are_cast_in_the_graph_and_match_torch(tmp_path):
    """The large shipped generators store float16: the graph reads them as such and casts, as torch does."""
    src = load_generator("digits-cdcgan")
    net = src.net
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    net16 = type(net)(src.cfg)
    net16.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    from safetensors.torch import save_file
    folder = tmp_path / "m"
    shutil.copytree(Path(__file__).resolve().parents[1] / "checkpoints" / "digits-cdcgan", folder)
    save_file({k: v.contiguous() for k, v in half.items()}, str(folder / "generator.safetensors"))
    portable.write_onnx(folder, portable.export_graph(net16, portable.in_dim(src.cfg)))
    model = load_generator(folder)
    verdict = portable.verify(folder, model)
    assert verdict.ok, verdict.note
    import onnx
    graph = onnx.load(str(folder / "generator.onnx"), load_external_data=False)
    assert any(n.op_type == "Cast" for n in graph.graph.node)


def test_export_writes_it_for_a_model_saved_without_one(saved, tmp_path):
    from conftest import run_cli
    folder = copy_model(saved, tmp_path)
    (folder / "generator.onnx").unlink()
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("onnx")
    (folder / "config.json").write_text(json.dumps(cfg))
    assert not portable.verify(folder, load_generator(folder)).ok
    proc = run_cli("export", "--model", folder)
    assert proc.returncode == 0, proc.stderr
    assert "matches torch" in proc.stdout
    assert json.loads((folder / "config.json").read_text())["onnx"]["file"] == "generator.onnx"
    assert portable.verify(folder, load_generator(folder)).ok


def test_export_refuses_a_point_model_with_a_reason(tmp_path):
    from conftest import run_cli
    from explorer.models import ModelConfig, build_generator
    from explorer.store.config import TrainConfig
    cfg = TrainConfig(dataset="toy-8gaussians", model=ModelConfig(arch="mlp", z_dim=2, shape=(2,), width=8))
    save_checkpoint(tmp_path / "toy", {"kind": "gan", "train": cfg.to_dict(), "class_names": [], "attributes": []},
                    {"generator": build_generator(cfg.model)})
    assert json.loads((tmp_path / "toy" / "config.json").read_text())["onnx"] is None   # drawn on the server
    proc = run_cli("export", "--model", tmp_path / "toy")
    assert proc.returncode == 2 and "2-D point model" in proc.stderr


def _truncate(folder):
    data = (folder / "generator.onnx").read_bytes()
    (folder / "generator.onnx").write_bytes(data[: len(data) // 2])


def _wrong_shapes(folder):
    from explorer.models import ModelConfig, build_generator
    other = build_generator(ModelConfig(z_dim=32, width=8, num_classes=10))
    (folder / "generator.onnx").write_bytes(portable.export_graph(other, 42).SerializeToString())


def _nan_weights(folder):
    from onnx import numpy_helper
    graph = portable.export_graph(load_generator(folder).net, 74)       # weights inline, then one poisoned
    t = next(t for t in graph.graph.initializer if t.name.endswith("weight") and len(t.dims) > 1)
    a = numpy_helper.to_array(t).copy()
    a.flat[0] = np.nan
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    (folder / "generator.onnx").write_bytes(graph.SerializeToString())


def _points_elsewhere(folder):
    import onnx
    graph = onnx.load(str(folder / "generator.onnx"), load_external_data=False)
    for t in graph.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../../etc/passwd"
    (folder / "generator.onnx").write_bytes(graph.SerializeToString())


def _foreign_operator(folder):
    import onnx
    graph = onnx.load(str(folder / "generator.onnx"), load_external_data=False)
    graph.graph.node[0].domain = "com.example.custom"
    (folder / "generator.onnx").write_bytes(graph.SerializeToString())


def _stale(folder):
    """Weights retrained after the graph was written, by a different architecture's exporter: a graph that
    reads the right file but computes something else (here, one BatchNorm's statistics moved)."""
    from safetensors.torch import load_file, save_file
    state = load_file(str(folder / "generator.safetensors"))
    key = next(k for k in state if k.endswith("running_var"))
    graph = portable.export_graph(load_generator(folder).net, 74)
    state[key] = state[key] * 4
    save_file(state, str(folder / "generator.safetensors"))
    (folder / "generator.onnx").write_bytes(graph.SerializeToString())  # inline: the old numbers


@pytest.mark.parametrize("damage, words", [
    (lambda f: (f / "generator.onnx").unlink(), "there is no generator.onnx"),
    (_truncate, "not a valid ONNX file"),
    (_wrong_shapes, "wrong shapes"),
    (_nan_weights, "NaN or infinite"),
    (_points_elsewhere, "points outside generator.safetensors"),
    (_foreign_operator, "outside standard ONNX"),
    (_stale, "disagrees with the torch weights"),
])
def test_a_bad_onnx_is_refused_at_load_and_the_model_draws_on_the_server(saved, tmp_path, damage, words):
    from explorer.services import Services
    from explorer.ui.common import AppContext
    from explorer.web import Site
    folder = copy_model(saved, tmp_path)
    damage(folder)
    verdict = portable.verify(folder, load_generator(folder))
    assert not verdict.ok and words in verdict.note
    services = Services.open(tmp_path, training=False)
    ctx = AppContext(services, site=Site(services.pixels.scratch / "web", lambda _: None))
    plan = ctx.draw_plan("cond")
    assert plan["where"] == "server" and words in plan["why"]          # the page says why, and draws on the server
    png = services.pixels.frame("cond", [0.1] * 64, 3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_good_model_is_placed_for_the_page_and_checked_once(saved, tmp_path):
    from explorer.ui.common import AppContext
    from explorer.services import Services
    from explorer.web import Site
    services = Services.open(saved, training=False)
    registered = []
    ctx = AppContext(services, site=Site(services.pixels.scratch / "web", registered.append))
    plan = ctx.draw_plan("cond")
    assert plan["where"] == "browser" and registered == [services.pixels.scratch / "web"]
    for key in ("graph", "weights"):
        assert plan[key].startswith("gradio_api/file=") and str(saved) not in plan[key]   # no checkpoint path
    assert ctx.draw_plan("cond") == plan                                 # checked once per weights version
    assert AppContext(services, site=ctx.site, server_render=True).draw_plan("cond")["where"] == "server"


def test_the_vendored_runtime_is_the_pinned_one():
    from explorer.web import MANIFEST, VENDOR, vendor_problems
    assert vendor_problems() == []
    assert MANIFEST["version"] == "1.31.1" and (VENDOR / "LICENSE-onnxruntime.txt").read_text().startswith("MIT")


def test_a_damaged_runtime_file_sends_every_model_to_the_server(saved, tmp_path, monkeypatch):
    import explorer.web as web
    from explorer.services import Services
    from explorer.ui.common import AppContext
    vendor = tmp_path / "vendor"
    shutil.copytree(web.VENDOR, vendor)
    (vendor / "ort-wasm-simd-threaded.wasm").write_bytes(b"not wasm")
    monkeypatch.setattr(web, "VENDOR", vendor)
    services = Services.open(saved, training=False)
    site = web.Site(tmp_path / "site", lambda _: None)
    assert site.problems and "differs from the pinned" in site.problems[0]
    plan = AppContext(services, site=site).draw_plan("cond")
    assert plan["where"] == "server" and "missing or damaged" in plan["why"]


def test_torch_and_onnx_agree_on_every_condition(saved):
    """The check's inputs cover classes and InfoGAN codes: the graph's input layout is the nets' own."""
    model = load_generator(saved / "info")
    zc = portable.check_inputs(model)
    assert zc.shape == (portable.CHECK_BATCH, 16 + 12)
    assert torch.equal(zc[:, 16:26].sum(1), torch.ones(portable.CHECK_BATCH))   # one-hot categorical code

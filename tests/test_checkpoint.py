"""Checkpoints are data: atomic, validated on load, and never a way to run code."""
import json
import pickle
from pathlib import Path

import pytest
import torch

from explorer.errors import CheckpointError
from explorer.models import ModelConfig, build_critic, build_generator
from explorer.store.checkpoint import (load_generator, load_state, read_config, resolve_model_dir,
                                          save_checkpoint)
from explorer.store.config import TrainConfig

from conftest import assert_one_line_error, run_cli

CFG = TrainConfig(model=ModelConfig(z_dim=8, width=8, num_classes=10))


def make_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    conf = {"kind": "gan", "name": folder.name, "summary": "tiny", "train": CFG.to_dict(),
            "dataset": {"name": "digits", "shape": [1, 28, 28], "options": {}},
            "class_names": [str(i) for i in range(10)], "attributes": []}
    save_checkpoint(folder, conf, {"generator": build_generator(CFG.model), "critic": build_critic(CFG.model)},
                    state={"step": 3, "rng": [torch.get_rng_state()]})
    return folder


class Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_round_trip_and_name_resolution(tmp_path):
    make_checkpoint(tmp_path / "tiny")
    m = load_generator("tiny", checkpoints=tmp_path)
    assert m.z_dim == 8 and m.num_classes == 10 and m.image_shape == (1, 28, 28)
    assert m.class_names == tuple(str(i) for i in range(10))
    assert load_generator(tmp_path / "tiny").name == "tiny"           # a path works too
    assert read_config(tmp_path / "tiny")["format_version"] == 1
    assert not list((tmp_path / "tiny").glob(".saving-*"))           # staging folder cleaned up


def test_unknown_model_lists_what_exists(tmp_path):
    make_checkpoint(tmp_path / "tiny")
    with pytest.raises(CheckpointError, match=r"unknown model 'nope'.*tiny"):
        resolve_model_dir("nope", tmp_path)


def test_truncated_weights(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    f = d / "generator.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_generator(d)


def test_wrong_shapes(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    conf = json.loads((d / "config.json").read_text())
    conf["train"]["model"]["width"] = 16
    (d / "config.json").write_text(json.dumps(conf))
    with pytest.raises(CheckpointError, match="has shape"):
        load_generator(d)


def test_nan_weights(tmp_path):
    from safetensors.torch import load_file, save_file
    d = make_checkpoint(tmp_path / "m")
    state = load_file(d / "generator.safetensors")
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key][0] = float("nan")
    save_file(state, d / "generator.safetensors")
    with pytest.raises(CheckpointError, match="NaN"):
        load_generator(d)


def test_pickle_payload_in_weights_is_refused_and_never_runs(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    marker = tmp_path / "pwned"
    (d / "generator.safetensors").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError):
        load_generator(d)
    assert not marker.exists()


def test_pickle_payload_in_resume_state_is_refused_and_never_runs(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    marker = tmp_path / "pwned"
    torch.save({"step": Payload(marker)}, d / "state.pt")
    with pytest.raises(CheckpointError, match="not executed"):
        load_state(d / "state.pt")
    assert not marker.exists()


def test_broken_config_json(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_generator(d)


def test_refuses_to_save_nan(tmp_path):
    g = build_generator(CFG.model)
    with torch.no_grad():
        next(g.parameters())[0] = float("inf")
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(tmp_path / "x", {"train": {}}, {"generator": g})
    assert not (tmp_path / "x" / "config.json").exists()


@pytest.mark.parametrize("damage", ["truncate", "pickle", "nan"])
def test_cli_reports_bad_checkpoints_in_one_line(tmp_path, damage):
    d = make_checkpoint(tmp_path / "m")
    f = d / "generator.safetensors"
    marker = tmp_path / "pwned"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:100])
    elif damage == "pickle":
        f.write_bytes(pickle.dumps(Payload(marker)))
    else:
        from safetensors.torch import load_file, save_file
        s = load_file(f)
        s["main.0.weight"][:] = float("nan")
        save_file(s, f)
    proc = run_cli("sample", "--model", d, "--n", 2, "--out", tmp_path / "s.png")
    assert_one_line_error(proc, "generator.safetensors")
    assert not marker.exists()


def test_a_link_out_of_the_model_folder_is_refused_before_it_is_read(tmp_path):
    """A model folder whose files are links to somewhere else (a system file, another folder's data)."""
    import os
    from ui_helpers import make_model
    from explorer.errors import CheckpointError
    from explorer.store.checkpoint import load_generator
    make_model(tmp_path / "m", 0)
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("generator.safetensors", "config.json"):
        os.replace(tmp_path / "m" / name, outside / name)
        os.symlink(outside / name, tmp_path / "m" / name)
        with pytest.raises(CheckpointError, match=f"{name} in m/ is a link to a file outside its model folder"):
            load_generator(tmp_path / "m")
        os.remove(tmp_path / "m" / name)
        os.replace(outside / name, tmp_path / "m" / name)
    load_generator(tmp_path / "m")                     # back in place: it loads
    linked_root = tmp_path / "linked"
    os.symlink(tmp_path, linked_root)                  # a linked checkpoints folder is fine
    load_generator(linked_root / "m")

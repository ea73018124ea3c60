"""generator.onnx: the generator as an ONNX graph, which the page runs itself with onnxruntime-web.

The graph holds no weights of its own. Each of its initializers points into generator.safetensors (ONNX
external data: a location, an offset and a length), so the weights are stored once, for torch and for the
browser alike, and a shipped model costs a few kilobytes more, not a second copy. Float16 weights (the large
shipped generators) are read as float16 and cast to float32 in the graph, exactly as torch casts them on load.

    export_graph(net, in_dim)            # torch -> ONNX in memory (torch.onnx's dynamo exporter)
    write_onnx(model_dir, graph)         # linked to the folder's generator.safetensors, written atomically
    verify(model_dir, model)             # the load-time check: Verdict(ok, note)

Loading reads data only: the file is parsed as a protobuf, never executed; it may point at no file but its
own generator.safetensors, use only standard ONNX operators, and must take (batch, z_dim + cond_dim) floats
named "zc" and give (batch, *shape) named "image"; then onnxruntime runs it on fixed inputs and its pixels
must match torch's within TOLERANCE. Anything else is refused with a readable reason, and the model is drawn
on the server instead.
"""
from __future__ import annotations

import json
import struct
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ONNX_FILE = "generator.onnx"
WEIGHTS_FILE = "generator.safetensors"
INPUT, OUTPUT = "zc", "image"
TOLERANCE = 1e-4          # max |onnx - torch| over the check's pixels (in [-1, 1])
CHECK_BATCH = 6
_ST_TYPES = {"F32": (1, 4), "F16": (10, 2)}   # safetensors dtype -> (onnx TensorProto type, bytes per value)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    note: str                 # why the page draws on the server, or how close the check came
    max_diff: float | None = None


def available() -> str | None:
    """None when ONNX export and checking can run here, else what is missing (said in notes, never raised)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed (pip install onnx onnxscript onnxruntime)"
    return None


def in_dim(cfg) -> int:
    """What the graph takes: z then the condition (class one-hot, InfoGAN codes), as the nets concatenate it."""
    return cfg.z_dim + cfg.cond_dim


# ---------- writing ----------

def export_graph(net: torch.nn.Module, width: int):
    """The generator as an onnx.ModelProto with its weights inline, input "zc" (batch, width). The exporter's
    optimiser is off so every initializer is one of the net's own tensors, unchanged (it would fold BatchNorm
    into new ones), which is what lets write_onnx point them into the safetensors file."""
    import warnings
    net = net.eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):   # the exporter prints progress lines
            program = torch.onnx.export(net, (torch.zeros(2, width),), None, input_names=[INPUT],
                                        output_names=[OUTPUT], dynamic_shapes=({0: batch},), dynamo=True,
                                        optimize=False, verbose=False)
    return program.model_proto


def safetensors_index(path: Path) -> tuple[int, dict[str, dict]]:
    """(where the data starts, {name: {dtype, shape, data_offsets}}) from a safetensors header."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path.name} is too short to be a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > 100_000_000:
            raise ValueError(f"{path.name} has an implausible header")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return 8 + n, header


def link(graph, weights: Path):
    """A copy of `graph` whose float initializers are read from `weights` (same names and shapes) instead of
    stored inline. Integer and unmatched initializers stay inline (they are tiny)."""
    import onnx
    from onnx import helper

    out = onnx.ModelProto()
    out.CopyFrom(graph)
    start, index = safetensors_index(weights)
    inits = list(out.graph.initializer)
    del out.graph.initializer[:]
    casts = []
    for t in inits:
        entry = index.get(t.name)
        types = _ST_TYPES.get(entry["dtype"]) if entry else None
        if types is None or list(entry["shape"]) != list(t.dims) or t.data_type != 1:
            out.graph.initializer.append(t)
            continue
        onnx_type, _ = types
        begin, end = entry["data_offsets"]
        name = t.name if onnx_type == 1 else f"{t.name}::float16"
        ref = onnx.TensorProto(name=name, data_type=onnx_type, dims=list(t.dims))
        ref.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", WEIGHTS_FILE), ("offset", str(start + begin)), ("length", str(end - begin))):
            ref.external_data.add(key=key, value=value)
        out.graph.initializer.append(ref)
        if onnx_type != 1:   # float16 on disk: cast to float32, as torch does when it loads them
            casts.append(helper.make_node("Cast", [name], [t.name], to=1, name=f"cast:{t.name}"))
    nodes = casts + list(out.graph.node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out


def write_onnx(model_dir: Path, graph, weights: Path | None = None) -> Path:
    """generator.onnx in `model_dir`, its weights pointing into `weights` (default: the folder's own
    generator.safetensors, which must already be written). Atomic: a reader never sees half a file."""
    from explorer.store.checkpoint import _atomic_write
    model_dir = Path(model_dir)
    linked = link(graph, weights or model_dir / WEIGHTS_FILE)
    data = linked.SerializeToString()
    _atomic_write(model_dir / ONNX_FILE, lambda p: p.write_bytes(data))
    return model_dir / ONNX_FILE


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # net -> its exported graph


def save_beside(folder: Path, net: torch.nn.Module, model_cfg) -> dict | None:
    """At save time: generator.onnx next to the generator.safetensors just written to `folder`. Returns what
    config.json records: describe(), or {"error": why} when it could not be written (the save goes on; the
    model is then drawn on the server). The graph is exported once per net and re-linked on later saves:
    the same architecture lays out the same safetensors file, only the numbers change."""
    if len(model_cfg.shape) != 3:
        return None                       # 2-D point models are drawn on the server
    missing = available()
    if missing:
        return {"error": missing}
    try:
        graph = _GRAPHS.get(net)
        if graph is None:
            import copy
            graph = export_graph(copy.deepcopy(net).cpu(), in_dim(model_cfg))   # the training net stays as it is
            _GRAPHS[net] = graph
        write_onnx(folder, graph)
    except Exception as e:  # an exporter failure must not lose the checkpoint
        return {"error": f"ONNX export failed: {str(e).splitlines()[0][:200] if str(e) else e.__class__.__name__}"}
    return describe()


def describe() -> dict:
    """What config.json says about the file."""
    return {"file": ONNX_FILE, "input": INPUT, "output": OUTPUT, "weights": WEIGHTS_FILE}


def export_model(name_or_dir, checkpoints=None) -> Verdict:
    """The `export` command: generator.onnx for a model saved before ONNX files existed (or re-written for
    one whose file is missing or stale), named in its config.json, then checked as loading checks it."""
    from explorer.errors import CheckpointError, ConfigError
    from explorer.store.checkpoint import load_generator, read_config, resolve_model_dir, write_json
    model_dir = resolve_model_dir(name_or_dir, checkpoints)
    model = load_generator(model_dir)
    if model.is_points:
        raise ConfigError(f"'{model.name}' is a 2-D point model: it is drawn on the server and has no ONNX file")
    missing = available()
    if missing:
        raise ConfigError(f"cannot export: {missing}")
    try:
        write_onnx(model_dir, export_graph(model.net, in_dim(model.cfg)))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"could not write {model_dir / ONNX_FILE}: {e}") from None
    cfg = read_config(model_dir)
    cfg["onnx"] = describe()
    write_json(model_dir / "config.json", cfg)
    return verify(model_dir, model)


# ---------- reading ----------

def _inspect(path: Path, model):
    """Parse and check the file's structure; returns the ModelProto or raises ValueError with the reason."""
    import onnx
    from onnx import external_data_helper, numpy_helper

    if not path.is_file():
        raise ValueError(f"there is no {path.name} (python -m explorer export --model {model.name} writes one)")
    if path.resolve().parent != path.parent.resolve():
        raise ValueError(f"{path.name} is a link to a file outside its model folder; refused")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:   # DecodeError on a truncated or foreign file
        raise ValueError(f"{path.name} is not a valid ONNX file (truncated or corrupt?): "
                         f"{str(e).splitlines()[0][:100] if str(e) else e.__class__.__name__}") from None
    if len(proto.functions) or any(n.domain not in ("", "ai.onnx") for n in proto.graph.node):
        raise ValueError(f"{path.name} uses operators outside standard ONNX; refused")
    size = (path.parent / WEIGHTS_FILE).stat().st_size if (path.parent / WEIGHTS_FILE).is_file() else 0
    for t in proto.graph.initializer:
        if external_data_helper.uses_external_data(t):
            info = {e.key: e.value for e in t.external_data}
            try:
                end = int(info.get("offset", 0)) + int(info["length"])
            except (KeyError, ValueError):
                raise ValueError(f"{path.name}: weight '{t.name}' has no valid offset and length") from None
            if info.get("location") != WEIGHTS_FILE or end > size:
                raise ValueError(f"{path.name}: weight '{t.name}' points outside {WEIGHTS_FILE}; refused")
        elif t.data_type in (1, 10, 11):
            if not np.isfinite(numpy_helper.to_array(t)).all():
                raise ValueError(f"{path.name}: weight '{t.name}' holds NaN or infinite values")
    ins, outs = proto.graph.input, proto.graph.output
    if len(ins) != 1 or ins[0].name != INPUT or len(outs) != 1 or outs[0].name != OUTPUT:
        raise ValueError(f"{path.name} must take one input '{INPUT}' and give one output '{OUTPUT}'")

    def dims(v):
        return [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
    if dims(ins[0])[1:] != [in_dim(model.cfg)] or dims(outs[0])[1:] != list(model.image_shape):
        raise ValueError(f"{path.name} has the wrong shapes: takes {dims(ins[0])[1:]}, gives {dims(outs[0])[1:]}; "
                         f"this model needs {[in_dim(model.cfg)]} -> {list(model.image_shape)}")
    return proto


def check_inputs(model, n: int = CHECK_BATCH) -> torch.Tensor:
    """Fixed inputs for the check: seeded z and, where the model has them, every kind of condition."""
    from explorer.models.conditioning import condition
    z = model.sample_z(n, 1234)
    labels = torch.arange(n) % model.num_classes if model.num_classes else None
    cond = condition(model.cfg, n, labels, model.sample_codes(n, 1234))
    return z if cond is None else torch.cat([z, cond], 1)


def verify(model_dir: Path, model) -> Verdict:
    """The load-time check of a model's generator.onnx against its torch network (see the module doc)."""
    missing = available()
    if missing:
        return Verdict(False, f"the in-page renderer is unavailable here: {missing}")
    if model.is_points:
        return Verdict(False, "a 2-D point model is drawn on the server (its view is a plot, not the net's output)")
    path = Path(model_dir) / ONNX_FILE
    try:
        _inspect(path, model)
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        zc = check_inputs(model)
        got = sess.run([OUTPUT], {INPUT: zc.numpy()})[0]
    except ValueError as e:
        return Verdict(False, str(e))
    except Exception as e:   # onnxruntime refusing the graph: bad shapes, unreadable weights
        return Verdict(False, f"{path.name} could not be run: {str(e).splitlines()[0][:160]}")
    with torch.inference_mode():
        want = model.net(zc).numpy()
    if got.shape != want.shape or not np.isfinite(got).all():
        return Verdict(False, f"{path.name} gives {'non-finite pixels' if got.shape == want.shape else got.shape}")
    diff = float(np.abs(got - want).max())
    if diff > TOLERANCE:
        return Verdict(False, f"{path.name} disagrees with the torch weights (max difference {diff:.2g} > "
                              f"{TOLERANCE:g}): re-run python -m explorer export --model {model.name}", diff)
    return Verdict(True, f"{path.name} matches torch within {diff:.1g}", diff)

"""Checkpoint folders: config.json + safetensors weights (+ resume state). Data, never code.

Writes are atomic; loads validate keys, shapes and finiteness and never unpickle anything but plain
tensors and numbers (torch.load with weights_only=True, for resume state only).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from explorer.errors import CheckpointError

FORMAT_VERSION = 1
PROJECT_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
ENV_VAR = "LATENT_EXPLORER_CHECKPOINTS"


# config.json kinds whose generator.safetensors is a generator behind the one interface (a VAE's: its decoder)
GENERATOR_KINDS = ("gan", "vae")


def checkpoints_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--checkpoints DIR, else $LATENT_EXPLORER_CHECKPOINTS, else the project's checkpoints/."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return PROJECT_CHECKPOINTS


def resolve_model_dir(name_or_dir: str | os.PathLike, checkpoints: str | os.PathLike | None = None) -> Path:
    """A model name in the checkpoints folder, or a path to a model folder."""
    root = checkpoints_dir(checkpoints)
    name = str(name_or_dir)
    candidates = [root / name] if name and "/" not in name and os.sep not in name and name not in (".", "..") else []
    candidates.append(Path(name).expanduser())
    for c in candidates:
        if (c / "config.json").is_file():
            return c
    known = ", ".join(list_model_names(root)) or "none"
    raise CheckpointError(f"unknown model '{name}': no model folder with config.json there or in {root} "
                          f"(models: {known})")


def list_model_names(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())


# ---------- writing ----------

def _atomic_write(path: Path, write) -> None:
    """write(tmp_path) then os.replace: a reader never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: dict) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def save_weights(path: Path, module: torch.nn.Module) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save non-finite weights ({bad[0]})")
    _atomic_write(path, lambda p: save_file(state, str(p), metadata={"format_version": str(FORMAT_VERSION)}))


PREVIOUS = ".previous"    # during a save's moves: hard links to the checkpoint being replaced
ADDED = ".added"          # ... and, inside it, the names of the files that save adds


def recover_torn_save(out: Path) -> bool:
    """Undo a save that was killed between its moves (new weights beside an old state.pt would resume wrongly):
    the files kept in .previous go back. Leftovers of a save that finished, or never began to move, are
    removed. Returns True when a torn save was undone."""
    out = Path(out)
    prev, torn = out / PREVIOUS, False
    if prev.is_dir():
        added = prev / ADDED
        for name in (added.read_text().split() if added.is_file() else []):
            (out / name).unlink(missing_ok=True)          # new files the torn save had brought in
        for f in prev.iterdir():
            if f.name != ADDED:
                os.replace(f, out / f.name)
        torn = True
    for leftover in (prev, *out.glob(f"{PREVIOUS}-*"), *out.glob(".saving-*")):
        shutil.rmtree(leftover, ignore_errors=True)
    return torn


def save_checkpoint(out: Path, config: dict, nets: dict[str, torch.nn.Module], state: dict | None = None,
                    samples=None, card: str | None = None) -> None:
    """Write one checkpoint folder. Files go to a staging folder first; the files they replace are kept (hard
    links) in .previous until every new file is in place, so a process killed at any moment of a save leaves
    either the previous checkpoint or the new one whole (`recover_torn_save` puts the previous one back)."""
    out.mkdir(parents=True, exist_ok=True)
    recover_torn_save(out)
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".saving-"))
    try:
        for name, net in nets.items():
            save_weights(stage / f"{name}.safetensors", net)
        if "generator" in nets and config.get("kind") in GENERATOR_KINDS:   # the page's copy of the generator
            from explorer.store import portable
            from explorer.store.config import TrainConfig
            config = {**config, "onnx": portable.save_beside(stage, nets["generator"],
                                                             TrainConfig.from_dict(config["train"]).model)}
        if state is not None:
            torch.save(state, stage / "state.pt")
        if samples is not None:
            samples.save(stage / "samples.png")
        if card is not None:
            (stage / "README.md").write_text(card)
        (stage / "config.json").write_text(json.dumps({"format_version": FORMAT_VERSION, **config}, indent=2) + "\n")
        keep = Path(tempfile.mkdtemp(dir=out, prefix=f"{PREVIOUS}-"))   # links first, then named in one rename
        for f in stage.iterdir():
            if (out / f.name).is_file():
                try:
                    os.link(out / f.name, keep / f.name)
                except OSError:                           # a filesystem without hard links
                    shutil.copy2(out / f.name, keep / f.name)
        (keep / ADDED).write_text("\n".join(f.name for f in stage.iterdir() if not (out / f.name).exists()))
        os.replace(keep, out / PREVIOUS)
        # config.json moves last: a folder is a model only once its weights are in place
        for f in sorted(stage.iterdir(), key=lambda p: p.name == "config.json"):
            os.replace(f, out / f.name)
        os.replace(out / PREVIOUS, out / f"{PREVIOUS}-done")          # every new file is in: nothing to undo
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for done in out.glob(f"{PREVIOUS}-*"):
            shutil.rmtree(done, ignore_errors=True)


# ---------- reading ----------

def inside_folder(path: Path) -> Path:
    """`path` itself, when it is a file of its own folder: a link that leads out of the model's folder (to a
    system file, another user's data) is refused before anything reads it."""
    path = Path(path)
    try:
        real = path.resolve(strict=False)
        folder = path.parent.resolve(strict=False)
    except (OSError, RuntimeError):   # a link loop
        raise CheckpointError(f"{path.name} cannot be resolved (a link loop?)") from None
    if real.parent != folder:
        raise CheckpointError(f"{path.name} in {path.parent.name}/ is a link to a file outside its model folder; "
                              "refused")
    return path


def read_config(model_dir: Path) -> dict:
    path = inside_folder(Path(model_dir) / "config.json")
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{model_dir} is not a model folder (no config.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e.__class__.__name__})") from None
    if not isinstance(cfg, dict) or "train" not in cfg:
        raise CheckpointError(f"{path} is not a Latent Explorer config (no 'train' section)")
    if cfg.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {cfg['format_version']}; this version reads up to "
                              f"{FORMAT_VERSION}: upgrade latent-explorer")
    return cfg


def load_weights(module: torch.nn.Module, path: Path) -> torch.nn.Module:
    """Load a safetensors file into `module`, checking keys, shapes and finiteness first. Weights stored in
    float16 (to keep large shipped generators small) are cast to the module's float32 on load."""
    if not path.is_file():
        raise CheckpointError(f"missing weights file {path}")
    inside_folder(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a valid safetensors file (truncated, corrupt or a pickle?): "
                              f"{str(e).splitlines()[0][:120]}") from None
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path.name} does not match the architecture in config.json: "
                              f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(f"{path.name}: '{k}' has shape {tuple(v.shape)}, the architecture in config.json "
                                  f"needs {tuple(expected[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path.name}: '{k}' holds NaN or infinite values")
    module.load_state_dict(state)
    return module


def load_state(path: Path) -> dict:
    """Resume state (optimizers, RNG, step). weights_only=True: a pickle payload is refused, never run."""
    if Path(path).exists():
        inside_folder(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"cannot resume: {path} is missing") from None
    except Exception as e:  # UnpicklingError for payloads, RuntimeError/EOFError for truncation
        raise CheckpointError(f"cannot resume from {path}: not a plain-tensor state file "
                              f"({e.__class__.__name__}); it was not executed") from None


# ---------- whole models ----------

def _train_config(cfg: dict, model_dir: Path):
    from explorer.store.config import TrainConfig
    try:
        # a model saved before weight averaging existed was trained without it
        return TrainConfig.from_dict({"ema_decay": 0.0, **cfg["train"]})
    except CheckpointError:
        raise
    except Exception as e:  # ConfigError or a malformed field
        raise CheckpointError(f"{model_dir}/config.json has an invalid 'train' section: {e}") from None


def load_generator(name_or_dir, checkpoints=None, with_critic: bool = False):
    """The one door to a trained generator: returns a GeneratorModel (and the critic if asked)."""
    from explorer.models import GeneratorModel, build_critic, build_generator
    model_dir = resolve_model_dir(name_or_dir, checkpoints)
    cfg = read_config(model_dir)
    if cfg.get("kind") not in GENERATOR_KINDS:
        raise CheckpointError(f"'{name_or_dir}' is a {cfg.get('kind', 'unknown')} model, not a generator")
    tc = _train_config(cfg, model_dir)
    net = load_weights(build_generator(tc.model), model_dir / "generator.safetensors")
    model = GeneratorModel(net, tc.model, cfg.get("class_names", ()), cfg.get("attributes", ()),
                           name=model_dir.name, meta={**cfg, "path": str(model_dir)})
    if with_critic:
        return model, load_weights(build_critic(tc.model), model_dir / "critic.safetensors").eval()
    return model


TRANSLATOR_FILES = {"forward": "generator.safetensors", "back": "generator_back.safetensors"}


def load_translator(name_or_dir, checkpoints=None):
    """A trained image-to-image translator (pix2pix: forward only; CycleGAN: forward and back)."""
    from explorer.models import build_translator
    from explorer.models.translation import Translator
    model_dir = resolve_model_dir(name_or_dir, checkpoints)
    cfg = read_config(model_dir)
    if cfg.get("kind") != "translator":
        raise CheckpointError(f"'{name_or_dir}' is a {cfg.get('kind', 'unknown')} model, not a translator "
                              f"(pix2pix or CycleGAN)")
    tc = _train_config(cfg, model_dir)
    nets = {d: load_weights(build_translator(tc.model), model_dir / f) for d, f in TRANSLATOR_FILES.items()
            if d == "forward" or tc.task == "cyclegan"}
    return Translator(nets, tc.model, tuple(cfg.get("domains") or ("A", "B")), name=model_dir.name,
                      meta={**cfg, "path": str(model_dir)})


def load_text_model(name_or_dir, checkpoints=None):
    """A trained text-to-image model (AttnGAN) with the vocabulary it learnt; its DAMSM image encoder when the
    folder holds one (R-precision needs it, drawing does not)."""
    from explorer.errors import ExplorerError
    from explorer.models.text import AttnGenerator, ImageEncoder, TextEncoder, TextToImage
    from explorer.vocabulary import Vocabulary
    model_dir = resolve_model_dir(name_or_dir, checkpoints)
    cfg = read_config(model_dir)
    if cfg.get("kind") != "text":
        raise CheckpointError(f"'{name_or_dir}' is a {cfg.get('kind', 'unknown')} model, not a text-to-image model")
    tc = _train_config(cfg, model_dir)
    try:
        vocab = Vocabulary(cfg.get("vocabulary") or (), cfg.get("unattended_words") or ())
    except ExplorerError as e:
        raise CheckpointError(f"{model_dir}/config.json has no usable vocabulary: {e}") from None
    g = load_weights(AttnGenerator(tc.model.z_dim, tc.model.width), model_dir / "generator.safetensors")
    t = load_weights(TextEncoder(len(vocab)), model_dir / "text_encoder.safetensors")
    image = None
    if (model_dir / "image_encoder.safetensors").exists():
        image = load_weights(ImageEncoder(), model_dir / "image_encoder.safetensors")
    return TextToImage(g, t, image, vocab, tc.model, cfg.get("attributes", ()), name=model_dir.name,
                       meta={**cfg, "path": str(model_dir)})


def load_classifier(name_or_dir, checkpoints=None):
    """A trained judge: (network in eval mode, its config dict with class_names / attributes)."""
    from explorer.models import build_classifier
    model_dir = resolve_model_dir(name_or_dir, checkpoints)
    cfg = read_config(model_dir)
    if cfg.get("kind") != "classifier":
        raise CheckpointError(f"'{name_or_dir}' is a {cfg.get('kind', 'unknown')} model, not a classifier")
    tc = _train_config(cfg, model_dir)
    n_out = len(cfg.get("class_names") or ()) or len(cfg.get("attributes") or ())
    net = build_classifier(tc.classifier_arch, tuple(tc.model.shape), n_out, tc.classifier_width)
    load_weights(net, model_dir / "classifier.safetensors")
    return net.eval(), {**cfg, "path": str(model_dir)}


def save_directions(model_dir: Path, directions: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """directions.safetensors beside the generator: 'method/Attribute' -> unit z-vector, 'pca' -> k x D."""
    state = {k: v.detach().float().contiguous() for k, v in directions.items()}
    _atomic_write(Path(model_dir) / "directions.safetensors",
                  lambda p: save_file(state, str(p), metadata={k: str(v) for k, v in meta.items()}))


def load_directions(model_dir: Path) -> dict[str, torch.Tensor] | None:
    """The precomputed directions, validated (finite, one z_dim), or None when none were computed."""
    path = Path(model_dir) / "directions.safetensors"
    if not path.is_file():
        return None
    inside_folder(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError):
        raise CheckpointError(f"{path} is not a valid safetensors file (truncated or corrupt)") from None
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path.name}: '{bad[0]}' holds NaN or infinite values")
    return state


def record_metrics(model_dir, key: str, value: dict) -> None:
    """Keep `value` under metrics[key] in the model's config.json and rebuild its card from it."""
    from explorer.store.card import model_card   # card imports config, which this module's loaders import
    model_dir = Path(model_dir)
    cfg = read_config(model_dir)
    cfg["metrics"] = {**cfg.get("metrics", {}), key: value}
    write_json(model_dir / "config.json", cfg)
    (model_dir / "README.md").write_text(model_card({**cfg, "name": cfg.get("name") or model_dir.name}))


ENCODER_FILE = "encoder.safetensors"


def attach_encoder(generator_dir, run_dir, width: int, metrics: dict) -> None:
    """Copy a finished encoder run's weights beside its generator and name them in the generator's config.json
    ("encoder": file, width, the run's final figures), rebuilding the generator's card."""
    from explorer.store.card import model_card
    generator_dir, run_dir = Path(generator_dir), Path(run_dir)
    src = inside_folder(run_dir / ENCODER_FILE)
    _atomic_write(generator_dir / ENCODER_FILE, lambda p: shutil.copyfile(src, p))
    cfg = read_config(generator_dir)
    run = read_config(run_dir).get("provenance", {})
    cfg["encoder"] = {"file": ENCODER_FILE, "width": width, "steps": run.get("step"),
                      "wall_time_s": run.get("wall_time_s"), "command": run.get("command"),
                      "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}}
    write_json(generator_dir / "config.json", cfg)
    (generator_dir / "README.md").write_text(model_card({**cfg, "name": cfg.get("name") or generator_dir.name}))


def load_encoder(model):
    """The encoder saved beside a GeneratorModel (eval mode), or None when it has none."""
    from explorer.models import Encoder
    info = model.meta.get("encoder")
    if not info:
        return None
    if not isinstance(info, dict) or info.get("file") != ENCODER_FILE or not isinstance(info.get("width"), int):
        raise CheckpointError(f"{model.name}/config.json names its encoder in a form this version cannot read")
    net = Encoder(model.cfg, info["width"], logvar=info.get("logvar") is True)
    return load_weights(net, Path(model.meta["path"]) / ENCODER_FILE).eval()

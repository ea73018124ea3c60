"""The Invert step's service: a picture in (a file, a drawing, an array), the z (class, codes) that draws it out,
and z files (`.npz`) that carry a found z to `sample`, `edit` and the app."""
from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from explorer.checks import check_whole, read_image
from explorer.errors import CheckpointError, ConfigError, DataError
from explorer.latent.inversion import STEPS, Inversion, invert, prepare_digit, prepare_picture
from explorer.metrics.evaluate import judge_name
from explorer.store.checkpoint import load_classifier, load_encoder

MAX_STEPS = 1000
NO_ENCODER = ("{name} has no encoder yet, so the search starts from a random z (slower, and it may settle "
              "on a worse match); train one with `python -m explorer train --preset {name}-encoder`")


class Inverter:
    """Encoders and judges per model, loaded once (a retrained generator is loaded afresh with its encoder)."""

    def __init__(self, models, checkpoints=None):
        self.models, self.checkpoints = models, checkpoints
        self._cache: dict[str, tuple[object, object, object]] = {}   # name -> (model, encoder, features)
        self._lock = threading.Lock()

    def _entry(self, name: str):
        model = self.models.get(name)
        if model.is_points:
            raise ConfigError(f"model '{model.name}' draws 2-D points, not pictures: there is nothing to invert")
        with self._lock:
            hit = self._cache.get(name)
            if hit is None or hit[0] is not model:
                hit = (model, load_encoder(model), self._features(model))
                self._cache[name] = hit
        return hit

    def _features(self, model):
        """The judge's features as a function of pictures (its parameters frozen), or None without a judge."""
        name = judge_name(model.meta)
        if not name:
            return None
        try:
            net, _ = load_classifier(name, self.checkpoints)
        except CheckpointError:
            return None
        for p in net.parameters():
            p.requires_grad_(False)
        return net.eval().features

    def has_encoder(self, name: str) -> bool:
        return self._entry(name)[1] is not None

    def prepare(self, name: str, picture) -> torch.Tensor:
        """The picture as the model sees it (1 x C x H x W in [-1, 1]): digits as MNIST's were made (a drawing
        is centred and scaled), anything else cropped square and resized."""
        model = self._entry(name)[0]
        image = as_image(picture)
        if model.meta.get("dataset", {}).get("name") == "digits" or tuple(model.image_shape) == (1, 28, 28):
            return prepare_digit(image)
        return prepare_picture(image, tuple(model.image_shape))

    def held_out_face(self, name: str, k) -> np.ndarray | None:
        """Test-split face number k from the renderer (uint8 H x W x 3, at the model's size and attribute
        correlation): a picture the generator never trained on. None for a model that does not draw faces."""
        model = self._entry(name)[0]
        if model.meta.get("dataset", {}).get("name") != "faces":
            return None
        from explorer.data.faces import load_faces
        k = check_whole(0 if k is None else k, 0, 99_999, "the held-out face")
        options = model.meta.get("train", {}).get("data_options", {})
        # one face per seed: the test split's random streams are never the training split's
        data = load_faces(None, split="test", n=1, seed=k, image_size=model.image_shape[1],
                          correlation=options.get("correlation", 0.0))
        return data.x[0].permute(1, 2, 0).numpy()

    def invert(self, name: str, picture, steps=STEPS, progress=None) -> dict:
        """{"model", "input" (what the model sees), "result" (an Inversion), "note" (or None)}."""
        steps = check_whole(steps, 0, MAX_STEPS, "the number of steps")
        model, encoder, features = self._entry(name)
        target = picture if isinstance(picture, torch.Tensor) else self.prepare(name, picture)
        if tuple(target.shape[1:]) != tuple(model.image_shape):
            raise ConfigError(f"the picture is {tuple(target.shape[1:])}; {model.name} draws {model.image_shape}")
        note = None if encoder is not None else NO_ENCODER.format(name=model.name)
        with torch.enable_grad():
            result = invert(model, target, encoder, steps, features=features, progress=progress)
        return {"model": model.name, "input": target, "result": result, "note": note}


def as_image(picture) -> Image.Image:
    """A picture from outside: a path or file (checked by read_image), a PIL image, or an H x W (x C) array as a
    drawing pad sends it (its alpha channel is the ink where the colours are blank)."""
    if isinstance(picture, Image.Image):
        return picture
    if isinstance(picture, (str, Path)) or hasattr(picture, "read"):
        return read_image(picture, "the picture")
    if isinstance(picture, np.ndarray):
        a = picture
        if a.ndim == 3 and a.shape[2] == 4:
            rgb, alpha = a[..., :3].astype(np.float32), a[..., 3:].astype(np.float32) / 255
            a = (rgb * alpha).astype(np.uint8) if rgb.max() > 0 else (alpha[..., 0] * 255).astype(np.uint8)
        if a.ndim not in (2, 3) or a.size == 0 or a.size > 4096 * 4096 * 3:
            raise DataError("the picture must be a non-empty H x W (x C) array")
        if not np.isfinite(a).all():
            raise DataError("the picture holds NaN or infinite values")
        if a.dtype != np.uint8:
            a = np.clip(a * (255 if a.max() <= 1 else 1), 0, 255).astype(np.uint8)
        return Image.fromarray(a)
    raise DataError("no picture: draw one or upload a PNG or JPEG")


def save_z_file(path, model_name: str, result: Inversion) -> None:
    """The found z as a .npz that `sample --z`, `edit --z` and the app read back."""
    arrays = {"model": np.array(model_name), "z": result.z.numpy().astype(np.float32),
              "error": np.array(result.error, np.float32)}
    if result.label is not None:
        arrays["label"] = np.array([result.label])
    if result.codes is not None:
        arrays["codes"] = result.codes.numpy().astype(np.float32)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def load_z_file(path, model) -> dict:
    """A z file for `model`: {"z": 1..N x z_dim tensor, "label": tensor or None, "codes": tensor or None}, or a
    readable refusal (not a .npz, pickled objects, another model's z, the wrong length, NaN)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise DataError(f"no z file at {path}") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError):
        raise DataError(f"{path} is not a z file (.npz written by invert, sample or edit)") from None
    if "z" not in data:
        raise DataError(f"{path} holds no 'z' array")
    named = str(data["model"]) if "model" in data and data["model"].dtype.kind == "U" else None
    z = data["z"].reshape(-1, data["z"].shape[-1]) if data["z"].ndim else data["z"]
    if z.ndim != 2 or z.shape[1] != model.z_dim or not np.issubdtype(z.dtype, np.number):
        whose = f" (it was found for '{named}')" if named and named != model.name else ""
        raise DataError(f"{path} holds z of shape {tuple(data['z'].shape)}; {model.name} needs {model.z_dim} "
                        f"numbers per row{whose}")
    if not np.isfinite(z).all():
        raise DataError(f"{path} holds NaN or infinite values in z")
    if named and named != model.name:
        raise DataError(f"{path} was found for '{named}', not '{model.name}': a z means something else in "
                        "another model")
    label = data.get("label")
    if model.num_classes:
        if label is None or not np.issubdtype(label.dtype, np.integer) or label.min() < 0 \
                or label.max() >= model.num_classes:
            raise DataError(f"{path} needs a class label in 0..{model.num_classes - 1} for {model.name}")
    codes = data.get("codes")
    if model.cfg.code_dim and (codes is None or codes.shape[-1] != model.cfg.code_dim
                               or not np.isfinite(codes).all()):
        raise DataError(f"{path} needs {model.cfg.code_dim} finite codes for {model.name}")
    return {"z": torch.from_numpy(z.astype(np.float32)),
            "label": torch.from_numpy(label.reshape(-1)).long() if model.num_classes else None,
            "codes": torch.from_numpy(codes.reshape(-1, model.cfg.code_dim).astype(np.float32))
            if model.cfg.code_dim else None}

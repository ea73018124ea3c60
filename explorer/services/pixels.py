"""The service layer between the UI and the models: validates requests, draws pixels, reports errors as
ExplorerError (the UI turns them into gr.Error). No gradio here; the same code serves the sliders, the
/render API and tests, so they all draw the same pixels for the same z.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from explorer.checks import SEED_RULE, check_seed, check_whole
from explorer.errors import CheckpointError, ConfigError, ExplorerError
from explorer.latent import interpolate_path, truncate
from explorer.models.conditioning import codes_from_controls
from explorer.render import grid, label_columns, save_gif, scatter, upscale
from explorer.store.checkpoint import (GENERATOR_KINDS, checkpoints_dir, list_model_names, load_generator,
                                     read_config)

Z_LIMIT = 10.0        # |z| beyond this is far outside N(0, I) (sliders span -3..3): refused, not clamped
DISPLAY = 320         # 2-D point views and GIF frames, in pixels (images go out at native size; the page
                      # upscales them with CSS image-rendering: pixelated, which keeps them crisp and tiny)
STRIP_CELL = 96
SCRATCH_MAX_AGE_S = 300      # pictures older than this are swept from the scratch folder
SCRATCH_MAX_FILES = 400      # and never more than this many (the oldest go first, none under KEEP_YOUNG_S old)
KEEP_YOUNG_S = 10            # a picture this fresh may still be on its way to a page: never swept
POINTS_EXTENT = 5.0   # 2-D models are drawn over [-5, 5]^2


class ModelCache:
    """Read-only, process-wide cache of loaded generators (the only module-level state the app keeps).
    Thread-safe: one lock guards loading. The folder is read on its own schedule (a listing older than LIST_TTL
    when a page asks for the list), on `refresh()` (the Refresh button, a finished training job), or when a
    name is not yet known; a slider event never scans the folder or stats a file."""

    LIST_TTL = 30.0  # seconds a folder listing is trusted by pages asking for the model list

    def __init__(self, checkpoints=None, allow_paths: bool = False, kinds=GENERATOR_KINDS, loader=load_generator,
                 what: str = "models"):
        self.root = checkpoints_dir(checkpoints)
        self.allow_paths = allow_paths   # the CLI may name a model folder anywhere; the web app never may
        self.kinds, self.loader = kinds, loader    # which config.json kinds it lists, and how it loads them
        self.what = what                           # how a refusal names them: "models", "translators"
        self.others: dict[str, str] = {}           # models of other kinds in the folder: name -> kind
        self._models: dict[str, tuple[float, object]] = {}   # name -> (weights mtime when loaded, model)
        self._listing: tuple[float, list[dict]] = (-1e9, [])
        self._lock = threading.Lock()
        self.scans = 0   # how many times the folder was read (tests check the hot path does not)
        self.damaged: list[dict] = []   # model folders whose config.json cannot be read: {name, reason}

    def names(self) -> list[dict]:
        """Every model of its kinds (generators, by default) in the folder with its one-line summary."""
        stamp, listing = self._listing
        if time.monotonic() - stamp < self.LIST_TTL:
            return listing
        return self.refresh()

    def refresh(self) -> list[dict]:
        """Read the folder now; a model whose weights changed on disk (retrained) is loaded afresh next time."""
        self.scans += 1
        out, damaged, others = [], [], {}
        for name in list_model_names(self.root):
            try:
                cfg = read_config(self.root / name)
            except ExplorerError as e:   # listed apart, with the reason, rather than silently missing
                damaged.append({"name": name, "reason": str(e)})
                continue
            if cfg.get("kind") in self.kinds:
                out.append({"name": name, "summary": cfg.get("summary", "")})
            else:
                others[name] = str(cfg.get("kind"))
        self.damaged, self.others = damaged, others
        with self._lock:
            for name, (stamp, _) in list(self._models.items()):
                if stamp is not None and stamp != self._weights_mtime(name):
                    del self._models[name]
            self._listing = (time.monotonic(), out)
        return out

    def _weights_mtime(self, name: str) -> float | None:
        try:
            return (self.root / name / "generator.safetensors").stat().st_mtime
        except OSError:
            return None

    def stamp(self, name: str) -> float | None:
        """The weights' modification time when `name` was loaded (which version of it the cache holds)."""
        hit = self._models.get(name)
        return hit[0] if hit else None

    def get(self, name: str):
        hit = self._models.get(name) if isinstance(name, str) else None
        if hit is not None:     # the hot path: a dict lookup, no folder read, no stat
            return hit[1]
        listing = self._listing[1]
        if self.allow_paths and isinstance(name, str) and name not in {m["name"] for m in listing} \
                and Path(name).is_dir():
            with self._lock, torch.inference_mode(False):
                model = self.loader(name)
                self._models[name] = (None, model)   # a folder outside the listing: never refreshed
                return model
        if not isinstance(name, str) or name not in {m["name"] for m in listing}:
            listing = self.refresh()      # a model saved since the last read
            if not isinstance(name, str) or name not in {m["name"] for m in listing}:
                broken = next((m["reason"] for m in self.damaged if m["name"] == name), None)
                if broken:
                    raise CheckpointError(f"model '{name}' is damaged: {broken}")
                known = ", ".join(m["name"] for m in listing) or "none"
                if self.what != "models" and name in self.others:
                    raise ConfigError(f"'{name}' is a {self.others[name]} model, not one of the {self.what} "
                                      f"({known})")
                raise ConfigError(f"unknown model '{name}' ({self.what}: {known})")
        with self._lock:
            hit = self._models.get(name)
            if hit is None:
                stamp = self._weights_mtime(name)
                if stamp is None:
                    raise CheckpointError(f"model '{name}' has no generator.safetensors")
                # loaded outside inference mode even when a render asks first: weights made in inference mode
                # could never take part in a gradient (Directions, Invert) afterwards
                with torch.inference_mode(False):
                    hit = (stamp, self.loader(self.root / name))
                self._models[name] = hit
            return hit[1]


def check_z(model, z) -> torch.Tensor:
    """A z from outside (API, sliders) as a 1 x D tensor, or a readable refusal."""
    if isinstance(z, (str, bytes, dict)) or (isinstance(z, (list, tuple))
                                             and any(isinstance(v, (bool, np.bool_)) for v in z)):
        raise ConfigError("z must be a list of numbers (not text, not true/false)")
    try:
        arr = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("z must be a list of numbers") from None
    if arr.ndim != 1 or arr.shape[0] != model.z_dim:
        raise ConfigError(f"z must be a list of {model.z_dim} numbers for '{model.name}', "
                          f"got {arr.shape[0] if arr.ndim == 1 else 'shape ' + str(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ConfigError("z contains NaN or infinite values")
    if np.abs(arr).max() > Z_LIMIT:
        raise ConfigError(f"z values must lie within +-{Z_LIMIT:g} (the sliders span -3..3); "
                          f"got {np.abs(arr).max():.3g}")
    return torch.from_numpy(arr.astype(np.float32))[None]


def check_label(model, label) -> int | None:
    if model.num_classes == 0:
        return None
    if label is None:
        return 0
    if isinstance(label, str):
        if label in model.class_names:
            return model.class_names.index(label)
        raise ConfigError(f"unknown class '{label}' (classes: {', '.join(model.class_names)})")
    if isinstance(label, float) and not label.is_integer():
        raise ConfigError(f"class label must be a whole number, got {label}")
    try:
        k = int(label)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"class label must be a number in 0..{model.num_classes - 1}") from None
    if not 0 <= k < model.num_classes:
        raise ConfigError(f"unknown class {k}: '{model.name}' has classes 0..{model.num_classes - 1} "
                          f"({', '.join(model.class_names)})")
    return k


def check_class_weights(model, weights) -> torch.Tensor:
    """A blend of classes from outside (a point on a class-to-class path): num_classes numbers in [0, 1]."""
    if model.num_classes == 0:
        raise ConfigError(f"model '{model.name}' is not conditional: class weights do not apply")
    try:
        arr = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("class weights must be a list of numbers") from None
    if arr.shape != (model.num_classes,) or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise ConfigError(f"class weights must be {model.num_classes} numbers between 0 and 1")
    return torch.from_numpy(arr.astype(np.float32))[None]


def sweep_names(model) -> list[str]:
    """What a strip can sweep: every z entry, then an InfoGAN's continuous codes and its categorical code."""
    c = model.cfg
    names = [f"z[{i}]" for i in range(model.z_dim)]
    names += [f"code c{j + 1} (-2 ... +2)" for j in range(c.cont_codes)]
    return names + (["categorical code (every value)"] if c.cat_codes else [])


def tick_label(value, digits: int) -> str:
    """A strip's value under a picture: signed, `digits` significant; the middle of a sweep reads 0, not the
    -6e-08 float32's linspace leaves there."""
    v = round(float(value), 6)
    return "0" if v == 0 else f"{v:+.{digits}g}"


def codes_tensor(model, cat: int | None, cont) -> torch.Tensor | None:
    """InfoGAN codes from the UI's controls: categorical index and continuous values within +-2."""
    return codes_from_controls(model.cfg, cat, cont)


class Renderer:
    """Pixels for the explorer. Every public method returns images or raises ExplorerError."""

    def __init__(self, checkpoints=None, scratch: str | None = None, allow_paths: bool = False):
        self.models = ModelCache(checkpoints, allow_paths)
        self.scratch = Path(scratch or tempfile.mkdtemp(prefix="latent-explorer-"))
        self.scratch.mkdir(parents=True, exist_ok=True)
        # a folder we made is ours to remove: on close(), when the renderer goes, or at exit
        self._remove = weakref.finalize(self, shutil.rmtree, str(self.scratch), ignore_errors=True) \
            if scratch is None else None
        self._writes = 0
        self._lock = threading.Lock()
        self._clouds = weakref.WeakKeyDictionary()  # 2-D model -> {size: its sample cloud}; read-only once drawn
        self._portable: dict[tuple, dict] = {}      # (name, weights version) -> what portable() found
        self._portable_lock = threading.Lock()

    # ---- single images ----
    @torch.inference_mode()
    def image(self, name: str, z, label=None, cat=None, cont=None, size: int = 0) -> Image.Image:
        """The generator's picture for exactly this z, at native resolution (size > 0: upscaled, crisp)."""
        model = self.models.get(name)
        zt = check_z(model, z)
        if model.is_points:
            return self._points_view(model, zt, size or DISPLAY)
        k = check_label(model, label)
        x = model.generate(zt, None if k is None else torch.tensor([k]), codes_tensor(model, cat, cont))
        return upscale(x[0], size)

    def frame(self, name: str, z, label=None, cat=None, cont=None, class_weights=None) -> bytes:
        """One picture as PNG bytes, in memory: the live view's server path (no file written, none fetched).
        class_weights (a blend of classes, as along an interpolation path) replaces the label."""
        import io
        if class_weights is None:
            img = self.image(name, z, label, cat, cont)
        else:
            model = self.models.get(name)
            w = check_class_weights(model, class_weights)
            with torch.inference_mode():
                img = upscale(model.generate(check_z(model, z), codes=codes_tensor(model, cat, cont),
                                             class_weights=w)[0], 0)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    def portable(self, name: str) -> dict:
        """Whether the page may draw `name` itself: {"ok": True, "folder": where its generator.onnx and weights
        were placed for the page to fetch, "note"} or {"ok": False, "note": why the server draws it}. Checked
        once per model and weights version (store.portable.verify), on the very copies the page fetches."""
        from explorer.store import portable
        from explorer.web import place
        model = self.models.get(name)
        key = (name, self.models.stamp(name))
        with self._portable_lock:     # one check at a time: two pages opening a model check it once
            hit = self._portable.get(key)
            if hit is not None:
                return hit
            if model.is_points:
                found = {"ok": False, "note": "a 2-D point model is drawn as a plot, on the server."}
            else:
                src = Path(model.meta.get("path", ""))
                folder = self.scratch / "web" / "models" / str(len(self._portable))
                try:
                    for f in (portable.ONNX_FILE, portable.WEIGHTS_FILE):
                        if (src / f).is_file():
                            place(src / f, folder / f)
                    verdict = portable.verify(folder, model)
                    found = {"ok": verdict.ok, "note": verdict.note, "folder": folder if verdict.ok else None}
                except OSError as e:
                    found = {"ok": False, "note": f"its files could not be prepared for the page ({e.strerror})"}
            self._portable[key] = found
            return found

    def _points_view(self, model, zt, size):
        """A 2-D model: many samples as a cloud (drawn once per model and size), this z's point ringed."""
        with self._lock:
            cloud = self._clouds.get(model, {}).get(size)
        if cloud is None:
            cloud = scatter(model.generate(model.sample_z(1500, 0)).numpy(), None, size=size, extent=POINTS_EXTENT)
            with self._lock:
                self._clouds.setdefault(model, {})[size] = cloud
        img = cloud.copy()
        x, y = model.generate(zt).numpy()[0]
        u = (x + POINTS_EXTENT) / (2 * POINTS_EXTENT) * (size - 1)
        v = size - 1 - (y + POINTS_EXTENT) / (2 * POINTS_EXTENT) * (size - 1)
        r = max(4.0, size / 45)
        ImageDraw.Draw(img).ellipse([u - r, v - r, u + r, v + r], outline=(20, 20, 160), width=max(2, int(r / 2.5)))
        return img

    def save(self, img: Image.Image) -> str:
        """A PNG named by its content (the same picture sent again is the same file, which Gradio then copies
        into its cache only once), written under a temporary name and moved into place; old ones swept."""
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        data = buf.getvalue()
        path = self.scratch / f"{hashlib.blake2b(data, digest_size=16).hexdigest()}.png"
        try:
            os.utime(path)      # already here: fresh again, so no sweep takes it on its way to a page
        except OSError:
            fd, tmp = tempfile.mkstemp(dir=self.scratch, suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        self._writes += 1
        if self._writes % 50 == 0:   # bounded by age and by count, whatever the load
            sweep_folder(self.scratch, SCRATCH_MAX_AGE_S, SCRATCH_MAX_FILES, skip=("web",))
        return str(path)

    def close(self) -> None:
        """Remove the scratch folder now (the app calls this once its server has stopped)."""
        if self._remove is not None:
            self._remove()

    # ---- strips ----
    @torch.inference_mode()
    def sweep(self, name: str, z, dim: int, label=None, cat=None, cont=None, n: int = 7,
              labelled: bool = False) -> Image.Image:
        """What one z-dimension does: the same z with that entry set to -3 ... +3. For an InfoGAN, dims past
        z go on to its codes (see sweep_names): a continuous code from -2 to 2, then every categorical value.
        labelled: each picture's value written under it."""
        model = self.models.get(name)
        zt = check_z(model, z)
        names = sweep_names(model)
        if not isinstance(dim, (int, float)) or not float(dim).is_integer() or not 0 <= int(dim) < len(names):
            raise ConfigError(f"dimension must be in 0..{len(names) - 1}")
        if int(dim) >= model.z_dim:
            strip, values = self._code_sweep(model, zt, int(dim) - model.z_dim, cat, cont, n)
        else:
            strip, values = self._z_sweep(model, zt, int(dim), label, cat, cont, n)
        return label_columns(strip, values) if labelled else strip

    def _z_sweep(self, model, zt, dim: int, label, cat, cont, n: int) -> tuple[Image.Image, list[str]]:
        zs = zt.repeat(n, 1)
        ticks = torch.linspace(-3, 3, n)
        zs[:, dim] = ticks
        values = [tick_label(t, 3) for t in ticks]
        if model.is_points:  # one small cloud per value, the point for it ringed
            cells = [self._points_view(model, zs[i:i + 1], STRIP_CELL) for i in range(n)]
            strip = Image.new("RGB", (n * (STRIP_CELL + 4) + 4, STRIP_CELL + 8), "white")
            draw = ImageDraw.Draw(strip)
            for i, c in enumerate(cells):
                x0 = 4 + i * (STRIP_CELL + 4)
                strip.paste(c, (x0, 4))
                draw.rectangle([x0 - 1, 3, x0 + STRIP_CELL, STRIP_CELL + 4], outline=(200, 200, 200))
            return strip, values
        k = check_label(model, label)
        codes = codes_tensor(model, cat, cont)
        x = model.generate(zs, None if k is None else torch.full((n,), k), None if codes is None else codes.repeat(n, 1))
        return grid(x, nrow=n, scale=max(1, STRIP_CELL // x.shape[-1])), values

    def _code_sweep(self, model, zt, which: int, cat, cont, n: int) -> tuple[Image.Image, list[str]]:
        c = model.cfg
        codes = codes_tensor(model, cat, cont)
        if which < c.cont_codes:
            codes = codes.repeat(n, 1)
            ticks = torch.linspace(-2, 2, n)
            codes[:, c.cat_codes + which] = ticks
            values = [tick_label(t, 2) for t in ticks]
        else:  # every categorical value, the continuous codes as set
            n = c.cat_codes
            codes = codes.repeat(n, 1)
            codes[:, :n] = torch.eye(n)
            values = [f"code {k}" for k in range(n)]
        x = model.generate(zt.repeat(n, 1), None, codes)
        return grid(x, nrow=n, scale=max(1, STRIP_CELL // x.shape[-1])), values

    @torch.inference_mode()
    def samples(self, name: str, n: int, seed, label=None, code=None, truncation: float | None = None,
                given: dict | None = None) -> dict:
        """n samples from one seed, as `sample` writes them: {"x": images N x C x H x W or points N x 2, "z",
        "labels", "codes" (None where they do not apply), "picture": a grid, or a scatter for points}.
        Conditional models cycle through the classes unless a label is given; InfoGAN codes are drawn from the
        seed, the categorical one fixed when `code` is given. `given` (a z file's {"z", "label", "codes"}, as
        explorer.services.inversion.load_z_file reads it) draws exactly those instead."""
        model = self.models.get(name)
        if given is not None:
            z, labels, codes = given["z"], given["label"], given["codes"]
            x = model.generate(z, labels, codes)
            return {"x": x, "z": z, "labels": labels, "codes": codes, "picture": grid(x, nrow=min(len(z), 8), scale=2)}
        seed = check_seed(seed)
        if model.num_classes == 0 and label is not None:
            raise ConfigError(f"model '{model.name}' is not conditional: a class label does not apply")
        if model.cfg.cat_codes == 0 and code is not None:
            raise ConfigError(f"model '{model.name}' has no categorical code: a code does not apply")
        if code is not None and not (isinstance(code, int) and 0 <= code < model.cfg.cat_codes):
            raise ConfigError(f"the categorical code must be in 0..{model.cfg.cat_codes - 1}")
        z = truncate(model.sample_z(n, seed), truncation, seed)
        labels = None
        if model.num_classes:
            labels = torch.arange(n) % model.num_classes if label is None else \
                torch.full((n,), check_label(model, label), dtype=torch.long)
        codes = model.sample_codes(n, seed, cat=code)
        x = model.generate(z, labels, codes)
        picture = scatter(x.numpy()) if model.is_points else \
            grid(x, nrow=min(n, 10 if model.num_classes == 10 else 8), scale=2)
        return {"x": x, "z": z, "labels": labels, "codes": codes, "picture": picture}

    @torch.inference_mode()
    def code_figure(self, name: str, j: int, seed: int) -> Image.Image:
        """InfoGAN's classic figure: rows = categorical code values, columns = continuous code j from -2 to 2,
        with z and the other codes fixed."""
        model = self.models.get(name)
        c = model.cfg
        if not isinstance(j, int) or not 0 <= j < c.cont_codes:
            raise ConfigError(f"--sweep-code must be in 0..{c.cont_codes - 1} for '{model.name}'"
                              if c.cont_codes else f"model '{model.name}' has no continuous code to sweep")
        rows, cols = max(c.cat_codes, 1), 9
        codes = torch.zeros(rows * cols, c.code_dim)
        for r in range(rows):
            if c.cat_codes:
                codes[r * cols:(r + 1) * cols, r] = 1.0
            codes[r * cols:(r + 1) * cols, c.cat_codes + j] = torch.linspace(-2, 2, cols)
        z = model.sample_z(1, seed).repeat(rows * cols, 1)
        return grid(model.generate(z, None, codes), nrow=cols, scale=2)

    @torch.inference_mode()
    def interpolate(self, name: str, zs: list, labels: list | None, steps: int, method: str,
                    class_blend: bool = False, gif_name: str = "interpolation.gif",
                    max_steps: int = 32) -> tuple[Image.Image, str, torch.Tensor]:
        """A path through K latents (and classes): (strip image, GIF path, frames N x C x H x W). The GIF is
        saved as `gif_name` (in a folder of its own), the name a browser downloads it under."""
        model = self.models.get(name)
        if model.is_points:
            raise ConfigError("interpolation draws images; this is a 2-D point model")
        steps = check_whole(steps, 2, max_steps, "steps")
        pts = torch.cat([check_z(model, z) for z in zs])
        path = interpolate_path(pts, steps, method)
        weights = None
        if model.num_classes:
            ks = [check_label(model, k) for k in (labels or [0] * len(zs))]
            eye = torch.eye(model.num_classes)
            anchors = eye[ks]                                            # K x classes
            # classes blend along the same schedule as z (a smooth morph between class embeddings)
            pos = torch.linspace(0, len(ks) - 1, steps)
            lo = pos.floor().clamp(max=len(ks) - 2).long()
            t = (pos - lo)[:, None]
            weights = (1 - t) * anchors[lo] + t * anchors[lo + 1] if class_blend else anchors[pos.round().long()]
        codes = model.sample_codes(1, 0)   # InfoGAN: the codes stay put along the path, only z (and class) move
        frames = model.generate(path, codes=None if codes is None else codes.repeat(steps, 1), class_weights=weights)
        per_row = steps if steps <= 16 else (steps + 1) // 2   # long paths wrap onto two rows
        strip = grid(frames, nrow=per_row, scale=max(1, 84 // frames.shape[-1]))
        gif = self._gif(frames, gif_name)
        return strip, gif, frames

    def _gif(self, frames: torch.Tensor, name: str) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(name).name)[:120] or "interpolation.gif"
        path = Path(tempfile.mkdtemp(dir=self.scratch)) / (safe if safe.endswith(".gif") else safe + ".gif")
        save_gif(frames, path)
        return str(path)

    def render(self, name: str, z, label=None) -> Image.Image:
        """What the /render API returns: exactly this z and class, InfoGAN codes at their centre (first
        categorical value, continuous 0), at native resolution."""
        model = self.models.get(name)
        k = check_label(model, label)
        if model.num_classes == 0 and label is not None:
            raise ConfigError(f"model '{name}' is not conditional: pass label=None")
        return self.image(name, z, k, 0 if model.cfg.cat_codes else None, [0.0] * model.cfg.cont_codes)

    def render_z_file(self, name: str, path) -> Image.Image:
        """What /render_z_file returns: the picture of a z file (`invert --npz`, `edit --npz`), with its class
        and InfoGAN codes, at native resolution; a file for another model, NaN or a pickle is refused."""
        from explorer.services.inversion import load_z_file
        model = self.models.get(name)
        found = load_z_file(path, model)
        label = None if found["label"] is None else int(found["label"][0])
        cat, cont = None, None
        if found["codes"] is not None:
            codes = found["codes"][0]
            k = model.cfg.cat_codes
            cat = int(codes[:k].argmax()) if k else None
            cont = [float(v) for v in codes[k:]]
        return self.image(name, found["z"][0].tolist(), label, cat, cont)

    def seed_z(self, name: str, seed, truncation: float | None = None) -> list[float]:
        """The z a seed stands for (optionally truncated), as a plain list for gr.State and the API."""
        model = self.models.get(name)
        seed = check_seed(seed)
        z = truncate(model.sample_z(1, seed), truncation or None, seed)
        return [round(float(v), 6) for v in z[0]]



def sweep_folder(folder: Path, max_age_s: float, max_files: int, skip: tuple[str, ...] = ()) -> int:
    """Keep `folder` bounded: its files, and the files one level down (Gradio's cache keeps each picture in a
    folder named by its content, and a picture sent many times gathers many files there), are removed when
    older than max_age_s, then the oldest beyond max_files, sparing any under KEEP_YOUNG_S old and the names
    in `skip`; a folder left empty goes once it is KEEP_YOUNG_S old. Returns how many files and folders were
    removed. Safe against entries vanishing meanwhile."""
    now, files, folders = time.time(), [], []

    def seen(p: Path):
        try:
            return p.stat().st_mtime
        except OSError:
            return None

    for p in Path(folder).glob("*"):
        if p.name in skip:
            continue
        if p.is_dir() and not p.is_symlink():
            folders.append(p)
            files += [(t, q) for q in p.glob("*") if (t := seen(q)) is not None]
        elif (t := seen(p)) is not None:
            files.append((t, p))
    files.sort(key=lambda e: e[0])
    doomed = [p for t, p in files if now - t > max_age_s]
    alive = [(t, p) for t, p in files if now - t <= max_age_s]
    doomed += [p for t, p in alive[:max(len(alive) - max_files, 0)] if now - t > KEEP_YOUNG_S]
    removed = 0
    for p in doomed:
        t = seen(p)      # looked at again: a picture sent again meanwhile was made fresh, and stays
        if t is None or time.time() - t <= KEEP_YOUNG_S:
            continue
        try:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
            removed += 1
        except OSError:
            pass
    for p in folders:     # emptied by an earlier sweep (its time is then the last removal), or never filled
        t = seen(p)
        if t is not None and now - t > KEEP_YOUNG_S:
            try:
                p.rmdir()          # only an empty folder goes; one a file just landed in stays
                removed += 1
            except OSError:
                pass
    return removed


def public_message(err: Exception, root: Path | None, audience: bool) -> str:
    """An error's text for the browser; in audience mode no filesystem paths leak."""
    msg = str(err)
    if audience and root is not None:
        msg = msg.replace(str(root.resolve()), "<checkpoints>").replace(str(root), "<checkpoints>")
        msg = msg.replace(str(Path.home()), "~")
    return msg


__all__ = ["CheckpointError", "ModelCache", "Renderer", "SEED_RULE", "Z_LIMIT", "check_label", "check_seed", "check_z", "public_message"]

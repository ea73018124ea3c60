"""Translators (pix2pix, CycleGAN) for the Translate tab and the `translate` CLI: which there are, held-out
inputs from their own data, a picture in and its translation out."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from explorer.checks import check_whole
from explorer.errors import ConfigError, DataError, ExplorerError
from explorer.latent.inversion import prepare_picture
from explorer.render import grid
from explorer.services.pixels import ModelCache
from explorer.store.checkpoint import load_classifier, load_translator

VARIATIONS = 4   # pix2pix outputs with dropout on, one per noise seed


class Translation:
    """A read-only service over the translators of one checkpoints folder."""

    def __init__(self, checkpoints=None, allow_paths: bool = False):
        self.models = ModelCache(checkpoints, allow_paths, kinds=("translator",), loader=load_translator,
                                 what="translators")
        self._judges: dict[str, object] = {}

    def _judge(self, t):
        return attribute_judge(self._judges, t, self.models.root)

    @torch.no_grad()
    def readings(self, name, got: dict) -> list[dict]:
        """Per attribute, the judge's probability for the input (a face) and for the output (and the truth when given):
        what the translation changed, as a classifier sees it. [] when the model has no judge."""
        t = self.get(name)
        net = self._judge(t)
        if net is None:
            return []
        # a pix2pix input is a drawing, which a judge of faces cannot read: its column is left out
        cols = {"output": got["output"]} if t.method == "pix2pix" else {"input": got["input"], "output": got["output"]}
        if got.get("truth") is not None:
            cols["truth"] = got["truth"]
        probs = {k: torch.sigmoid(net(v))[0].tolist() for k, v in cols.items()}
        return [{"attribute": a, **{k: round(v[i], 3) for k, v in probs.items()}} for i, a in enumerate(t.attributes)]

    def names(self) -> list[str]:
        """The translators, pix2pix ones first (a drawing turned into a face is the place to start)."""
        return _pix2pix_first(self.models.names())

    def refresh(self) -> list[str]:
        """The translators in the folder now (after a training job)."""
        return _pix2pix_first(self.models.refresh())

    def get(self, name):
        if not name:
            raise ConfigError("Pick a translator first")
        return self.models.get(name)

    def directions(self, name) -> list[tuple[str, str]]:
        """(label, direction) for a dropdown or radio: "sketch -> face", or both ways for a CycleGAN."""
        t = self.get(name)
        return [(t.direction_label(d), d) for d in t.directions]

    def describe(self, name) -> str:
        t = self.get(name)
        a, b = t.domains
        if t.method == "pix2pix":
            return (f"**{t.name}** (pix2pix) learnt from exact pairs to turn a *{a}* into a *{b}*: its critic saw "
                    f"each {a} beside the {b}, and an L1 term pulled the output to the true {b}.")
        return (f"**{t.name}** (CycleGAN) learnt from two unpaired sets, *{a}* and *{b}*: one generator each "
                f"way, and a picture sent there and back must come home (the cycle).")

    def held_out(self, name, k, direction: str = "forward") -> dict:
        """Test-split example number k of the model's own data (never trained on): {"input": uint8 H x W x 3,
        "truth": the true output for a paired model, else None}. Only for the rendered faces datasets."""
        t = self.get(name)
        k = check_whole(0 if k is None else k, 0, 99_999, "the held-out picture")
        if direction not in t.directions:
            raise ConfigError(f"'{t.name}' translates {' and '.join(t.directions)}, not '{direction}'")
        train = t.meta.get("train", {})
        options, size = train.get("data_options", {}), t.shape[1]
        if train.get("dataset") == "faces-sketch":
            from explorer.data.faces import load_faces
            kw = dict(split="test", n=1, seed=k, image_size=size, correlation=options.get("correlation", 0.0))
            sketch, face = load_faces(None, sketch=True, **kw), load_faces(None, **kw)
            return {"input": _hwc(sketch.x[0]), "truth": _hwc(face.x[0])}
        if train.get("dataset") == "faces-domains":
            from explorer.data.translation import faces_domains
            data = faces_domains(None, "", split="test", image_size=size,
                                 attribute=options.get("attribute", "Sunglasses"), n=1, seed=k)
            return {"input": _hwc(data.a[0] if direction == "forward" else data.x[0]), "truth": None}
        raise DataError(f"'{t.name}' was trained on your own pictures ({train.get('dataset')}): upload one")

    def prepare(self, name, picture) -> torch.Tensor:
        """A picture from outside as the model takes it (1 x C x S x S in [-1, 1]): a drawing pad's
        transparent canvas counts as white paper; any picture is cropped to its centre square and resized."""
        t = self.get(name)
        image = _as_image(picture)
        return prepare_picture(image, t.shape)

    @torch.no_grad()
    def translate(self, name, picture, direction: str = "forward", variations: bool = False) -> dict:
        """{"input", "output", "back" (CycleGAN: the output sent back, the cycle), "variations" (pix2pix with
        its dropout noise on, VARIATIONS seeds, or None)}: tensors 1 x C x S x S in [-1, 1]."""
        t = self.get(name)
        if direction not in t.directions:
            raise ConfigError(f"'{t.name}' translates {' and '.join(t.directions)}, not '{direction}'")
        x = picture if isinstance(picture, torch.Tensor) else self.prepare(name, picture)
        if float(x.max() - x.min()) < 0.04:    # nothing drawn, or one flat colour: nothing to translate
            raise DataError("the picture is blank (all one colour): draw or upload something to translate")
        out = t.translate(x, direction)
        back = None
        if len(t.directions) == 2:
            back = t.translate(out, "back" if direction == "forward" else "forward")
        noisy = None
        if variations and t.method == "pix2pix":
            noisy = torch.cat([t.translate(x, direction, noise_seed=s) for s in range(VARIATIONS)])
        return {"input": x, "output": out, "back": back, "variations": noisy}

    def sheet(self, got: dict) -> Image.Image:
        """One row: the input, the output (and the way back, or the noise variations)."""
        return self.rows([got])

    def rows(self, many: list[dict], scale: int = 4) -> Image.Image:
        """A row per translation: the input, the output (and the way back, or the noise variations)."""
        cells = [torch.cat([g[k] for k in ("input", "output", "back", "variations") if g[k] is not None])
                 for g in many]
        return grid(torch.cat(cells), nrow=cells[0].shape[0], scale=scale)

    def glance(self, name, direction: str = "forward", n: int = 8) -> Image.Image:
        """The model at a glance: n held-out inputs in a row, their outputs below (and the way back, CycleGAN)."""
        got = [self.translate(name, self.held_out(name, k, direction)["input"], direction) for k in range(n)]
        rows = [torch.cat([g[k] for g in got]) for k in ("input", "output", "back") if got[0][k] is not None]
        return grid(torch.cat(rows), nrow=n, scale=2)


def attribute_judge(judges: dict, model, root):
    """A model's judge (its config's `judge`, loaded once into `judges`) when it reads the model's attributes,
    else None: the Translate and Text tabs read their outputs with it."""
    name = model.meta.get("train", {}).get("judge")
    if not name or not model.attributes:
        return None
    if name not in judges:
        try:
            net, meta = load_classifier(name, root)
            judges[name] = net if tuple(meta.get("attributes") or ()) == tuple(model.attributes) else None
        except ExplorerError:
            judges[name] = None
    return judges[name]


def _pix2pix_first(listing: list[dict]) -> list[str]:
    return [m["name"] for m in sorted(listing, key=lambda m: "pix2pix" not in m["summary"])]


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def _as_image(picture) -> Image.Image:
    """A path, a file, a PIL image or an array; an RGBA drawing is laid on white paper."""
    from explorer.services.inversion import as_image
    if isinstance(picture, np.ndarray) and picture.ndim == 3 and picture.shape[2] == 4:
        if picture.size > 4096 * 4096 * 4 or picture.dtype != np.uint8:
            raise DataError("a drawing must be an H x W x 4 picture of bytes, at most 4096 x 4096")
        rgba = Image.fromarray(picture, "RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    image = as_image(picture)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):     # 16-bit (or 32-bit) grey: scaled, not clipped, to 8 bits
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or a.max() > 255 else 255.0
        image = Image.fromarray(np.clip(a / top * 255, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    return image.convert("RGB")

"""Text-to-image models (AttnGAN) for the Text tab and the `text` CLI: a sentence in, pictures out, and which
word drew which pixels (each word's attention map over the 32 x 32 picture)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from explorer.checks import check_seed, check_whole
from explorer.errors import ConfigError
from explorer.render import grid
from explorer.services.pixels import ModelCache
from explorer.services.translation import attribute_judge
from explorer.store.checkpoint import load_text_model

MAX_SAMPLES = 16
MAP_SCALE = 3        # an attention map is drawn at 3 x the picture's size
CHANGE_FULL = 0.3    # a pixel that changed by this much (0 to 1) is drawn white in the change sheet


class TextDesk:
    """A read-only service over the text-to-image models of one checkpoints folder."""

    def __init__(self, checkpoints=None, allow_paths: bool = False):
        self.models = ModelCache(checkpoints, allow_paths, kinds=("text",), loader=load_text_model,
                                 what="text-to-image models")
        self._judges: dict[str, object] = {}

    def names(self) -> list[str]:
        return [m["name"] for m in self.models.names()]

    def refresh(self) -> list[str]:
        return [m["name"] for m in self.models.refresh()]

    def get(self, name):
        if not name:
            raise ConfigError("Pick a text-to-image model first")
        return self.models.get(name)

    def describe(self, name) -> str:
        m = self.get(name)
        train = m.meta.get("train", {})
        return (f"**{m.name}** (AttnGAN) draws {m.image_shape[1]} x {m.image_shape[2]} faces from a sentence. It "
                f"read {len(m.vocab) - 1} words, in sentences composed from each training face's exact attributes "
                f"(dataset {train.get('dataset', '?')}); a first stage draws 16 x 16, then every region of the "
                f"32 x 32 stage attends over the words.")

    def vocabulary(self, name) -> list[str]:
        return list(self.get(name).vocab.words[1:])

    def _judge(self, m):
        return attribute_judge(self._judges, m, self.models.root)

    @torch.no_grad()
    def draw(self, name, caption, seed=0, n=8) -> dict:
        """{"images": n x 3 x 32 x 32 in [-1, 1], "attention": n x T x 32 x 32, "words", "seeds", "caption",
        "asks": what the sentence says of each attribute (+1 / -1), "readings": the judge's probabilities
        (n x attributes, or None)}. Sample i is drawn from seed + i."""
        m = self.get(name)
        seed = check_seed(seed)
        n = check_whole(8 if n is None else n, 1, MAX_SAMPLES, "the number of samples")
        words = m.vocab.parse(caption)
        from explorer.data.captions import read_statements
        seeds = [(seed + i) % 2**32 for i in range(n)]
        z = torch.cat([m.sample_z(1, s) for s in seeds])
        got = m.draw([caption] * n, z)
        net = self._judge(m)
        readings = torch.sigmoid(net(got["images"])).numpy() if net is not None else None
        return {"images": got["images"], "attention": got["attention"][:, :len(words)], "words": words,
                "seeds": seeds, "caption": caption, "asks": read_statements(words), "readings": readings,
                "model": m.name, "attributes": list(m.attributes)}

    def sheet(self, got: dict, scale: int = 4) -> Image.Image:
        return grid(got["images"], nrow=min(8, len(got["images"])), scale=scale)

    def attention_sheet(self, got: dict, k: int = 0) -> Image.Image:
        """Sample k, then one panel per word: its attention over the picture as a heat map laid on the
        picture (each map scaled to its own peak), the word under it."""
        k = check_whole(k, 0, len(got["images"]) - 1, "the sample")
        pic = ((got["images"][k].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255)
        s = pic.shape[0] * MAP_SCALE
        base = np.kron(pic, np.ones((MAP_SCALE, MAP_SCALE, 1)))
        panels, labels = [base], ["(sample)"]
        for t, w in enumerate(got["words"]):
            a = got["attention"][k, t].numpy()
            a = np.kron(a / max(a.max(), 1e-12), np.ones((MAP_SCALE, MAP_SCALE)))[..., None]
            heat = np.concatenate([np.ones_like(a), a, np.zeros_like(a)], 2) * 255     # dark -> yellow
            panels.append(0.35 * base * (0.3 + 0.7 * a) + 0.65 * heat * a)
            labels.append(w)
        cols = min(len(panels), 8)
        rows = -(-len(panels) // cols)
        label_h = 14
        sheet = Image.new("RGB", (cols * (s + 4), rows * (s + label_h + 4)), (255, 255, 255))
        draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
        for j, (p, label) in enumerate(zip(panels, labels)):
            r, c = divmod(j, cols)
            x, y = c * (s + 4), r * (s + label_h + 4)
            sheet.paste(Image.fromarray(np.asarray(p).clip(0, 255).astype(np.uint8)), (x, y))
            draw.text((x + 2, y + s + 1), label, fill=(0, 0, 0), font=font)
        return sheet

    def agreement(self, got: dict) -> list[dict]:
        """Per attribute: what the sentence asks, and on how many samples the judge reads it (and its mean
        probability). Empty without a judge."""
        if got["readings"] is None:
            return []
        rows = []
        for i, name in enumerate(got["attributes"]):
            ask = got["asks"].get(name, 0)
            p = got["readings"][:, i]
            row = {"attribute": name, "the sentence says": {1: "yes", -1: "no", 0: "-"}[ask],
                   "judge's mean probability": round(float(p.mean()), 3)}
            if ask:
                hits = int(((p > 0.5) == (ask > 0)).sum())
                row["samples that agree"] = f"{hits} of {len(p)}"
            else:
                row["samples that agree"] = "(not said)"
            rows.append(row)
        return rows

    def change(self, before: dict | None, got: dict) -> dict | None:
        """What changed since the last sentence drawn on the same model and seeds: the mean absolute change per
        pixel (n x 32 x 32) and a sheet of it; None when there is nothing to compare."""
        if not before or before.get("model") != got["model"] or before.get("seeds") != got["seeds"] \
                or before.get("caption") == got["caption"]:
            return None
        diff = (got["images"] - before["images"]).abs().mean(1) / 2          # n x H x W, 0..1
        heat = (diff / CHANGE_FULL).clamp(0, 1)      # one fixed scale: a small change stays dark
        pictures = torch.stack([heat * 2 - 1] * 3, 1)
        return {"diff": diff, "sheet": grid(pictures, nrow=min(8, len(pictures)), scale=4),
                "before": before["caption"], "mean": float(diff.mean())}

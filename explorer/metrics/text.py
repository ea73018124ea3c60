"""`eval` for text-to-image models, on held-out sentences whose exact answers the renderer knows.

- attribute agreement: for every attribute a caption states (present or absent), does the independent faces
  judge read it so in the picture drawn for that caption? Per attribute, over the captions that state it.
- R-precision (Xu et al. 2018): a picture's own caption against 99 others that state something else; the share
  of pictures whose own caption scores highest by DAMSM's sentence-level cosine.
- Frechet distance on the judge's features (generated against real held-out faces; real halves for scale).
- attention mass: for the words that name a place on the face (hat, sunglasses, beard, smile, ...), the share of
  the word's attention that falls inside the region the renderer changes when it adds that attribute, against
  the region's share of the picture (what attention spread evenly would give).
- one-word change: two sentences that differ in one attribute's words ("red hat" / "blue hat"), drawn with the
  same seeds: the share of the pictures' change inside that attribute's region, against the region's share.
"""
from __future__ import annotations

import numpy as np
import torch

from explorer.metrics.evaluate import EVAL_SEED, _batched, _load_judge, real_test_data
from explorer.metrics.frechet import fd_between

TEXT_JUDGE = "faces-attributes-eval"
R_CANDIDATES = 100
# words that name a region of the face -> the attribute whose pixels make that region
REGION_WORDS = {"hat": "Hat", "cap": "Hat", "sunglasses": "Sunglasses", "glasses": "Sunglasses",
                "shades": "Sunglasses", "beard": "Beard", "bearded": "Beard", "smile": "Smiling",
                "smiling": "Smiling", "grin": "Smiling", "grinning": "Smiling", "long": "Long_Hair"}


@torch.no_grad()
def attribute_regions(image_size: int = 32, n: int = 300, seed: int = 12345, share: float = 0.25) -> dict:
    """Per attribute, a boolean image_size x image_size mask: the pixels that change (by more than 10 % on any
    channel) when the renderer adds that attribute to a face, on at least `share` of n faces (the same faces
    and nuisance with it and without it; faces wander by the renderer's pose jitter, hence the share)."""
    from explorer.data.faces import ATTRIBUTES, render_faces, sample_attributes
    base = sample_attributes(n, 0.0, seed)
    masks = {}
    for k, name in enumerate(ATTRIBUTES):
        on, off = base.copy(), base.copy()
        on[:, k], off[:, k] = 1, 0
        a = render_faces(on, image_size, seed, workers=1).astype(np.int16)
        b = render_faces(off, image_size, seed, workers=1).astype(np.int16)
        changed = (np.abs(a - b).max(1) > 25).mean(0)          # S x S: how often each pixel changes
        masks[name] = changed >= share
    return masks


def _r_precision(model, images: torch.Tensor, captions: list[str], stated: np.ndarray, seed: int) -> float:
    """The share of pictures whose own caption outscores R_CANDIDATES - 1 captions that state something else."""
    scores = torch.cat([model.match(images[i:i + 250], captions) for i in range(0, len(captions), 250)])
    rng = np.random.default_rng(seed)
    hits, n = 0, len(captions)
    for i in range(n):
        other = np.flatnonzero((stated != stated[i]).any(1))
        if len(other) == 0:
            continue
        pick = rng.choice(other, size=min(R_CANDIDATES - 1, len(other)), replace=False)
        hits += int(scores[i, i] > scores[i, pick].max())
    return hits / n


def _attention_mass(draws: list[dict], captions_stated: np.ndarray, attributes: list[str], masks: dict) -> dict:
    """Per region word: the mean share of its attention inside its attribute's region (over captions that state
    the attribute present and use the word), and the region's share of the picture."""
    sums: dict[str, list[float]] = {}
    i = 0
    for d in draws:
        for words, attn in zip(d["words"], d["attention"]):
            for t, w in enumerate(words):
                name = REGION_WORDS.get(w)
                if name is None or captions_stated[i, attributes.index(name)] != 1:
                    continue
                region = torch.from_numpy(masks[name])
                a = attn[t]
                sums.setdefault(w, []).append(float(a[region].sum() / a.sum().clamp(min=1e-12)))
            i += 1
    return {w: {"inside": round(float(np.mean(v)), 4), "region_share": round(float(masks[REGION_WORDS[w]].mean()), 4),
                "captions": len(v)} for w, v in sorted(sums.items())}


# sentence pairs that differ in the words of one attribute, and the region those words name
ONE_WORD_PAIRS = (
    ("Hat", "a person with short black hair and a red hat", "a person with short black hair and a blue hat"),
    ("Hat", "a person with short black hair and a hat", "a person with short black hair and no hat"),
    ("Sunglasses", "a person with short black hair and sunglasses", "a person with short black hair and no sunglasses"),
    ("Smiling", "a smiling person with short black hair", "a serious person with short black hair"),
    ("Beard", "a person with short black hair and a beard", "a person with short black hair and no beard"),
)


@torch.no_grad()
def one_word_changes(model, masks: dict, n: int = 200, seed: int = EVAL_SEED) -> dict:
    """For sentence pairs that differ in one attribute's words, drawn with the same n seeds: the share of the
    pictures' change (mean absolute pixel difference) inside the region that attribute occupies, and the region's
    share of the picture (a change spread evenly would score that)."""
    z = model.sample_z(n, seed)
    out = {}
    for attribute, a, b in ONE_WORD_PAIRS:
        if not all(w in model.vocab.ids for w in (*a.split(), *b.split())):
            continue
        diff = (model.draw(a, z)["images"] - model.draw(b, z)["images"]).abs().mean(1)      # n x H x W
        region = torch.from_numpy(masks[attribute])
        out[f"{a} -> {b}"] = {"attribute": attribute,
                              "inside": round(float(diff[:, region].sum() / diff.sum().clamp(min=1e-12)), 4),
                              "region_share": round(float(region.float().mean()), 4),
                              "mean_change": round(float(diff.mean() / 2), 4)}
    return out


@torch.no_grad()
def evaluate_text_model(model, checkpoints=None, data_root=None, n: int = 1000, judge: str | None = None) -> dict:
    meta = dict(model.meta)
    meta["train"] = {**meta.get("train", {}),
                     "data_options": {**meta.get("train", {}).get("data_options", {}), "n": n}}
    data = real_test_data(meta, data_root)
    n = min(n, len(data))
    captions = [data.captions[i][0] for i in range(n)]
    stated = data.stated[:n, 0].numpy()
    z = model.sample_z(n, EVAL_SEED)
    draws = [model.draw(captions[i:i + 250], z[i:i + 250]) for i in range(0, n, 250)]
    images = torch.cat([d["images"] for d in draws])
    result: dict = {"model": model.name, "captions": n}
    judge = judge or meta.get("train", {}).get("judge") or TEXT_JUDGE
    net, jmeta = _load_judge(judge, checkpoints)
    names = list(jmeta.get("attributes") or [])
    attributes = list(data.info.attribute_names)
    if names == attributes:
        result["judge"] = judge
        read = _batched(net, images).gt(0).numpy()
        per, agree_all, said_all = {}, 0, 0
        for k, name in enumerate(names):
            said = stated[:, k] != 0
            if said.any():
                agree = (read[said, k] == (stated[said, k] > 0))
                per[name] = {"agreement": round(float(agree.mean()), 4), "captions": int(said.sum()),
                             "said_present": round(float(agree[stated[said, k] > 0].mean()), 4)
                             if (stated[said, k] > 0).any() else None,
                             "said_absent": round(float(agree[stated[said, k] < 0].mean()), 4)
                             if (stated[said, k] < 0).any() else None}
                agree_all += int(agree.sum())
                said_all += int(said.sum())
        result["attribute_agreement"] = per
        result["attribute_agreement_min"] = min(v["agreement"] for v in per.values())
        result["attribute_agreement_all"] = round(agree_all / max(said_all, 1), 4)
        real = data.x[:n].float().div(127.5).sub(1.0)
        f_fake, f_real = _batched(net.features, images).numpy(), _batched(net.features, real).numpy()
        result["frechet_distance"] = round(fd_between(f_fake, f_real), 4)
        half = n // 2
        result["frechet_distance_real_vs_real"] = round(fd_between(f_real[:half], f_real[half:2 * half]), 4)
    if model.I is not None:
        result["r_precision"] = round(_r_precision(model, images, captions, stated, EVAL_SEED), 4)
        result["r_precision_candidates"] = R_CANDIDATES
    masks = attribute_regions(model.image_shape[1])
    result["attention_mass"] = _attention_mass(draws, stated, attributes, masks)
    result["one_word_change"] = one_word_changes(model, masks)
    return result

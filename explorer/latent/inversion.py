"""Inversion: the z (and class, codes) whose picture matches a given one. An encoder's guess in one pass, then
Adam on z from that guess: pixel error, plus the judge's features (so the digit's identity, not only its
pixels, is matched), plus a prior term that keeps |z| near sqrt(z_dim), where N(0, I) puts almost all of its z
(edits of a z far from there degrade). A conditional model tries every class from the same guess at once (one
batch) and keeps the best; an InfoGAN's codes are found with z."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.errors import DataError
from explorer.models.conditioning import condition

DIGIT_BOX = 20        # MNIST: the digit's bounding box fits 20 x 20, centred by mass in 28 x 28
STEPS = 150
LR = 0.05
FEATURE_WEIGHT = 0.05
PRIOR_WEIGHT = 0.02


def prepare_digit(image: Image.Image) -> torch.Tensor:
    """A drawn or photographed digit as MNIST's were made: grey, white ink on black (dark ink on light paper is
    turned round), the ink's bounding box scaled to fit 20 x 20 keeping its shape, then placed in 28 x 28 with
    its centre of mass in the middle. Returns 1 x 1 x 28 x 28 in [-1, 1]."""
    a = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    if a.size and np.median(a) > 0.5:
        a = 1.0 - a
    if a.size == 0 or a.max() - np.median(a) < 0.1:
        raise DataError("the picture is empty: draw a digit (a thick white stroke on black)")
    a = np.clip(a - np.median(a), 0, None)
    a /= a.max()
    rows, cols = np.nonzero(a > 0.1)
    a = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = a.shape
    scale = DIGIT_BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize(size, Image.LANCZOS), np.float32) / 255
    ys, xs = np.indices(box.shape)
    mass = box.sum()
    cy, cx = (ys * box).sum() / mass, (xs * box).sum() / mass
    top = int(np.clip(round(14 - cy), 0, 28 - box.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - box.shape[1]))
    out = np.zeros((28, 28), np.float32)
    out[top:top + box.shape[0], left:left + box.shape[1]] = box
    return torch.from_numpy(out * 2 - 1)[None, None]


def prepare_picture(image: Image.Image, shape: tuple[int, int, int]) -> torch.Tensor:
    """Any other picture for a generator of `shape` (C, H, W): the centred square, resized, in [-1, 1]."""
    c, h, w = shape
    image = image.convert("RGB" if c == 3 else "L")
    side = min(image.size)
    left, top = (image.size[0] - side) // 2, (image.size[1] - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((w, h), Image.LANCZOS)
    a = np.asarray(image, np.float32) / 127.5 - 1
    a = a[None] if c == 1 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))[None]


@dataclass
class Inversion:
    z: torch.Tensor                       # 1 x z_dim
    label: int | None                     # the class found (conditional models)
    codes: torch.Tensor | None            # 1 x code_dim (InfoGAN), one-hot categorical then continuous
    guess: torch.Tensor                   # the generator's picture of the encoder's guess (1 x C x H x W)
    image: torch.Tensor                   # the generator's picture of the result
    guess_error: float                    # pixel mean squared error of the guess (pixels in [-1, 1])
    error: float                          # ... and of the result
    curve: list = field(default_factory=list)   # (step, pixel error of the best candidate)

    @property
    def prior_distance(self) -> float:
        """How far |z| is from where N(0, I) puts it, in standard deviations of |z| (about 1/sqrt(2))."""
        d = self.z.shape[1]
        return abs(self.z.norm().item() - math.sqrt(d - 0.5)) / math.sqrt(0.5)


def encoder_guess(model, encoder, target: torch.Tensor):
    """(z, class logits or None, codes or None) from the encoder, for one target picture."""
    with torch.no_grad():
        parts = encoder.split(encoder(target))
    codes = []
    if parts["cat_logits"] is not None:
        codes.append(F.one_hot(parts["cat_logits"].argmax(1), model.cfg.cat_codes).float())
    if parts["cont"] is not None:
        codes.append(parts["cont"].clamp(-2, 2))
    return parts["z"], parts["class_logits"], torch.cat(codes, 1) if codes else None


def invert(model, target: torch.Tensor, encoder=None, steps: int = STEPS, features=None, lr: float = LR,
           feature_weight: float = FEATURE_WEIGHT, prior_weight: float = PRIOR_WEIGHT, seed: int = 0,
           progress=None) -> Inversion:
    """Find z (and class, codes) for `target` (1 x C x H x W in [-1, 1]). `encoder` gives the start (None: a
    seeded random z); `features` (a callable, pictures -> features) adds the judge's feature error;
    `progress(step, error)` is called as it goes."""
    cfg, net = model.cfg, model.net
    if encoder is not None:
        z0, class_logits, codes0 = encoder_guess(model, encoder, target)
    else:
        z0, class_logits, codes0 = model.sample_z(1, seed), None, model.sample_codes(1, seed)
    k = max(cfg.num_classes, 1)                      # one candidate per class, optimised together
    labels = torch.arange(k) if cfg.num_classes else None
    z = z0.repeat(k, 1).clone().requires_grad_(True)
    params = [z]
    cat_logits = cont = None
    if cfg.cat_codes:
        cat_logits = (codes0[:, :cfg.cat_codes] * 4).repeat(k, 1).clone().requires_grad_(True)
        params.append(cat_logits)
    if cfg.cont_codes:
        cont = codes0[:, cfg.cat_codes:].repeat(k, 1).clone().requires_grad_(True)
        params.append(cont)

    def draw(z_, soft: bool = True):
        codes = []
        if cat_logits is not None:
            codes.append(F.softmax(cat_logits, 1) if soft else F.one_hot(cat_logits.argmax(1), cfg.cat_codes).float())
        if cont is not None:
            codes.append(cont)
        return net(z_, condition(cfg, z_.shape[0], labels=labels, codes=torch.cat(codes, 1) if codes else None))

    target_k = target.expand(k, *target.shape[1:])
    target_features = features(target).detach() if features is not None else None

    def errors(z_, soft=True):
        image = draw(z_, soft)
        pixel = ((image - target_k) ** 2).flatten(1).mean(1)
        return image, pixel

    with torch.no_grad():
        guess_images, guess_pixel = errors(z)
    if class_logits is not None:     # the encoder's class is the guess shown
        first = int(class_logits.argmax(1))
    else:
        first = int(guess_pixel.argmin())
    guess, guess_error = guess_images[first:first + 1].detach(), float(guess_pixel[first])
    opt = torch.optim.Adam(params, lr=lr)
    d = cfg.z_dim
    curve = [(0, float(guess_pixel.min()))]
    for step in range(1, steps + 1):
        image, pixel = errors(z)
        loss = pixel
        if target_features is not None:
            loss = loss + feature_weight * ((features(image) - target_features) ** 2).flatten(1).mean(1)
        loss = loss + prior_weight * ((z.norm(dim=1) - math.sqrt(d)) / math.sqrt(d)) ** 2
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            z.clamp_(-6, 6)
            if cont is not None:
                cont.clamp_(-2, 2)
        if step % 5 == 0 or step == steps:
            best_now = float(pixel.detach().min())
            curve.append((step, best_now))
            if progress is not None:
                progress(step, best_now)
    with torch.no_grad():
        images, pixel = errors(z, soft=False)
    best = int(pixel.argmin())
    codes = None
    if cfg.code_dim:
        parts = []
        if cat_logits is not None:
            parts.append(F.one_hot(cat_logits.argmax(1), cfg.cat_codes).float())
        if cont is not None:
            parts.append(cont)
        codes = torch.cat(parts, 1)[best:best + 1].detach()
    return Inversion(z=z[best:best + 1].detach(), label=best if cfg.num_classes else None, codes=codes, guess=guess,
                     image=images[best:best + 1].detach(), guess_error=guess_error, error=float(pixel[best]),
                     curve=curve)

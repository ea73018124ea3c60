"""What a model's edits are steered and judged by, as N x A logits with A names.

Faces (and any model with named attributes): its attribute classifier. Digits: the digit classifier's
log-odds of each class ("is this a 3?") plus two stroke features measured from the pixels, thickness and
slant, each turned into a logit around MNIST's median, so "Thick" at probability 0.5 is a median stroke and
0.88 one spread thicker. Everything is differentiable in the image, so gradient directions work alike.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import ConfigError
from explorer.metrics.strokes import slant

# (median, spread) on MNIST's 10,000 test digits; spread = interquartile range / 1.349 (a robust std).
# tests/test_directions.py re-measures them on ../shared/data.
THICK_REF = (2.00, 0.485)
SLANT_REF = (0.085, 0.261)
DIGIT_FEATURES = ("Thick", "Slanted")

NO_ATTRIBUTES = ("This model has no named attributes, so there is nothing to steer by name. Directions need a "
                 "generator trained on attribute-labelled data (the faces models) and a judge classifier that "
                 "names those attributes, or an unconditional digits model (its digit classes, stroke thickness "
                 "and slant). Try **faces-dcgan** (correlated attributes), **faces-dcgan-independent** or "
                 "**digits-dcgan**.")


def soft_thickness(images: torch.Tensor) -> torch.Tensor:
    """Mean stroke width in pixels, differentiable: 2 x ink area / ink perimeter, the perimeter measured as
    the total variation of the ink (a smooth stand-in for explorer.metrics.strokes.thickness; r = 0.96)."""
    ink = (images[:, 0] + 1) / 2
    area = ink.sum((1, 2))
    perimeter = (ink[:, :, 1:] - ink[:, :, :-1]).abs().sum((1, 2)) + (ink[:, 1:] - ink[:, :-1]).abs().sum((1, 2))
    return 2 * area / perimeter.clamp_min(1e-6)


class DigitJudge(nn.Module):
    """Digit class log-odds (10) then Thick and Slanted logits (2), from a frozen digit classifier."""

    def __init__(self, classifier: nn.Module, class_names=tuple("0123456789")):
        super().__init__()
        self.classifier = classifier
        self.names = tuple(f"digit {c}" for c in class_names) + DIGIT_FEATURES

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(self.classifier(images), 1)
        # log p - log(1 - p), computed stably: the logit of "this is class k"
        log_odds = logp - torch.log(-torch.expm1(logp.clamp(max=-1e-6)))
        thick = 2 * (soft_thickness(images) - THICK_REF[0]) / THICK_REF[1]
        lean = 2 * (slant(images) - SLANT_REF[0]) / SLANT_REF[1]
        return torch.cat([log_odds, thick[:, None], lean[:, None]], 1)


def kept(names: list[str], target: str) -> list[int]:
    """Indices of the attributes an edit of `target` should leave alone: all others, except that a digit
    class need not keep the other classes (a digit becoming a 3 stops being a 5); it keeps its strokes."""
    cls = target.startswith("digit ")
    return [i for i, n in enumerate(names) if n != target and not (cls and n.startswith("digit "))]


def attribute_judge(model, checkpoints=None, judge: str | None = None) -> tuple[nn.Module, list[str]]:
    """(a frozen judge returning N x A logits, the A names) for a generator, or a readable ConfigError.
    `judge` picks another classifier than the model's own (e.g. faces-attributes-eval, to judge edits)."""
    from explorer.metrics.evaluate import judge_name
    from explorer.store.checkpoint import load_classifier
    name = judge or judge_name(model.meta)
    if model.attributes and name:      # faces: the attribute classifier, its outputs in its own order
        net, meta = load_classifier(name, checkpoints)
        names = list(meta.get("attributes") or model.attributes)
    elif _digit_generator(model) and name:
        clf, meta = load_classifier(name, checkpoints)
        if len(meta.get("class_names") or ()) != 10:
            raise ConfigError(NO_ATTRIBUTES)
        net = DigitJudge(clf, tuple(meta["class_names"]))
        names = list(net.names)
    else:
        raise ConfigError(NO_ATTRIBUTES)
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval(), names


def _digit_generator(model) -> bool:
    """An unconditional, code-free 28x28 grey generator trained on digits: what DigitJudge can steer."""
    dataset = model.meta.get("train", {}).get("dataset")
    return (dataset == "digits" and tuple(model.image_shape) == (1, 28, 28) and model.num_classes == 0
            and not model.cfg.code_dim)

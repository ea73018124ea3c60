"""Direction-finding cost on this CPU: one attribute's gradient and penalized directions, and a linear
boundary fitted on 10,000 judged samples. Targets: gradient/penalized < 2 s; boundary < 10 s.

    python bench/directions.py [--model faces-dcgan] [--checkpoints DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.latent import directions as D  # noqa: E402
from explorer.metrics.evaluate import judge_name  # noqa: E402
from explorer.store.checkpoint import load_classifier, load_generator  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="faces-dcgan")
    p.add_argument("--checkpoints")
    p.add_argument("--attribute", default="Sunglasses")
    args = p.parse_args()
    model = load_generator(args.model, args.checkpoints)
    judge, _ = load_classifier(judge_name(model.meta), args.checkpoints)
    a = list(model.attributes).index(args.attribute)
    print(f"machine: {torch.get_num_threads()} CPU threads, torch {torch.__version__}; model {model.name}")
    # one attribute, from scratch: its logit's gradients on 128 samples, then the mean / the penalized solve
    grads, t_grad = timed(lambda: D.logit_gradients(model, judge, n=128))
    _, t_mean = timed(lambda: D.gradient_direction(grads, a))
    _, t_pen = timed(lambda: D.penalized_direction(grads, a, 1.0))
    print(f"  gradient direction ({args.attribute}, 128 samples, all attributes' gradients): "
          f"{t_grad + t_mean:6.2f} s")
    print(f"  penalized direction ({args.attribute}, same gradients + solve):                {t_grad + t_pen:6.2f} s")
    (z, labels), t_label = timed(lambda: D.label_samples(model, judge, 10000))
    _, t_fit = timed(lambda: D.boundary_normals(z, labels[:, a:a + 1]))
    print(f"  boundary from 10,000 samples: generate + judge {t_label:5.2f} s, logistic fit {t_fit:5.2f} s, "
          f"total {t_label + t_fit:6.2f} s")


if __name__ == "__main__":
    main()

"""Translators on this CPU, as issue 18 measures them (`eval`, judged by faces-attributes-eval, on held-out
inputs), and how long one picture takes through the Translate tab's path.

- pix2pix (faces-pix2pix): L1 to the true face; per attribute, agreement between the judge's reading of the true
  face and of the output (target >= 95 % for every attribute).
- CycleGAN (faces-cyclegan-sunglasses): A -> B adds the attribute (target >= 90 %), B -> A removes it (>= 90 %),
  every other attribute kept (>= 95 %); cycle and identity L1.
- time: one picture (1 x 3 x 32 x 32) through the service, median of 50, one torch thread.

    python bench/translation.py [--n 500] [--models faces-pix2pix faces-cyclegan-sunglasses]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.services.evaluation import evaluate  # noqa: E402
from explorer.services.translation import Translation  # noqa: E402

TARGETS = {"attribute_agreement_min": 0.95, "added": 0.90, "removed": 0.90, "others_kept_min": 0.95}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--models", nargs="+", default=["faces-pix2pix", "faces-cyclegan-sunglasses"])
    p.add_argument("--checkpoints")
    args = p.parse_args()
    torch.set_num_threads(1)
    desk = Translation(args.checkpoints)
    for name in args.models:
        t0 = time.perf_counter()
        result = evaluate(name, args.checkpoints, n=args.n)
        took = time.perf_counter() - t0
        x = desk.prepare(name, desk.held_out(name, 0)["input"])
        times = []
        for _ in range(50):
            t = time.perf_counter()
            desk.translate(name, x)
            times.append(time.perf_counter() - t)
        print(f"== {name} ({result['method']}, {result['pictures']} held-out inputs, eval took {took:.0f} s)")
        print(json.dumps(result, indent=1))
        for key, bar in TARGETS.items():
            if key in result:
                print(f"  {key}: {result[key]:.4f} (target >= {bar}) {'MET' if result[key] >= bar else 'NOT MET'}")
        print(f"  one picture through the service (translation, and the way back for CycleGAN): "
              f"median {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()

"""Translators on this CPU, as issue 18 measures them (`eval`, judged by faces-attributes-eval, on held-out
inputs), and how long one picture takes through the Translate tab's path.

- pix2pix (faces-pix2pix): L1 to the true face; per attribute, agreement between the judge's reading of the true
  face and of the output (target >= 95 % for every attribute).
- CycleGAN (faces-cyclegan-sunglasses): A -> B adds the attribute (target >= 90 %), B -> A removes it (>= 90 %),
  every other attribute kept (>= 95 %); cycle and identity L1.
- time: one picture (1 x 3 x 32 x 32) through the service, median of 50, one torch thread; training images/s
  of each preset (a few steps of its task on its own data).
- the baseline a user would otherwise try (--baseline GAN): the same held-out faces inverted into a faces GAN
  (Invert: its encoder's guess, then 50 search steps) and pushed along that GAN's feature direction for the
  attribute (gradient, penalized, conditional), at the smallest strength (0.5 to 8) where the judge reads the
  attribute added on >= 90 % (removed: the direction reversed); at that strength, the share of faces whose
  other attributes read the same as in the input.

    python bench/translation.py [--n 500] [--models faces-pix2pix faces-cyclegan-sunglasses]
                                [--baseline faces-dcgan] [--save]

--save records the eval figures (`eval`) and the baseline in the model's config.json and card.
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

from explorer.services import Services  # noqa: E402
from explorer.services.evaluation import evaluate  # noqa: E402
from explorer.services.translation import Translation  # noqa: E402
from explorer.store.checkpoint import load_classifier, record_metrics, resolve_model_dir  # noqa: E402

TARGETS = {"attribute_agreement_min": 0.95, "added": 0.90, "removed": 0.90, "others_kept_min": 0.95}
STRENGTHS = [0.5 * k for k in range(1, 17)]
METHODS = ("gradient", "penalized", "conditional")


def training_speed(preset: str, steps: int = 10) -> float:
    """Images per second of the preset's task on its own data (the data rendered once, then cached)."""
    from explorer.data import load_dataset
    from explorer.training.distributed import setup
    from explorer.training.loop import BatchStream
    from explorer.training.presets import get_preset
    from explorer.training.tasks import TASKS
    cfg = get_preset(preset)
    data = load_dataset(cfg.dataset, root=None, **{**cfg.data_options, "n": 512})
    task = TASKS.lookup(cfg.task)(cfg, data, setup("cpu"))
    stream = BatchStream(data, cfg.batch_size, 0)
    task.step(stream, False)
    t0 = time.perf_counter()
    for _ in range(steps):
        task.step(stream, False)
    return steps * cfg.batch_size / (time.perf_counter() - t0)


@torch.no_grad()
def direction_baseline(translator: str, gan: str, n: int, checkpoints=None) -> dict:
    """The CycleGAN's held-out faces edited instead by a GAN's feature direction (see the module's doc)."""
    services = Services.open(checkpoints, training=False)
    t = services.translation.get(translator)
    attribute = t.meta["train"]["data_options"].get("attribute", "Sunglasses")
    judge, jmeta = load_classifier(t.meta["train"]["judge"], checkpoints)
    names = list(jmeta["attributes"])
    k = names.index(attribute)
    studio, gen = services.directions, services.pixels.models.get(gan)
    read = lambda x: torch.sigmoid(judge(x)) > 0.5  # noqa: E731
    out: dict = {"gan": gan, "attribute": attribute, "pictures": n, "search_steps": 50, "methods": {}}
    for direction, sign in (("forward", 1.0), ("back", -1.0)):
        faces = torch.cat([services.translation.prepare(translator, services.translation.held_out(
            translator, i, direction)["input"]) for i in range(n)])
        with torch.enable_grad():
            z = torch.cat([services.inversion.invert(gan, faces[i:i + 1], 50)["result"].z for i in range(n)])
        before = read(faces)
        recon = read(gen.generate(z))
        others = [j for j in range(len(names)) if j != k]
        key = "added" if sign > 0 else "removed"
        out.setdefault("inversion_others_kept", {})[key] = round(
            (recon[:, others] == before[:, others]).all(1).float().mean().item(), 4)
        for method in METHODS:
            d = studio.direction(gan, method, attribute)
            row = out["methods"].setdefault(method, {})
            for s in STRENGTHS:
                after = read(gen.generate(z + sign * s * d[None]))
                flipped = (after[:, k] if sign > 0 else ~after[:, k]).float().mean().item()
                if flipped >= 0.9 or s == STRENGTHS[-1]:
                    kept = (after[:, others] == before[:, others]).float().mean(0)
                    row[key] = {"strength": s, "rate": round(flipped, 4), "others_kept_min": round(kept.min().item(), 4),
                                "others_kept_all": round((after[:, others] == before[:, others]).all(1).float().mean().item(), 4)}
                    break
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--models", nargs="+", default=["faces-pix2pix", "faces-cyclegan-sunglasses"])
    p.add_argument("--checkpoints")
    p.add_argument("--baseline", help="a faces GAN with an encoder (e.g. faces-dcgan): compare the CycleGAN with "
                   "its feature directions on the same faces")
    p.add_argument("--save", action="store_true", help="record the figures in each model's config.json and card")
    args = p.parse_args()
    torch.set_num_threads(1)
    desk = Translation(args.checkpoints)
    for name in args.models:
        t0 = time.perf_counter()
        result = evaluate(name, args.checkpoints, n=args.n, save=args.save)
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
        preset = desk.get(name).meta.get("provenance", {}).get("command") or ""
        preset = preset.split("--preset ")[1].split()[0] if "--preset " in preset else None
        if preset:
            print(f"  training: {training_speed(preset):.1f} images/s (preset {preset}, one thread)")
        if args.baseline and result["method"] == "cyclegan":
            base = direction_baseline(name, args.baseline, args.n, args.checkpoints)
            print("  the GAN's feature directions on the same faces:")
            print(json.dumps(base, indent=1))
            if args.save:
                record_metrics(resolve_model_dir(name, args.checkpoints), "direction_baseline", base)


if __name__ == "__main__":
    main()

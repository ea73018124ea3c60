"""Inversion quality and speed on this CPU, as the issue measures it:

- digits: real MNIST test images through a digits generator; the digit judge's class of the reconstruction
  against the input's label (target >= 95%), pixel MSE and judge-feature distance, encoder alone vs encoder +
  search;
- faces: held-out rendered faces through a faces generator; the eval judge's attributes of the reconstruction
  against the input's true attributes, per attribute (target >= 90% each);
- time per inversion at the default steps (targets: <= 1 s at 28 x 28, <= 3 s for faces) and of the encoder's
  guess alone (< 50 ms).

    python bench/inversion.py --data-root ../shared/data [--n 500] [--models digits-cdcgan faces-dcgan] [--save]

--save writes the figures into each generator's card (its encoder section).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.data import load_dataset  # noqa: E402
from explorer.latent.inversion import STEPS, encoder_guess, invert  # noqa: E402
from explorer.services import Services  # noqa: E402
from explorer.store.checkpoint import load_classifier, read_config, write_json  # noqa: E402


def held_out(model, n: int, data_root):
    """(pictures N x C x H x W in [-1, 1], labels or None, attributes or None) the generator never trained on."""
    if model.meta.get("dataset", {}).get("name") == "faces":
        options = model.meta.get("train", {}).get("data_options", {})
        data = load_dataset("faces", root=None, split="test", n=n, seed=7,
                            correlation=options.get("correlation", 0.0))
        x, _, attrs = data.get_batch(torch.arange(len(data)))
        return x, None, attrs
    data = load_dataset("digits", root=data_root, split="test", download=False)
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(7))[:n]
    x, y, _ = data.get_batch(pick)
    return x, y, None


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["digits-cdcgan", "faces-dcgan"])
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--checkpoints")
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--save", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)     # as the app runs it (several inversions at once on a small machine)
    services = Services.open(args.checkpoints, training=False)
    inv = services.inversion
    print(f"machine: {torch.get_num_threads()} torch thread, torch {torch.__version__}; {args.n} pictures each, "
          f"{args.steps} search steps")
    for name in args.models:
        model, encoder, features = inv._entry(name)
        if encoder is None:
            print(f"{name}: no encoder (train it: python -m explorer train --preset {name}-encoder); skipped")
            continue
        x, labels, attrs = held_out(model, args.n, args.data_root)
        judge_name = "faces-attributes-eval" if attrs is not None else "digits-classifier"
        judge, _ = load_classifier(judge_name, args.checkpoints)
        rows = {"encoder": [], "search": []}
        t_enc, t_inv = [], []
        for i in range(len(x)):
            target = x[i:i + 1]
            t0 = time.perf_counter()
            z, class_logits, codes = encoder_guess(model, encoder, target)
            t_enc.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with torch.enable_grad():
                res = invert(model, target, encoder, args.steps, features=features)
            t_inv.append(time.perf_counter() - t0)
            for kind, image in (("encoder", res.guess), ("search", res.image)):
                with torch.no_grad():
                    out = judge(image)
                    feat = ((judge.features(image) - judge.features(target)) ** 2).mean().item()
                row = {"mse": ((image - target) ** 2).mean().item(), "feature": feat}
                if labels is not None:
                    row["agree"] = float(out.argmax(1).item() == int(labels[i]))
                else:
                    row["agree"] = ((out[0] > 0).float() == attrs[i]).float().numpy()
                rows[kind].append(row)
            if (i + 1) % 50 == 0:
                print(f"  {name}: {i + 1}/{len(x)}", file=sys.stderr)
        summary = {"model": name, "n": len(x), "steps": args.steps, "judge": judge_name,
                   "encoder_ms_p50": round(1000 * float(np.median(t_enc)), 1),
                   "inversion_s_p50": round(float(np.median(t_inv)), 3),
                   "inversion_s_p95": round(float(np.percentile(t_inv, 95)), 3)}
        for kind, rs in rows.items():
            summary[f"{kind}_mse"] = round(float(np.mean([r["mse"] for r in rs])), 4)
            summary[f"{kind}_feature_distance"] = round(float(np.mean([r["feature"] for r in rs])), 4)
            agree = np.mean([r["agree"] for r in rs], axis=0)
            if labels is not None:
                summary[f"{kind}_class_agreement"] = round(float(agree), 3)
            else:
                summary[f"{kind}_attribute_agreement"] = {a: round(float(v), 3)
                                                          for a, v in zip(model.attributes, agree)}
        print(json.dumps(summary))
        if args.save:
            folder = Path(model.meta["path"])
            cfg = read_config(folder)
            lines = [f"measured by `python bench/inversion.py` on {len(x)} held-out pictures ({judge_name} judges):"]
            if labels is not None:
                lines.append(f"class agreement {summary['encoder_class_agreement']:.1%} (encoder alone), "
                             f"{summary['search_class_agreement']:.1%} (after {args.steps} steps)")
            else:
                worst = min(summary["search_attribute_agreement"].items(), key=lambda kv: kv[1])
                lines.append(f"attribute agreement after {args.steps} steps: "
                             + ", ".join(f"{a} {v:.0%}" for a, v in summary["search_attribute_agreement"].items())
                             + f" (lowest: {worst[0]})")
            lines.append(f"pixel MSE {summary['encoder_mse']} -> {summary['search_mse']}, judge-feature distance "
                         f"{summary['encoder_feature_distance']} -> {summary['search_feature_distance']}")
            lines.append(f"time: encoder {summary['encoder_ms_p50']} ms, inversion {summary['inversion_s_p50']} s "
                         "(median, one thread)")
            cfg["encoder"] = {**cfg["encoder"], "inversion": lines, "benchmark": summary}
            write_json(folder / "config.json", cfg)
            from explorer.store.card import model_card
            (folder / "README.md").write_text(model_card({**cfg, "name": cfg.get("name") or folder.name}))


if __name__ == "__main__":
    main()

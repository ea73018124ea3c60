"""GAN vs VAE on this CPU: every shipped VAE beside the GAN of its data, the Compare tab's table as it computes
it, the time each part of a Compare click takes, and the disentanglement figures `eval --save` recorded.

    python bench/compare.py --data-root ../shared/data [--checkpoints DIR] [--n 1000] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.services import Services  # noqa: E402


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--checkpoints", default=None)
    ap.add_argument("--n", type=int, default=1000, help="pictures per side for the table's figures")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    services = Services.open(args.checkpoints, data_root=args.data_root, training=False)
    cmp = services.compare
    gans, vaes = cmp.choices()
    print(f"{len(vaes)} VAE(s), {len(gans)} GAN(s); {torch.get_num_threads()} thread(s), {args.n} pictures a side")
    for vae in vaes:
        gan = cmp.partner(vae)
        if gan is None:
            print(f"\n{vae}: no GAN of the same data and z_dim here")
            continue
        print(f"\n=== {gan} (GAN) vs {vae} (VAE): {cmp.same_terms(gan, vae)}")
        cmp.real(vae, args.n)        # the held-out pictures, read once (as the tab's first click does)
        _, t_samples = timed(cmp.samples, gan, vae, list(range(1, 9)))
        _, t_recon = timed(cmp.reconstructions, gan, vae, list(range(8)))
        _, t_walk = timed(cmp.interpolation, gan, vae, 0, 1)
        rows, t_table = timed(cmp.table, gan, vae, args.n)
        for r in rows:
            print(f"  {r['row'][:70]:<70} GAN {r['GAN']:<28} VAE {r['VAE']}")
        print(f"  time: samples {t_samples * 1000:.0f} ms, reconstructions {t_recon * 1000:.0f} ms, "
              f"walk (two inversions) {t_walk:.2f} s, table {t_table:.2f} s; a Compare click "
              f"{t_samples + t_recon + t_walk + t_table:.1f} s")
    print("\nDisentanglement recorded by `eval --save` (MIG, DCI disentanglement / completeness / "
          "informativeness, SAP; 1 = one latent dimension per factor):")
    for name in gans + vaes:
        d = (services.pixels.models.get(name).meta.get("metrics", {}).get("eval", {}) or {}).get("disentanglement")
        if d and "mig" in d:
            print(f"  {name:<26} MIG {d['mig']:.3f}  DCI {d['dci_disentanglement']:.3f} / "
                  f"{d['dci_completeness']:.3f} / {d['dci_informativeness']:.3f}  SAP {d['sap']:.3f}   "
                  f"({d['source']})")


if __name__ == "__main__":
    main()

"""Text to image on this CPU, as issue 21 measures it (`eval`, judged by faces-attributes-eval, on held-out
sentences whose exact answers the renderer knows), and how long the Text tab takes to answer.

- for each attribute a caption states (present or absent), the judge agrees on >= 90 % of 1,000 held-out
  captions; R-precision with DAMSM's encoders (1 true caption against 99 that state something else);
  Frechet distance on the judge's features; per region word, the share of its attention inside the region the
  renderer draws for it; per one-word change, the share of the pictures' change inside its region.
- time: one sentence drawn for 8 seeds through the service (with the judge's readings), its attention sheet,
  and the Text tab's whole answer; median of 30, one torch thread.

    python bench/text.py [--model faces-attngan] [--n 1000] [--save]

--save records the eval figures in the model's config.json and card (as `eval --save` does).
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

from explorer.data.captions import EXAMPLES  # noqa: E402
from explorer.services.evaluation import evaluate  # noqa: E402
from explorer.services.text import TextDesk  # noqa: E402

TARGET = 0.90


def median_ms(fn, repeats: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="faces-attngan")
    ap.add_argument("--checkpoints")
    ap.add_argument("--data-root")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    desk = TextDesk(args.checkpoints, allow_paths=True)
    got = desk.draw(args.model, EXAMPLES[0], 0, 8)

    def answer():     # what the Text tab does for one Draw
        g = desk.draw(args.model, EXAMPLES[2], 0, 8)
        return desk.sheet(g), desk.attention_sheet(g, 0), desk.agreement(g)
    draw_ms = median_ms(lambda: desk.draw(args.model, EXAMPLES[1], 0, 8))
    sheet_ms = median_ms(lambda: desk.attention_sheet(got, 0))
    print(f"time (1 torch thread, median of 30): draw 8 samples + judge {draw_ms:.1f} ms, attention sheet "
          f"{sheet_ms:.1f} ms, the tab's answer (draw, sheets, table) {median_ms(answer):.1f} ms")
    t = time.perf_counter()
    r = evaluate(args.model, args.checkpoints, args.data_root, n=args.n, save=args.save)
    print(f"eval on {r['captions']} held-out captions ({time.perf_counter() - t:.0f} s):")
    for name, v in r.get("attribute_agreement", {}).items():
        mark = "ok" if v["agreement"] >= TARGET else "BELOW"
        print(f"  {name:<11} agreement {v['agreement']:.3f} over {v['captions']} captions (said present "
              f"{v['said_present']}, said absent {v['said_absent']})  [{mark} >= {TARGET}]")
    print(f"  all stated attributes: {r.get('attribute_agreement_all')}, min {r.get('attribute_agreement_min')}")
    print(f"  R-precision ({r.get('r_precision_candidates')} candidates): {r.get('r_precision')}")
    print(f"  Frechet distance {r.get('frechet_distance')} (real halves: {r.get('frechet_distance_real_vs_real')})")
    print("  attention mass inside the named region (uniform attention would give the region's share):")
    for w, v in r["attention_mass"].items():
        print(f"    {w:<11} {v['inside']:.3f} vs {v['region_share']:.3f} ({v['captions']} captions)")
    print("  one-word change inside the named region:")
    for k, v in r["one_word_change"].items():
        print(f"    {k}: {v['inside']:.3f} vs {v['region_share']:.3f} (mean change {v['mean_change']:.4f})")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Thread counts for rendering and training, measured: torch's intra-op threads at 1 and at every core, with the
machine otherwise idle and with one busy process beside (a training run, another visitor's render).

    python bench/threads.py

Prints the median time of one rendered picture (a generator forward at batch 1, as a slider drag asks) and of
one training step (the task the Train tab would run, on stand-in data), for each thread count and load. The app
renders with 1 thread (explorer.ui.build_app) and trains Train-tab jobs with 1 (explorer.services.jobs); the
figures here are why.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.store.checkpoint import load_generator  # noqa: E402
from explorer.training import estimate  # noqa: E402
from explorer.training.presets import PRESETS  # noqa: E402

BUSY = "import torch\ntorch.set_num_threads(1)\na = torch.randn(384, 384)\nwhile True:\n    a @ a\n"


def render_ms(model, reps: int = 60) -> float:
    z = model.sample_z(1, 0)
    labels = torch.zeros(1, dtype=torch.long) if model.num_classes else None
    times = []
    with torch.no_grad():
        for i in range(reps + 5):
            t0 = time.perf_counter()
            model.generate(z, labels)
            if i >= 5:
                times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def step_ms(preset: str) -> float:
    estimate._cache.clear()
    return 1000 * estimate.seconds_per_step(PRESETS[preset])


def main() -> None:
    cores = os.cpu_count() or 1
    counts = sorted({1, cores})
    models = {name: load_generator(name) for name in ("digits-dcgan", "faces-dcgan")}
    print(f"{cores} cores, torch {torch.__version__}")
    print(f"{'load':<22} {'threads':>7} " + " ".join(f"{'render ' + n:>20}" for n in models)
          + f" {'train step digits-dcgan':>24} {'train step faces-dcgan':>23}")
    for load in ("idle", "one busy process"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "idle" else None
        try:
            time.sleep(1.0 if busy else 0)
            for n in counts:
                torch.set_num_threads(n)
                renders = [render_ms(m) for m in models.values()]
                steps = [step_ms("digits-dcgan"), step_ms("faces-dcgan")]
                print(f"{load:<22} {n:>7} " + " ".join(f"{r:17.2f} ms" for r in renders)
                      + f" {steps[0]:21.0f} ms {steps[1]:20.0f} ms", flush=True)
        finally:
            if busy:
                busy.kill()
                busy.wait()


if __name__ == "__main__":
    main()

"""Training throughput: images/s of each image preset through the project's loop, beside a minimal
reference loop for the same DCGAN written the plain way pytorch/examples/dcgan does it
(torchvision dataset + DataLoader + transforms, BCE, the fake batch reused for the G step).

    python bench/train_throughput.py --data-root ../shared/data [--steps 60]

Prints one line per preset and the ratios. Target: ours / reference >= 1.0.

    python bench/train_throughput.py --data-root ../shared/data --time-to-agreement digits-cdcgan-quick

trains that conditional preset as the Train tab does (one thread) and prints, every 250 steps, the training time
so far and the class agreement of its samples (the model's judge, 2,000 samples; judging time not counted), then
the time it first reached 97 %.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.training.loop import train  # noqa: E402
from explorer.training.presets import PRESETS  # noqa: E402

IMAGE_PRESETS = ["digits-dcgan", "digits-cdcgan", "digits-mlpgan", "digits-wgan", "digits-wgangp", "faces-dcgan"]


def ours(name: str, steps: int, data_root) -> tuple[float, float]:
    """(images/s, seconds per generator step) measured over the last `steps` of a steps+warmup run."""
    warm = 5
    times: list[float] = []

    def cb(ev):
        times.append((ev["step"], time.perf_counter()))

    cfg = PRESETS[name].replace(steps=steps + warm, log_every=1, sample_every=10**6, checkpoint_every=10**6)
    with tempfile.TemporaryDirectory() as d:
        train(cfg, Path(d) / name, data_root=data_root, callback=cb, progress=False)
    (s0, t0), (s1, t1) = times[warm - 1], times[-2]  # the last event is the end-of-run report
    per_step = (t1 - t0) / (s1 - s0)
    from explorer.losses import build_loss
    n_critic = cfg.n_critic or build_loss(cfg.loss).defaults.n_critic
    return cfg.batch_size * n_critic / per_step, per_step


def reference(steps: int, data_root, batch: int = 64) -> float:
    """pytorch/examples/dcgan's loop, with the digits-dcgan architecture (the project's modules)."""
    import torchvision.datasets as dset
    import torchvision.transforms as transforms
    from explorer.models import build_critic, build_generator
    cfg = PRESETS["digits-dcgan"].model
    dataset = dset.MNIST(root=str(data_root), download=False,
                         transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=0)
    netG, netD = build_generator(cfg), build_critic(cfg)
    criterion = torch.nn.BCEWithLogitsLoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    warm, t0 = 5, None
    for i, (data, _) in enumerate(dataloader):
        if i == warm:
            t0 = time.perf_counter()
        if i == warm + steps:
            break
        netD.zero_grad()
        real = data
        label = torch.full((real.size(0),), 1.0)
        errD_real = criterion(netD(real), label)
        errD_real.backward()
        noise = torch.randn(real.size(0), cfg.z_dim)
        fake = netG(noise)
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()), label)
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake), label)
        errG.backward()
        optimizerG.step()
    return batch * steps / (time.perf_counter() - t0)


def time_to_agreement(name: str, data_root, target: float = 0.97, every: int = 250, n: int = 2000) -> None:
    """Train `name` and judge its class agreement every `every` steps; prints the time it first meets `target`."""
    from explorer.metrics.evaluate import evaluate_generator
    from explorer.store.checkpoint import load_generator
    torch.set_num_threads(1)            # as a Train tab job runs
    cfg = PRESETS[name].replace(checkpoint_every=every, sample_every=every)
    judged, first = [0.0], None

    def cb(ev):
        nonlocal first
        if ev["step"] % every or ev.get("state"):
            return
        t0 = time.perf_counter()
        model = load_generator(Path(d) / name)
        agree = evaluate_generator(model, data_root=data_root, n=n)["class_agreement"]
        judged[0] += time.perf_counter() - t0
        train_s = ev["elapsed"] - (judged[0] - (time.perf_counter() - t0))
        print(f"  step {ev['step']:5d}: {train_s:6.0f} s of training, class agreement {agree:.1%}", flush=True)
        if first is None and agree >= target:
            first = (ev["step"], train_s)

    print(f"{name}: {cfg.steps} steps, batch {cfg.batch_size}, width {cfg.model.width}, judged by {cfg.judge}")
    with tempfile.TemporaryDirectory() as d:
        train(cfg, Path(d) / name, data_root=data_root, callback=cb, progress=False)
    print(f"time to {target:.0%}: " + (f"{first[1]:.0f} s ({first[1] / 60:.1f} min, step {first[0]})" if first
                                        else "not reached"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--presets", nargs="*", default=IMAGE_PRESETS)
    p.add_argument("--time-to-agreement", metavar="PRESET", help="a conditional preset: time to 97%% class agreement")
    args = p.parse_args()
    if args.time_to_agreement:
        time_to_agreement(args.time_to_agreement, args.data_root)
        return
    print(f"machine: {torch.get_num_threads()} CPU threads, torch {torch.__version__}; {args.steps} timed steps each")
    ref = reference(args.steps, args.data_root)
    print(f"{'reference (pytorch/examples loop, digits-dcgan arch)':<56} {ref:8.0f} images/s")
    per_step = {}
    for name in args.presets:
        ips, per_step[name] = ours(name, args.steps, args.data_root)
        extra = f"  ratio vs reference {ips / ref:.2f}" if name == "digits-dcgan" else ""
        print(f"{name:<56} {ips:8.0f} images/s  {per_step[name] * 1000:7.1f} ms/G-step{extra}")
    if "digits-wgangp" in per_step and "digits-dcgan" in per_step:
        r = per_step["digits-wgangp"] / per_step["digits-dcgan"]
        print(f"WGAN-GP cost per generator step relative to BCE (digits): {r:.2f}x "
              f"(n_critic={PRESETS['digits-wgangp'].n_critic} critic steps, each with a double-backward gradient "
              f"penalty; the preset's {PRESETS['digits-wgangp'].steps:,} steps: "
              f"{per_step['digits-wgangp'] * PRESETS['digits-wgangp'].steps / 60:.0f} min)")


if __name__ == "__main__":
    main()

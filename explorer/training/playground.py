"""Playground: a small 2-D GAN trained one step at a time in this process, and what its picture shows.

A `ToyRun` is exactly the `toy-<distribution>-<loss>` preset's training (the same task, batches and seeds
as `python -m explorer train --preset ...`), driven by hand: critic steps only, generator steps only, or
both (n_critic critic steps, then one generator step, as the training loop does). Each run keeps its own
random stream, so two runs side by side never disturb each other. `view()` gathers what the Playground
tab draws: real and generated points, the critic's field, the generator's gradient on its samples, the
generator's warp of a grid in z, the critic's weights and the live mode coverage.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from explorer.data.toy2d import TOY_MODES, sample_toy
from explorer.errors import ConfigError
from explorer.losses import playground_choices
from explorer.metrics.coverage import mode_coverage
from explorer.store.config import TrainConfig
from explorer.training.distributed import DistInfo
from explorer.training.loop import BatchStream
from explorer.training.presets import PRESETS, toy_config
from explorer.training.tasks import TASKS, base_lrs, scale_lrs

DISTRIBUTIONS = tuple(TOY_MODES)
CHOICES = playground_choices()   # choice -> (label, registered loss, its settings), from the loss registry
LOSSES = {choice: label for choice, (label, _, _) in CHOICES.items()}   # what a person reads
EXTENT = {"8gaussians": 3.0, "25gaussians": 5.5, "ring": 3.0, "swissroll": 2.6}  # half-width of the picture
VIEW_SEED = 4321          # the fixed z whose images are drawn and counted
COVERAGE_N = 2500         # PacGAN's sample count for mode coverage
SHOWN_N = 600             # points drawn per frame (real and generated)
MAX_STEPS = 100_000       # a run stops growing here; reset to go again
MODES = ("both", "critic", "generator")
_BUILD_LOCK = threading.Lock()   # a run's nets are drawn from torch's global stream: one build at a time


def run_config(distribution: str, loss: str, seed: int = 0) -> TrainConfig:
    """The preset for this distribution and loss where one exists, else the same settings built for it."""
    if distribution not in TOY_MODES:
        raise ConfigError(f"unknown 2-D distribution '{distribution}' (known: {', '.join(TOY_MODES)})")
    if loss not in LOSSES:
        raise ConfigError(f"unknown playground loss '{loss}' (known: {', '.join(LOSSES)})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**31:
        raise ConfigError(f"seed must be a whole number between 0 and 2^31 - 1, got {seed!r}")
    _, base, opts = CHOICES[loss]
    cfg = PRESETS.get(f"toy-{distribution}-{base}") or toy_config(distribution, base)
    return cfg.replace(seed=int(seed), loss_options={**cfg.loss_options, **opts})


@dataclass
class View:
    """One frame of a run, as plain arrays (the renderer turns it into pixels)."""
    distribution: str
    loss: str
    extent: float
    real: np.ndarray            # SHOWN_N x 2
    fake: np.ndarray            # SHOWN_N x 2
    field: np.ndarray           # R x R critic output over the square, row 0 at the top (y = +extent)
    field_label: str            # what the colours mean
    field_range: tuple[float, float]
    arrows: np.ndarray          # A x 4: x, y, dx, dy (the generator's descent direction, scaled to be seen)
    arrow_scale: float          # mean gradient length before scaling
    warp: list[np.ndarray]      # polylines: images of z-grid lines (empty if z is not 2-D)
    weights: np.ndarray         # every critic weight, flattened
    clip: float | None          # the clipping bound when the loss clips
    coverage: dict | None       # mode_coverage() on COVERAGE_N samples, None for ring / swiss roll
    g_steps: int
    d_steps: int
    history: list[dict]


class ToyRun:
    """One live 2-D GAN. Not thread-safe: one caller at a time (each browser session owns its runs)."""

    def __init__(self, distribution: str = "8gaussians", loss: str = "wgangp", seed: int = 0):
        from explorer.data import load_dataset
        self.cfg = run_config(distribution, loss, seed)
        self.distribution, self.loss_name = distribution, loss
        self.data = load_dataset("toy2d", **self.cfg.data_options)
        # the same draws as explorer.training.loop.train, so a run equals the preset's run: the nets from a
        # stream seeded with the seed, then every step's z from one seeded with seed * 7, here the run's own
        # (so two runs can train in two threads at once, and nothing else drawing disturbs them)
        init = torch.Generator().manual_seed(self.cfg.seed)
        with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
            torch.set_rng_state(init.get_state())
            self.task = TASKS.lookup(self.cfg.task)(self.cfg, self.data, DistInfo())
        self._lrs = base_lrs(self.task.optimizers)
        self.rng = torch.Generator().manual_seed(self.cfg.seed * 7)
        self.task.use_rng(self.rng)
        self.stream = BatchStream(self.data, self.cfg.batch_size, self.cfg.seed)
        self.g_steps = self.d_steps = 0
        self.history: list[dict] = []   # one entry per logged step: step, loss_d, loss_g (+ wasserstein, gp)
        self._z_view = torch.randn(COVERAGE_N, self.cfg.model.z_dim,
                                   generator=torch.Generator().manual_seed(VIEW_SEED))
        self._real = sample_toy(distribution, SHOWN_N, VIEW_SEED)

    @property
    def n_critic(self) -> int:
        return self.task.n_critic

    def step(self, mode: str = "both", n: int = 1) -> dict:
        """n steps of `mode`: 'both' (n_critic critic steps + one generator step), 'critic' or 'generator'."""
        if mode not in MODES:
            raise ConfigError(f"step mode must be one of {', '.join(MODES)}, got {mode!r}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 1000:
            raise ConfigError(f"steps per call must be a whole number from 1 to 1000, got {n!r}")
        if self.g_steps + n > MAX_STEPS:
            raise ConfigError(f"this run has reached {MAX_STEPS:,} steps; reset it to start again")
        t = self.task
        stats: dict = {}
        for _ in range(int(n)):
            if self.cfg.lr_decay_to != 1.0:  # the preset's schedule, by generator step, as in training
                scale_lrs(t.optimizers, self._lrs, self.cfg.lr_factor(self.g_steps))
            if mode == "both":
                stats = t.step(self.stream, measure=False)
                self.d_steps += t.n_critic
            elif mode == "critic":
                _, _, loss_d, stats = t.critic_step(self.stream, measure=False)
                stats = {"loss_d": loss_d.item(), **stats}
                self.d_steps += 1
            else:
                fake = t.g(torch.randn(self.cfg.batch_size, self.cfg.model.z_dim, generator=self.rng), None)
                loss_g, stats = t.generator_step(fake, None, measure=False)
                stats = {"loss_g": loss_g.item(), **stats}
            if mode != "critic":
                self.g_steps += 1
            self._log(stats)
        bad = [k for k, v in stats.items() if not np.isfinite(v)]
        if bad:
            raise ConfigError(f"this run diverged ({bad[0]} became {stats[bad[0]]}); reset it to start again")
        return stats

    def _log(self, stats: dict) -> None:
        row = {"step": self.g_steps, "d_steps": self.d_steps,
               **{k: round(float(v), 5) for k, v in stats.items() if k in ("loss_d", "loss_g", "wasserstein", "gp")}}
        self.history.append(row)
        if len(self.history) > 4000:  # keep the plot light: thin the older half
            self.history = self.history[:2000:2] + self.history[2000:]

    @torch.no_grad()
    def points(self, n: int = COVERAGE_N) -> np.ndarray:
        """Generated points on the run's fixed z (the first n of COVERAGE_N)."""
        self.task.G.eval()
        try:
            return self.task.G(self._z_view[:n]).numpy()
        finally:
            self.task.G.train()

    def view(self, field_res: int = 48, n_arrows: int = 120, warp_lines: int = 11) -> View:
        G, Dn, loss = self.task.G, self.task.D, self.task.loss
        if not all(bool(torch.isfinite(p).all()) for p in (*G.parameters(), *Dn.parameters())):
            raise ConfigError("this run diverged (its weights are no longer finite numbers): nothing to draw; "
                              "reset it to start again")
        e = EXTENT[self.distribution]
        fake_all = self.points()
        centres, std = TOY_MODES[self.distribution]
        coverage = mode_coverage(fake_all, centres, std) if centres is not None else None
        # the critic over the square (rows from top to bottom, so the array reads like the picture)
        xs = np.linspace(-e, e, field_res, dtype=np.float32)
        gx, gy = np.meshgrid(xs, xs[::-1])
        grid_pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
        with torch.no_grad():
            out = Dn(grid_pts).reshape(field_res, field_res)
        values, label, rng = loss.critic_reading(out)
        field = values.numpy()
        if rng is None:   # an unbounded score: scaled to its range in this frame
            rng = (float(field.min()), float(field.max()))
            label = f"{label}, from {rng[0]:.3g} to {rng[1]:.3g}"
        # the generator's gradient on its own samples: the direction each sample is pushed
        x = torch.from_numpy(fake_all[:n_arrows].copy()).requires_grad_(True)
        with torch.enable_grad():
            lg, _ = loss.generator_loss(lambda t: Dn(t), x)
            (grad,) = torch.autograd.grad(lg * len(x), x)  # per-sample gradient (the loss is a mean)
        step = -grad.numpy()
        mean_len = float(np.linalg.norm(step, axis=1).mean())
        longest = float(np.percentile(np.linalg.norm(step, axis=1), 95)) or 1.0
        arrows = np.concatenate([x.detach().numpy(), step / longest * 0.12 * e], 1)
        # the generator's warp of the z-plane: grid lines in z, through G
        warp: list[np.ndarray] = []
        if self.cfg.model.z_dim == 2:
            ticks = torch.linspace(-2.5, 2.5, warp_lines)
            fine = torch.linspace(-2.5, 2.5, 41)
            lines = [torch.stack([torch.full_like(fine, t), fine], 1) for t in ticks] + \
                    [torch.stack([fine, torch.full_like(fine, t)], 1) for t in ticks]
            G.eval()
            with torch.no_grad():   # every line through G in one batch
                warp = list(G(torch.cat(lines)).numpy().reshape(len(lines), len(fine), 2))
            G.train()
        weights = torch.cat([p.detach().flatten() for name, p in Dn.named_parameters() if name.endswith("weight")])
        clip = getattr(loss, "clip", None)   # the clipping bound, for a loss that clips
        return View(self.distribution, self.loss_name, e, self._real, fake_all[:SHOWN_N], field, label, rng,
                    arrows, mean_len, warp, weights.numpy(), clip, coverage, self.g_steps, self.d_steps,
                    list(self.history))

"""An exponential moving average of the generator's weights (Karras et al. 2018, 2019; Brock et al. 2019:
BigGAN samples from it): the average moves smoothly where the trained weights jitter from step to step, so it
draws cleaner pictures at no cost to training. Updated after every generator step; the raw weights keep
training and are saved beside it for resuming."""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn


class WeightAverage:
    """theta_avg <- d * theta_avg + (1 - d) * theta after each update, with d = min(decay, (1 + t) / (10 + t))
    for the t-th update, so that early in a run (or in a short one) the average follows the weights instead of
    staying near their random start (TensorFlow's ExponentialMovingAverage with num_updates).

    BatchNorm's running statistics are not averaged: they belong to the raw weights' activations. `refresh`
    recomputes them for the average from its own samples before it is saved or drawn ("standing statistics")."""

    def __init__(self, net: nn.Module, decay: float):
        self.net, self.decay, self.updates = net, decay, 0
        self.avg = copy.deepcopy(net).eval().requires_grad_(False)
        self._refreshed_at = -1      # the update count its BatchNorm statistics were measured at

    @torch.no_grad()
    def update(self) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(list(self.avg.parameters()), [p.detach() for p in self.net.parameters()], 1 - d)
        self.updates += 1

    @torch.no_grad()
    def refresh(self, draw_inputs: Callable[[int], tuple], batches: int = 16, batch: int = 128,
                seed: int = 0) -> nn.Module:
        """Recompute the average's BatchNorm statistics over `batches` x `batch` of its own samples;
        draw_inputs(n) gives the generator's (z, condition). The global random state is left as it was, so a
        run that refreshes draws the same batches as one that does not."""
        norms = [m for m in self.avg.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms or self._refreshed_at == self.updates:    # nothing to measure, or measured since the last update
            return self.avg
        dev = next(self.avg.parameters()).device
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.reset_running_stats()
                m.momentum = None           # a cumulative average over the batches below
                m.train()
            try:
                for _ in range(batches):
                    self.avg(*draw_inputs(batch))
            finally:
                for m, mom in zip(norms, momenta):
                    m.momentum = mom
                self.avg.eval()
        self._refreshed_at = self.updates
        return self.avg

    def state(self) -> dict:
        return {"updates": self.updates}

    def load_state(self, st: dict) -> None:
        self.updates = int(st.get("updates", 0))
        self._refreshed_at = -1

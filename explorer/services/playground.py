"""The Playground's service: one visitor's pair of live 2-D runs, stepped together (kept in gr.State per page)."""
from __future__ import annotations

import time

from explorer.training.playground import ToyRun


class Session:
    """One browser's pair of runs (kept in gr.State, so every visitor has their own)."""

    def __init__(self, distribution: str, left: str, right: str, seed: int):
        self.runs = [ToyRun(distribution, left, seed)]
        if right != "none":
            self.runs.append(ToyRun(distribution, right, seed))
        self.settings = (distribution, left, right, seed)
        self.playing = True    # Pause sets it False, Play True; a refresh under way reads it when it ends

    def advance(self, mode: str, n: int, budget_s: float | None = None) -> int:
        """n steps of `mode` on every run (interleaved in chunks, so both progress alike); stops early when a
        time budget is given and spent. Returns the steps taken."""
        done, t0 = 0, time.perf_counter()
        while done < n:   # one step of each run at a time: a WGAN-GP step (18 ms here) must not overrun the budget
            for r in self.runs:
                r.step(mode, 1)
            done += 1
            if budget_s is not None and time.perf_counter() - t0 > budget_s:
                break
        return done

"""The Playground's service: one visitor's pair of live 2-D runs, stepped together (kept in gr.State per page)."""
from __future__ import annotations

import threading
import time

from explorer.training.playground import ToyRun


def _advance(run: ToyRun, mode: str, n: int, deadline: float | None) -> int:
    """Up to n steps of one run, one at a time so a deadline (a WGAN-GP step takes about 10 ms here) is kept."""
    done = 0
    while done < n:
        run.step(mode, 1)
        done += 1
        if deadline is not None and time.perf_counter() > deadline:
            break
    return done


class Session:
    """One browser's pair of runs (kept in gr.State, so every visitor has their own)."""

    def __init__(self, distribution: str, left: str, right: str, seed: int):
        self.runs = [ToyRun(distribution, left, seed)]
        if right != "none":
            self.runs.append(ToyRun(distribution, right, seed))
        self.settings = (distribution, left, right, seed)
        self.playing = True    # Pause sets it False, Play True; a refresh under way reads it when it ends

    def each(self, fn) -> list:
        """fn(run) for every run, in order; with two runs the second is done in a thread of its own beside the
        first. Each run has its own nets and random stream, and torch's kernels and the drawing let go of
        Python's lock, so on two cores the two overlap."""
        if len(self.runs) == 1:
            return [fn(self.runs[0])]
        out, errors = [None, None], []

        def work(i: int) -> None:
            try:
                out[i] = fn(self.runs[i])
            except Exception as e:  # noqa: BLE001  raised again in the caller's thread
                errors.append(e)

        other = threading.Thread(target=work, args=(1,), name="playground-run", daemon=True)
        other.start()
        work(0)
        other.join()
        if errors:
            raise errors[0]
        return out

    def advance(self, mode: str, n: int, budget_s: float | None = None) -> int:
        """n steps of `mode` on every run at once (see each), stopping early when a time budget is given and
        spent; returns the steps the slower run took."""
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        return min(self.each(lambda run: _advance(run, mode, n, deadline)))

"""The Playground's service: one visitor's pair of live 2-D runs, stepped together (kept in gr.State per page)."""
from __future__ import annotations

import os
import threading
import time

from explorer.training.playground import ToyRun

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_busy = [0]                   # pairs stepping or drawing right now, across all of this server's visitors
_busy_lock = threading.Lock()


class Session:
    """One browser's pair of runs (kept in gr.State, so every visitor has their own)."""

    def __init__(self, distribution: str, left: str, right: str, seed: int):
        self.runs = [ToyRun(distribution, left, seed)]
        if right != "none":
            self.runs.append(ToyRun(distribution, right, seed))
        self.settings = (distribution, left, right, seed)
        self.playing = True    # Pause sets it False, Play True; a refresh under way reads it when it ends
        self._ahead: tuple | None = None   # (thread, stop event, [steps done]) while training between refreshes
        # one operation on the runs at a time: two events of one page (a refresh under way and Pause's redraw)
        # may run at once in Gradio's workers
        self._lock = threading.RLock()
        self.refreshed_at: float | None = None   # when the last refresh while playing was ready (perf_counter)
        self.plots_at: float | None = None       # when it last redrew the weight histograms and loss curves
        self.plots_shown: dict = {}              # id(run) -> its histogram and curves drawn last, sent again
                                                 # by the refreshes that do not redraw them
        self.plays = 0         # Plays started by the page: a stream ends when a newer one starts
        self.speed: int | None = None            # the page's speed and layers, set while it plays
        self.layers: list | None = None

    def each(self, fn) -> list:
        """fn(run) for every run, in order. With two runs and a core to spare, the second is done in a thread of
        its own beside the first: each run has its own nets and random stream, and torch's kernels let go of
        Python's lock, so the two overlap. When other visitors' pairs already keep the cores busy, the two go
        one after the other: two threads sharing one busy core measured 10-15 % slower than that here."""
        if len(self.runs) == 1:
            return [fn(self.runs[0])]
        with _busy_lock:
            _busy[0] += 1
            spare = CORES >= 2 * _busy[0]
        try:
            if not spare:
                return [fn(run) for run in self.runs]
            return self._both(fn)
        finally:
            with _busy_lock:
                _busy[0] -= 1

    def _both(self, fn) -> list:
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
        """n steps of `mode` on every run, one step of each at a time (so the two sides always show the same
        step) and the two at once (see each); stops early when a time budget is given and spent (checked after
        every step: a WGAN-GP step takes about 12 ms here). Returns the steps taken."""
        with self._lock:
            self.settle()
            return self._advance(mode, n, budget_s)

    def _advance(self, mode: str, n: int, budget_s: float | None = None, stop=None) -> int:
        done, t0 = 0, time.perf_counter()
        while done < n and not (stop is not None and stop.is_set()):
            self.each(lambda run: run.step(mode, 1))
            done += 1
            if budget_s is not None and time.perf_counter() - t0 > budget_s:
                break
        return done

    def draw(self, fn) -> list:
        """fn(run) for every run (see each), once training between refreshes has stopped."""
        with self._lock:
            self.settle()
            return self.each(fn)

    def train_ahead(self, mode: str, n: int) -> None:
        """Go on training in the background, up to n steps, until the next call that touches the runs: while a
        refresh travels to the page and is drawn there, the runs keep learning instead of waiting for the
        next refresh to ask. Bounded by n, so a page that closes leaves nothing running. Nothing starts once
        Pause has cleared `playing` (checked under the lock Pause's settle takes)."""
        with self._lock:
            self.settle()
            if self.playing:
                self._start_ahead(mode, n)

    def _start_ahead(self, mode: str, n: int) -> None:
        stop, done = threading.Event(), [0]

        def work() -> None:
            try:
                done[0] = self._advance(mode, n, stop=stop)
            except Exception:  # noqa: BLE001  a diverged run: the next refresh steps it again and says why
                pass

        thread = threading.Thread(target=work, name="playground-ahead", daemon=True)
        self._ahead = (thread, stop, done)
        thread.start()

    def stop(self) -> None:
        """Stop playing: the flag first (a refresh under way reads it without waiting for the lock), then what
        trains ahead; nothing trains on after this returns. A Play under way is over (its number is no longer
        the newest), so a refresh it was drawing is not sent."""
        self.playing = False
        self.plays += 1
        self.settle()

    def settle(self) -> int:
        """Stop training ahead (after its current step); returns the steps it took since it began."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
            if ahead is None:
                return 0
            thread, stop, done = ahead
            stop.set()
            thread.join()
            return done[0]

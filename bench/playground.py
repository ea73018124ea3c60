"""Playground speed and the toy presets' mode coverage.

    python bench/playground.py                 # speed: training steps/s and refreshes/s, as the tab plays
    python bench/playground.py --coverage      # also train each toy preset 5,000 steps and count modes
    python bench/playground.py --browser       # also play each pair in headless Chromium (launch.py, the tab's
                                               # own Play): generator steps/s per run and pictures/s as seen
    python bench/playground.py --profile       # also where the page's CPU goes while it plays (Chromium's profiler)

Speed targets (issue 22, this 2-core CPU): at least 100 generator steps per second per run with two runs side by
side, the picture redrawn at least 5 times a second. The two runs of a pair train (and are drawn) at once, the
second in a thread of its own, so a pair uses two cores where there are two. Before playing, it prints each loss's
generator step training alone, the arithmetic in it (torch's profiler counts the FLOPs) and what two runs at 100
steps a second each need in cores of training alone: the target's floor before any drawing or browser. A refresh's
drawing time here includes encoding its two pictures per side as the page receives them (FRAME_FORMAT), which Gradio
does after the handler. These figures time refreshes back to back; in the tab (--browser) the runs also train on
while a refresh travels to the page and is drawn there, and the page's own drawing shares the CPU when the browser
runs on the same machine. Gradio's page updates the loading status of every component the app's events track (a
search of the page's component tree and a copy of the component's value, each) when an event starts and when it
ends: with this app's nine tabs about 80 ms of the page's CPU an event here (Chromium's profiler). Play is therefore
one streaming event whose refreshes arrive as its outputs (explorer/ui/playground.py), not an event per picture; its
refreshes start at most every TICK_S. Coverage targets:
toy-8gaussians-wgangp 8/8 modes with >= 90% high-quality samples within 5,000 generator steps;
toy-25gaussians-wgangp >= 23/25; the BCE presets show mode collapse (fewer modes, or modes that come and go).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")   # torch's profiler (step_budget) then prints no GPU warnings
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.render import histogram, plane  # noqa: E402
from explorer.training.playground import ToyRun  # noqa: E402
from gradio.processing_utils import encode_pil_to_bytes  # noqa: E402

from explorer.ui.playground import BUDGET_S, FRAME_FORMAT, LAYERS, PLOTS_S, Session, _frames  # noqa: E402


def speed(distribution: str, left: str, right: str, seconds: float, speed_setting: int) -> None:
    """Play as the tab does: each refresh trains up to `speed_setting` steps within the time budget, then draws
    (the weight histograms and loss curves at most once every PLOTS_S)."""
    sess = Session(distribution, left, right, 0)
    sess.advance("both", 20)  # warm up
    steps = refreshes = 0
    train_s = draw_s = 0.0
    plots_at = None
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        steps += sess.advance("both", speed_setting, budget_s=BUDGET_S)
        t1 = time.perf_counter()
        plots = plots_at is None or t1 - plots_at >= PLOTS_S
        frames = _frames(sess, LAYERS, plots)
        plots_at = t1 if plots else plots_at
        for picture in frames[0::4] + frames[2::4]:     # each side's field and weight histogram, as sent
            if isinstance(picture, Image.Image):
                encode_pil_to_bytes(picture, FRAME_FORMAT)
        t2 = time.perf_counter()
        train_s += t1 - t0
        draw_s += t2 - t1
        refreshes += 1
    wall = train_s + draw_s
    runs = f"{left} + {right}" if right != "none" else left
    print(f"{distribution:11s} {runs:16s} speed {speed_setting:3d}: {steps / wall:6.1f} generator steps/s per run, "
          f"{refreshes / wall:4.2f} refreshes/s (training {train_s / refreshes * 1000:.0f} ms, "
          f"drawing {draw_s / refreshes * 1000:.0f} ms per refresh)")


def draw_cost() -> None:
    run = ToyRun("8gaussians", "wgangp", 0)
    run.step("both", 50)
    n = 10
    t0 = time.perf_counter()
    for _ in range(n):
        v = run.view()
    t1 = time.perf_counter()
    for _ in range(n):
        plane(v), histogram(v.weights)
    t2 = time.perf_counter()
    for _ in range(n):
        encode_pil_to_bytes(plane(v), FRAME_FORMAT), encode_pil_to_bytes(histogram(v.weights), FRAME_FORMAT)
    t3 = time.perf_counter()
    print(f"one frame: view() {(t1 - t0) / n * 1000:.0f} ms (critic field, arrows, warp, 2,500-sample coverage), "
          f"pixels {(t2 - t1) / n * 1000:.0f} ms, pixels and {FRAME_FORMAT} encoding {(t3 - t2) / n * 1000:.0f} ms")


def matmul_peak() -> float:
    """This core's float32 matrix-multiply rate at the toy critic's size (256 x 128 @ 128 x 128), FLOP/s."""
    a, b = torch.randn(256, 128), torch.randn(128, 128)
    for _ in range(200):
        a @ b
    t0 = time.perf_counter()
    for _ in range(3000):
        a @ b
    return 2 * 256 * 128 * 128 * 3000 / (time.perf_counter() - t0)


def step_budget() -> None:
    """What one generator step of each loss costs training alone (one thread), the arithmetic in it (counted by
    torch's profiler) and the CPU each of the tab's pairs needs to advance both runs 100 steps a second: the
    target's floor before any drawing, and before the browser's share when it runs on the same machine."""
    from torch.profiler import ProfilerActivity, profile

    peak = matmul_peak()
    print(f"matrix multiply at the critic's size, one thread: {peak / 1e9:.0f} GFLOP/s")
    cost = {}
    for name in ("bce", "bce-saturating", "wgangp", "wgan"):
        run = ToyRun("25gaussians", name, 0)
        run.step("both", 20)
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            run.step("both", 10)
        flops = sum(e.flops for e in prof.key_averages() if e.flops) / 10
        t0 = time.perf_counter()
        run.step("both", 100)
        ms = (time.perf_counter() - t0) * 10
        cost[name] = ms
        print(f"one generator step of {name} ({run.n_critic} critic step(s) each), training alone: {ms:.1f} ms, "
              f"at most {1000 / ms:.0f} steps/s; {flops / 1e6:.0f} MFLOP, {flops / peak * 1000:.1f} ms at the "
              f"multiply rate above")
    cores = os.cpu_count() or 1
    for left, right in (("bce", "wgangp"), ("wgan", "wgangp"), ("bce-saturating", "bce")):
        need = (cost[left] + cost[right]) / 10        # ms of CPU a second at 100 steps/s each, in cores
        print(f"{left} + {right} at 100 generator steps/s each: {need:.2f} cores of training "
              f"(this machine has {cores})")

# counts the new pictures the page shows in the left field: its <img> src, looked at every 20 ms
COUNT_FRAMES = """() => {
  window.__frames = 0; let last = null;
  window.__watch = setInterval(() => {
    const img = document.querySelector('.field img');
    const src = img ? img.getAttribute('src') : null;
    if (src && src !== last) { window.__frames++; last = src; }
  }, 20);
}"""


@contextlib.contextmanager
def playground_page():
    """The app started as a user starts it (launch.py, shipped models), its Playground tab open in headless
    Chromium at step 0."""
    from playwright.sync_api import sync_playwright
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from browser_latency import ARGS, CHROMIUM, serve

    proc, url = serve(None)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url)
            page.get_by_role("tab", name="Playground").click()
            page.wait_for_function("document.body.innerText.includes('generator step 0')", timeout=120000)
            yield page
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def in_browser(seconds: float) -> None:
    """Play each of the tab's pairs in headless Chromium for `seconds`, the app started as a user starts it."""
    import re

    def steps(page) -> list[int]:
        return [int(n.replace(",", "")) for n in re.findall(r"generator step ([\d,]+)", page.locator("body").inner_text())]

    with playground_page() as page:
        for dist, pair in (("8gaussians", "BCE vs WGAN-GP"), ("8gaussians", "Weight clipping vs gradient penalty"),
                           ("25gaussians", "Saturating vs non-saturating BCE")):
            for label, value in (("Data", dist), ("Compare", pair)):
                box = page.get_by_label(label, exact=True)
                box.click()
                box.fill(value)
                page.keyboard.press("Enter")
            page.get_by_role("button", name="Reset", exact=True).click()
            page.wait_for_function("/generator step 0, critic/.test(document.body.innerText)", timeout=60000)
            time.sleep(1.0)
            page.evaluate(COUNT_FRAMES)
            page.get_by_role("button", name="Play", exact=True).click()
            page.wait_for_function("/generator step [1-9]/.test(document.body.innerText)", timeout=60000)
            s0, f0, t0 = steps(page), page.evaluate("window.__frames"), time.perf_counter()
            time.sleep(seconds)
            s1, f1, t1 = steps(page), page.evaluate("window.__frames"), time.perf_counter()
            page.get_by_role("button", name="Pause", exact=True).click()
            page.evaluate("clearInterval(window.__watch)")
            time.sleep(1.0)
            rate = [(b - a) / (t1 - t0) for a, b in zip(s0, s1)]
            print(f"browser: {dist:11s} {pair:36s} {min(rate):6.1f} generator steps/s per run "
                  f"({', '.join(f'{r:.1f}' for r in rate)}), {(f1 - f0) / (t1 - t0):4.2f} pictures/s", flush=True)


def page_profile(seconds: float) -> None:
    """Where headless Chromium's CPU goes while the tab plays BCE vs WGAN-GP (Chrome's sampling profiler)."""
    import collections

    with playground_page() as page:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        page.get_by_role("button", name="Play", exact=True).click()
        time.sleep(2.0)
        cdp.send("Profiler.start")
        time.sleep(seconds)
        prof = cdp.send("Profiler.stop")["profile"]
        page.get_by_role("button", name="Pause", exact=True).click()
    nodes = {n["id"]: n for n in prof["nodes"]}
    parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}
    own, status_pass = collections.Counter(), 0.0
    for sample, dt in zip(prof["samples"], prof["timeDeltas"]):
        ms, frame = dt / 1000, nodes[sample]["callFrame"]
        own[frame["functionName"] or "(anonymous)"] += ms
        node = sample
        while node in parent:            # Gradio's pass over every component's loading status
            if nodes[node]["callFrame"]["functionName"] == "update_loading_stati_state":
                status_pass += ms
                break
            node = parent[node]
    busy = sum(own.values()) - own["(idle)"]
    print(f"page profile: {busy / seconds / 10:.0f} % of one core busy over {seconds:g} s of Play; "
          f"Gradio's loading-status pass {status_pass / seconds / 10:.0f} %; most time in:")
    for name, ms in own.most_common(8):
        print(f"  {ms / seconds / 10:5.1f} %  {name}")


def coverage(steps: int) -> None:
    from explorer.data.toy2d import TOY_MODES
    from explorer.metrics.coverage import mode_coverage
    for dist, loss in (("8gaussians", "wgangp"), ("25gaussians", "wgangp"), ("8gaussians", "bce"),
                       ("25gaussians", "bce")):
        run = ToyRun(dist, loss, 0)
        centres, std = TOY_MODES[dist]
        t0 = time.perf_counter()
        trace = []
        for k in range(steps // 500):
            run.step("both", 500)
            c = mode_coverage(run.points(), centres, std)
            trace.append(f"{(k + 1) * 500}: {c['modes_captured']}/{c['modes_total']} {c['high_quality']:.0%}")
        print(f"toy-{dist}-{loss} ({time.perf_counter() - t0:.0f} s): " + ", ".join(trace), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="play time per case")
    ap.add_argument("--coverage", action="store_true", help="also train the toy presets and count modes")
    ap.add_argument("--browser", action="store_true", help="also play the tab's pairs in headless Chromium")
    ap.add_argument("--profile", action="store_true", help="also profile the page's CPU while it plays")
    ap.add_argument("--steps", type=int, default=5000, help="generator steps for --coverage")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as the app runs (build_app sets one thread per render)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    draw_cost()
    step_budget()
    for dist, left, right, spd in (("8gaussians", "wgangp", "none", 20), ("8gaussians", "bce", "none", 20),
                                   ("8gaussians", "bce", "wgangp", 20), ("8gaussians", "wgan", "wgangp", 20),
                                   ("25gaussians", "bce", "wgangp", 20), ("25gaussians", "bce-saturating", "bce", 20),
                                   ("25gaussians", "bce-saturating", "bce", 100), ("8gaussians", "wgangp", "none", 100)):
        speed(dist, left, right, args.seconds, spd)
    if args.browser:
        in_browser(max(args.seconds, 10.0))
    if args.profile:
        page_profile(max(args.seconds, 8.0))
    if args.coverage:
        coverage(args.steps)


if __name__ == "__main__":
    main()

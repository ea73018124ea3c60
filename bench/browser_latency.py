"""The live view in a real browser: Playwright drives headless Chromium against the app started as a user
starts it (launch.py, shipped models), and reads the page's own timings (window.latentExplorer.stats).

    python bench/browser_latency.py [--checkpoints DIR] [--pages 8]

Prints, per model (digits-cdcgan 28x28, faces-dcgan 32x32): time from a slider input event to the canvas
painted over 200 moves (p50/p95), frames drawn per second during a continuous 5 s drag, server requests
during the drag, first render after load; then the page weight added (runtime + model files); then the
server process's CPU while N pages drag at once. Targets: p95 <= 16 ms (28x28), <= 33 ms (faces); >= 30
frames/s; 0 requests; server CPU < 5 % with >= 8 pages.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

# a hand on a slider, in the page: one input event per animation frame for `ms`, back and forth
SWEEP = """async ([ms, sel]) => {
  const r = document.querySelector(sel);
  const t0 = performance.now(); let i = 0;
  while (performance.now() - t0 < ms) {
    await new Promise(requestAnimationFrame);
    r.value = String(Math.sin(i++ / 20) * 2.9);
    r.dispatchEvent(new Event('input', {bubbles: true}));
  }
  return i;
}"""


def serve(checkpoints):
    from ui_helpers import free_port
    port = free_port()
    cmd = [sys.executable, str(ROOT / "launch.py"), "--port", str(port)]
    if checkpoints:
        cmd += ["--checkpoints", str(checkpoints)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(400):
        try:
            if httpx.get(f"{url}config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the app did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pick(page, name: str) -> None:
    box = page.get_by_label("Model", exact=True)
    box.click()
    box.fill(name)
    page.keyboard.press("Enter")
    page.wait_for_function(f"latentExplorer.state && latentExplorer.state.model === '{name}'", timeout=60000)
    page.evaluate("latentExplorer.drawNow()")


def measure_model(page, name: str) -> None:
    if page.evaluate("latentExplorer.state.model") != name:
        pick(page, name)
    page.wait_for_timeout(3000)        # the page's load events (strip, other tabs) finish first
    where = page.evaluate("latentExplorer.where")
    slider = page.locator(".zslider input[type=range]").first
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.evaluate("latentExplorer.reset()")
    page.mouse.move(box["x"] + 3, y)
    page.mouse.down()
    for k in range(200):               # 200 moves, each a real pointer move over the range input
        f = 0.02 + 0.96 * (k % 100) / 99 if (k // 100) % 2 == 0 else 0.98 - 0.96 * (k % 100) / 99
        page.mouse.move(box["x"] + box["width"] * f, y)
        page.wait_for_timeout(8)
    during = [u.split("/")[-1][:40] for u in requests]
    page.mouse.up()
    page.wait_for_timeout(300)
    lat = np.array(page.evaluate("latentExplorer.stats.inputToPaint"))
    draw = np.array(page.evaluate("latentExplorer.stats.drawMs"))
    page.evaluate("latentExplorer.reset()")
    moves = page.evaluate(SWEEP, [5000, "#zs-1 input[type=range]"])
    frames = page.evaluate("latentExplorer.stats.frames")
    print(f"  {name:<14} drawn in the {where}: input -> painted p50 {np.percentile(lat, 50):5.1f} ms, "
          f"p95 {np.percentile(lat, 95):5.1f} ms over {len(lat)} frames from 200 moves (draw alone p50 "
          f"{np.percentile(draw, 50):.1f} ms); server requests during the drag: {len(during)} {during or ''}")
    print(f"  {'':<14} continuous 5 s drag: {frames / 5:.0f} frames/s drawn ({moves / 5:.0f} input events/s)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoints")
    p.add_argument("--pages", type=int, default=8)
    p.add_argument("--models", nargs="*", default=["digits-cdcgan", "faces-dcgan"])
    args = p.parse_args()
    from playwright.sync_api import sync_playwright
    proc, url = serve(args.checkpoints)
    print(f"machine: {os.cpu_count()} CPU cores; headless Chromium {CHROMIUM}")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_function("window.latentExplorer && latentExplorer.stats.frames > 0", timeout=120000)
            print(f"  first render after load (cold: runtime and model fetched, compiled): "
                  f"{1000 * (time.perf_counter() - t0):.0f} ms")
            t0 = time.perf_counter()
            page.reload()
            page.wait_for_function("window.latentExplorer && latentExplorer.stats.frames > 0", timeout=120000)
            print(f"  first render after a reload (browser cache revalidated): "
                  f"{1000 * (time.perf_counter() - t0):.0f} ms")
            for name in args.models:
                measure_model(page, name)
            from explorer.web import MANIFEST, VENDOR
            runtime = sum((VENDOR / f).stat().st_size for f in MANIFEST["files"])
            from explorer.store.checkpoint import checkpoints_dir
            ck = checkpoints_dir(args.checkpoints)
            sizes = {m: sum((ck / m / f).stat().st_size for f in ("generator.onnx", "generator.safetensors"))
                     for m in args.models}
            print(f"  page weight added: onnxruntime-web {runtime / 1e6:.1f} MB (once per browser); per model: "
                  + ", ".join(f"{m} {b / 1e6:.1f} MB" for m, b in sizes.items()))
            page.close()
            pages = []
            for _ in range(args.pages):
                ctx = browser.new_context(viewport={"width": 1366, "height": 900})
                pg = ctx.new_page()
                pg.goto(url)
                pages.append(pg)
            for pg in pages:
                pg.wait_for_function("window.latentExplorer && latentExplorer.stats.frames > 0", timeout=180000)
                pg.evaluate("latentExplorer.reset()")
            time.sleep(2)
            c0, w0 = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(10)
            c1, w1 = cpu_seconds(proc.pid), time.perf_counter()
            print(f"  {args.pages} pages open, nobody dragging, {w1 - w0:.1f} s: server process CPU "
                  f"{100 * (c1 - c0) / (w1 - w0):.1f} %")
            c0, w0 = cpu_seconds(proc.pid), time.perf_counter()
            for pg in pages:   # started in every page, then awaited: the drags overlap
                pg.evaluate(f"() => {{ window.benchSweep = ({SWEEP})([10000, '#zs-2 input[type=range]']); }}")
            for pg in pages:
                pg.evaluate("window.benchSweep")
            c1, w1 = cpu_seconds(proc.pid), time.perf_counter()
            frames = sum(pg.evaluate("latentExplorer.stats.frames") for pg in pages)
            print(f"  {args.pages} pages dragging at once for {w1 - w0:.1f} s: {frames / (w1 - w0):.0f} frames/s "
                  f"in all ({frames / (w1 - w0) / args.pages:.1f} per page, the pages sharing this machine's cores); "
                  f"server process CPU {100 * (c1 - c0) / (w1 - w0):.1f} %")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()

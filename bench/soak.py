"""Soak: N users hammer the app started as a user starts it (launch.py, shipped models) for M minutes, each
looping over what a page and a script do (pick a model, let go of a slider, a server frame, /render). Every
interval it prints requests, errors, p95, the server's resident memory and how many temporary files exist
(the scratch folder and Gradio's cache, both under a TMPDIR of the benchmark's own).

    python bench/soak.py [--users 30] [--minutes 10] [--every 60] [--only select,commit,frame,render]

Targets: 0 errors; temporary files bounded; resident memory flat after warm-up.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def temp_files(tmp: Path) -> int:
    """Files under tmp (the page's own runtime and model files aside); the app deletes as this counts."""
    n = 0
    for folder, dirs, files in os.walk(tmp, onerror=lambda e: None):
        dirs[:] = [d for d in dirs if d != "web"]
        n += len(files)
    return n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, default=30)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--every", type=float, default=60, help="seconds between report lines")
    p.add_argument("--model", default="digits-cdcgan")
    p.add_argument("--only", default="select,commit,frame,render",
                   help="which requests each user loops over (comma-separated): to find which one grows memory")
    args = p.parse_args()
    from latency import Session, endpoints
    from ui_helpers import free_port

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_TEMP_DIR": str(tmp / "gradio")}
    log = open(tmp / "server.log", "w")   # what the server printed, kept for a look after the run
    proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(400):
        try:
            if httpx.get(f"{url}config", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    fns = endpoints(url)
    lock, times, errors, stop = threading.Lock(), [], [], threading.Event()

    def user(k: int) -> None:
        s = Session(url, fns)
        rs = np.random.RandomState(k)
        try:                 # a page opens on a model first (commit needs its controls)
            s.call("select_model", [args.model, k, 0])
        except Exception as e:
            with lock:
                errors.append(f"select: {e!r}"[:160])
        while not stop.is_set():
            z = [float(v) for v in np.round(rs.uniform(-3, 3, 64), 2)]
            for what in args.only.split(","):
                t0 = time.perf_counter()
                try:
                    if what == "select":
                        s.call("select_model", [args.model, int(rs.randint(0, 1000)), 0])
                    elif what == "commit":      # a slider let go: the page tells the server its z
                        s.call("commit", [None, "z[0]"], {"z": z, "cont": []})
                    elif what == "frame":
                        s.frame(args.model, z)
                    else:
                        eid = s.http.post(f"{url}gradio_api/call/render", json={"data": [args.model, z, 0]}).json()
                        s.http.get(f"{url}gradio_api/call/render/{eid['event_id']}").raise_for_status()
                    with lock:
                        times.append(time.perf_counter() - t0)
                except Exception as e:  # counted: the figure is the error count
                    with lock:
                        errors.append(f"{what}: {e!r}"[:160])

    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(args.users)]
    print(f"{args.users} users for {args.minutes:g} min against {url} (TMPDIR {tmp}; the server's output in "
          f"{tmp / 'server.log'})")
    print(f"{'min':>5} {'requests':>9} {'errors':>7} {'p95 ms':>8} {'RSS MB':>8} {'temp files':>11} {'open fds':>9}")
    start = time.perf_counter()
    for t in threads:
        t.start()
    seen = 0
    try:
        while time.perf_counter() - start < args.minutes * 60:
            time.sleep(args.every)
            with lock:
                window, seen = times[seen:], len(times)
                n_err = len(errors)
            p95 = 1000 * np.percentile(window, 95) if window else float("nan")
            print(f"{(time.perf_counter() - start) / 60:5.1f} {seen:9d} {n_err:7d} {p95:8.0f} "
                  f"{rss_mb(proc.pid):8.0f} {temp_files(tmp):11d} {open_fds(proc.pid):9d}"
                  + (f"  last error: {errors[-1]}" if n_err else ""), flush=True)
    finally:
        stop.set()
        deadline = time.time() + 30          # users mid-request finish or are left behind (daemon threads)
        for t in threads:
            t.join(max(0.1, deadline - time.time()))
        proc.terminate()
        proc.wait(60)
    print(f"errors: {len(errors)}" + (f", first: {errors[:3]}" if errors else ""))
    left = temp_files(tmp)
    print(f"after SIGTERM: {left} temporary files left under {tmp} (Gradio's cache is its own to clear)")


if __name__ == "__main__":
    main()

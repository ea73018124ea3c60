"""Explorer latency on the server path: generator forward time per shipped model, and a slider update's round
trip for 1, 10 and 50 users dragging at once.

Today the page draws slider moves itself (bench/browser_latency.py); the server draws a frame only for models
without a checked ONNX file, browsers without WebAssembly and --server-render: one POST to the live view's
server function (`frame`), the picture back as base64 PNG. Before, every move was a queue event (join, the
SSE stream until process_completed, then the image GET a browser makes). `--baseline REV` measures that
older code side by side in the same run: it checks REV out into a temporary git worktree and serves it.

    python bench/latency.py [--checkpoints DIR] [--model digits-cdcgan] [--moves 60] [--baseline 3e5cfd2]

Targets (this 2-core CPU): total updates per second across 10 and 50 users >= 3x the baseline's; 0 errors.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def forward_times(checkpoints) -> None:
    from explorer.services.pixels import ModelCache
    cache = ModelCache(checkpoints)
    torch.set_num_threads(1)
    for m in cache.names():
        model = cache.get(m["name"])
        z = model.sample_z(1, 0)
        labels = torch.tensor([0]) if model.num_classes else None
        with torch.inference_mode():
            for _ in range(5):
                model.generate(z, labels)
            t = []
            for _ in range(50):
                t0 = time.perf_counter()
                model.generate(z, labels)
                t.append(time.perf_counter() - t0)
        print(f"  forward, batch 1: {m['name']:<26} {1000 * statistics.median(t):6.2f} ms (median of 50)")


class Session:
    """One browser tab, speaking Gradio's queue protocol by hand."""

    def __init__(self, url: str, fns: dict):
        self.url, self.fns = url, fns
        self.hash = uuid.uuid4().hex[:10]
        self.http = httpx.Client(timeout=60)

    def call(self, api: str, data: list, event_data=None) -> list:
        r = self.http.post(f"{self.url}gradio_api/queue/join", json={
            "data": data, "fn_index": self.fns[api], "session_hash": self.hash, "event_data": event_data,
            "trigger_id": None})
        r.raise_for_status()
        with self.http.stream("GET", f"{self.url}gradio_api/queue/data", params={"session_hash": self.hash}) as s:
            for line in s.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    if not msg.get("success"):
                        raise RuntimeError(msg.get("output", {}).get("error") or "failed")
                    return msg["output"]["data"]
        raise RuntimeError("stream ended without a result")

    def slide(self, values: list[float]) -> None:
        """The old path (the baseline's code): a queue event per move, then the image GET."""
        out = self.call("slide", [None, *values])
        img = out[1]
        url = img.get("url") or f"{self.url}gradio_api/file={img['path']}"
        self.http.get(url).raise_for_status()  # what the browser fetches to show it

    def frame(self, model: str, z: list[float]) -> None:
        """Today's server path: the live view's server function, one POST, the picture in the answer."""
        r = self.http.post(f"{self.url}gradio_api/component_server", json={
            "data": {"model": model, "z": z, "label": 0}, "component_id": self.fns["#live"],
            "session_hash": self.hash, "fn_name": "frame"})
        r.raise_for_status()
        if "png" not in r.json():
            raise RuntimeError(r.json().get("error", "no picture"))


def drag(url, fns, model, moves, results, errors, barrier):
    try:
        s = Session(url, fns)
        old = "#live" not in fns
        if old:
            s.call("select_model", [model, 0, 0])
        barrier.wait()
        rs = np.random.RandomState(hash(s.hash) % 2**31)
        for i in range(moves):
            vals = [float(v) for v in np.round(rs.uniform(-3, 3, 8), 2)]
            t0 = time.perf_counter()
            s.slide(vals) if old else s.frame(model, vals + [0.0] * 56)
            results.append(time.perf_counter() - t0)
    except Exception as e:  # counted, not fatal: the figure is the error count
        errors.append(repr(e))
        try:
            barrier.abort()
        except threading.BrokenBarrierError:
            pass


def run_users(url, fns, model, users, moves, label: str = "") -> float:
    """Everyone drags at once; prints latency and the total updates per second, and returns the latter."""
    results, errors = [], []
    barrier = threading.Barrier(users)
    threads = [threading.Thread(target=drag, args=(url, fns, model, moves, results, errors, barrier))
               for _ in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(results) * 1000
    if len(ms):
        print(f"  {label}{users:>2} user(s) dragging: {len(ms)} updates, p50 {np.percentile(ms, 50):6.1f} ms, "
              f"p95 {np.percentile(ms, 95):6.1f} ms, max {ms.max():6.1f} ms, {len(ms) / wall:5.1f} updates/s in "
              f"all, errors {len(errors)}")
        return len(ms) / wall
    print(f"  {label}{users:>2} user(s): no updates, errors {len(errors)}: {errors[:2]}")
    return 0.0


def serve(checkpoints: Path, root: Path | None = None):
    """The app in its own process, started as a user would (python launch.py), so the benchmark's client
    threads do not compete with the server for one interpreter lock. root: another checkout (the baseline)."""
    import subprocess
    from ui_helpers import free_port
    port = free_port()
    root = root or Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(root / "launch.py"), "--port", str(port),
                             "--checkpoints", str(checkpoints)], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"launch.py exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the server did not start within 120 s")


def endpoints(url: str) -> dict:
    cfg = httpx.get(f"{url}config").json()
    fns = {d["api_name"]: d["id"] for d in cfg["dependencies"] if d.get("api_name")}
    live = [c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "explore-live"]
    if live:
        fns["#live"] = live[0]
    return fns


def baseline_server(rev: str, checkpoints):
    """REV checked out into a temporary worktree (removed at exit) and served with this venv's Python."""
    import atexit
    import subprocess
    import tempfile
    repo = Path(__file__).resolve().parents[1]
    where = Path(tempfile.mkdtemp(prefix="latency-baseline-")) / "tree"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(where), rev], check=True,
                   capture_output=True)
    atexit.register(lambda: subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(where)],
                                           capture_output=True))
    return serve(Path(checkpoints) if checkpoints else repo / "checkpoints", root=where)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoints")
    p.add_argument("--model", default="digits-cdcgan")
    p.add_argument("--moves", type=int, default=60)
    p.add_argument("--users", type=int, nargs="*", default=[1, 10, 50])
    p.add_argument("--url", help="measure a server that is already running")
    p.add_argument("--baseline", metavar="REV", help="also serve this git revision (e.g. 3e5cfd2, the last commit "
                   "before the page drew moves itself) from a temporary worktree and measure it side by side")
    p.add_argument("--while-training", metavar="PRESET",
                   help="also measure 1 and 10 users while the server trains PRESET in its background job")
    args = p.parse_args()
    print(f"machine: {torch.get_num_threads()} CPU threads available, torch {torch.__version__}")
    forward_times(args.checkpoints)
    server = None
    url = args.url
    if url is None:
        from explorer.store.checkpoint import checkpoints_dir
        ck = checkpoints_dir(args.checkpoints)
        if args.while_training:  # the job writes a model: work on a throw-away copy of the folder
            import shutil
            import tempfile
            copy = Path(tempfile.mkdtemp()) / "checkpoints"
            shutil.copytree(ck, copy)
            ck = copy
        server, url = serve(ck)
    fns = endpoints(url)
    base = None
    if args.baseline:
        base = baseline_server(args.baseline, ck if args.url is None else args.checkpoints)
    for users in args.users:
        moves = args.moves if users < 50 else max(10, args.moves // 3)
        now = run_users(url, fns, args.model, users, moves, "today:    ")
        if base is not None:
            before = run_users(base[1], endpoints(base[1]), args.model, users, moves, f"{args.baseline}: ")
            print(f"  -> {users} users: {now / max(before, 1e-9):.1f}x the baseline's updates per second")
    if args.while_training:
        from gradio_client import Client
        client = Client(url, verbose=False)
        name = f"bench-{uuid.uuid4().hex[:6]}"
        client.predict(args.while_training, 100000, name, api_name="/train_start")
        while client.predict(api_name="/train_status")["step"] < 20:
            time.sleep(0.5)
        print(f"  while training {args.while_training} in the background:")
        for users in (1, 10):
            run_users(url, fns, args.model, users, args.moves)
        st = client.predict(api_name="/train_stop")
        print(f"  (the background job reached step {st['step']})")
    for proc in (server, base[0] if base else None):
        if proc is not None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()

"""Explorer latency: generator forward time per shipped model, and a slider update's round trip over raw
HTTP on Gradio's queue protocol (join, then the SSE stream until process_completed, then the image GET a
browser makes), for 1, 10 and 50 users dragging at once.

    python bench/latency.py [--checkpoints DIR] [--model digits-cdcgan] [--moves 60]

Targets (this 2-core CPU): 1 user p50 <= 30 ms, p95 <= 60 ms; 10 users p95 <= 250 ms; 50 users: 0 errors.
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

    def call(self, api: str, data: list) -> list:
        r = self.http.post(f"{self.url}gradio_api/queue/join", json={
            "data": data, "fn_index": self.fns[api], "session_hash": self.hash, "event_data": None,
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
        out = self.call("slide", [None, *values])
        img = out[1]
        url = img.get("url") or f"{self.url}gradio_api/file={img['path']}"
        self.http.get(url).raise_for_status()  # what the browser fetches to show it


def drag(url, fns, model, moves, results, errors, barrier):
    try:
        s = Session(url, fns)
        s.call("select_model", [model, 0, 0])
        barrier.wait()
        rs = np.random.RandomState(hash(s.hash) % 2**31)
        for i in range(moves):
            vals = list(np.round(rs.uniform(-3, 3, 8), 2))
            t0 = time.perf_counter()
            s.slide([float(v) for v in vals])
            results.append(time.perf_counter() - t0)
    except Exception as e:  # counted, not fatal: the figure is the error count
        errors.append(repr(e))
        try:
            barrier.abort()
        except threading.BrokenBarrierError:
            pass


def run_users(url, fns, model, users, moves) -> None:
    results, errors = [], []
    barrier = threading.Barrier(users)
    threads = [threading.Thread(target=drag, args=(url, fns, model, moves, results, errors, barrier))
               for _ in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = np.array(results) * 1000
    if len(ms):
        print(f"  {users:>2} user(s) dragging: {len(ms)} updates, p50 {np.percentile(ms, 50):6.1f} ms, "
              f"p95 {np.percentile(ms, 95):6.1f} ms, max {ms.max():6.1f} ms, errors {len(errors)}")
    else:
        print(f"  {users:>2} user(s): no updates, errors {len(errors)}: {errors[:2]}")


def serve(checkpoints: Path):
    """The app in its own process, started as a user would (python launch.py), so the benchmark's client
    threads do not compete with the server for one interpreter lock."""
    import subprocess
    from ui_helpers import free_port
    port = free_port()
    root = Path(__file__).resolve().parents[1]
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoints")
    p.add_argument("--model", default="digits-cdcgan")
    p.add_argument("--moves", type=int, default=60)
    p.add_argument("--users", type=int, nargs="*", default=[1, 10, 50])
    p.add_argument("--url", help="measure a server that is already running")
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
    cfg = httpx.get(f"{url}config").json()
    fns = {d["api_name"]: d["id"] for d in cfg["dependencies"] if d.get("api_name")}
    for users in args.users:
        run_users(url, fns, args.model, users, args.moves if users < 50 else max(10, args.moves // 3))
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
    if server is not None:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()

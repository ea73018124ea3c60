"""Background training jobs for the server: one at a time, each in its own process.

The job process writes its progress to `<out>/.job.json` (atomically) at every log step; the server
only reads that file, so closing a browser, reloading the page or a crash of the job leaves the
server untouched. Stopping sets an event the job checks at its next log step; it saves and exits.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import time
from pathlib import Path

from explorer.errors import ConfigError, ExplorerError

STATUS_FILE = ".job.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _write_status(path: Path, status: dict) -> None:
    from explorer.store.checkpoint import write_json
    write_json(path, status)


def _job_main(cfg_dict: dict, out: str, data_root, resume: bool, stop, command: str) -> None:
    """Runs in the child process: train, reporting every log step into the status file."""
    import torch
    from explorer.store.config import TrainConfig
    from explorer.training.loop import train
    torch.set_num_threads(1)  # leave the other core to the explorer's renders
    try:
        os.nice(10)           # and let renders go first on a busy machine: sliders must stay live
    except OSError:
        pass
    out_p = Path(out)
    status_path = out_p / STATUS_FILE
    cfg = TrainConfig.from_dict(cfg_dict)
    history: list[dict] = []
    base = {"name": out_p.name, "total_steps": cfg.steps, "preset": command, "started": time.time()}

    def callback(ev: dict):
        if ev.get("metrics"):
            history.append(ev["metrics"])
        if ev.get("samples") is not None:
            ev["samples"].save(out_p / ".job-samples.png")
        step = ev["step"]
        rate = step / max(ev["elapsed"], 1e-6)
        _write_status(status_path, {**base, "state": ev.get("state", "running"), "step": step,
                                     "elapsed_s": round(ev["elapsed"], 1),
                                     "eta_s": round((cfg.steps - step) / rate, 1) if rate > 0 else None,
                                     "metrics": ev.get("metrics", {}), "history": history[-500:]})
        return not stop.is_set()

    out_p.mkdir(parents=True, exist_ok=True)
    _write_status(status_path, {**base, "state": "running", "step": 0, "metrics": {}, "history": []})
    try:
        train(cfg, out_p, data_root=data_root, resume=resume, callback=callback, progress=False, command=command)
    except ExplorerError as e:
        _write_status(status_path, {**base, "state": "failed", "error": str(e), "history": history[-500:],
                                    "step": history[-1]["step"] if history else 0,
                                    "metrics": history[-1] if history else {}})
    except Exception as e:  # an unexpected crash is reported, not hidden
        _write_status(status_path, {**base, "state": "failed", "error": f"{e.__class__.__name__}: {e}",
                                    "history": history[-500:], "step": history[-1]["step"] if history else 0,
                                    "metrics": history[-1] if history else {}})


class JobManager:
    """One training job per server. Safe to call from several request threads."""

    def __init__(self, checkpoints: Path, data_root=None, allowed_roots=(), on_saved=None):
        import threading
        from explorer.data.root import resolve_data_root
        self.checkpoints = Path(checkpoints)
        self.data_root = data_root
        # image folders a browser may train on: inside the data root or a root the host allowed (--allow-data)
        self.allowed_roots = [Path(os.path.realpath(resolve_data_root(data_root)[0]))] + \
            [Path(os.path.realpath(Path(r).expanduser())) for r in allowed_roots]
        self._lock = threading.Lock()
        self._proc: mp.Process | None = None
        self._stop = None
        self._out: Path | None = None
        self._on_saved = on_saved   # called once when a job has ended (the model cache re-reads the folder)
        self._reported: Path | None = None

    def _check_name(self, name: str) -> Path:
        if not isinstance(name, str) or not NAME_RE.match(name) or name in (".", ".."):
            raise ConfigError(f"'{name}' is not a plain folder name (letters, digits, '.', '_', '-'; "
                              f"no slashes, at most 64 characters)")
        return self.checkpoints / name

    def check_folder(self, path) -> str:
        """A folder path from a browser, accepted only inside the allowed roots (symlinks resolved first)."""
        if not isinstance(path, str) or not path.strip() or "\x00" in path:
            raise ConfigError("give the image folder's path")
        real = Path(os.path.realpath(Path(path.strip()).expanduser()))
        if not any(real == r or r in real.parents for r in self.allowed_roots):
            raise ConfigError("that folder is outside the folders this server allows for training (the data "
                              "root, or one given to launch.py with --allow-data)")
        if not real.is_dir():
            raise ConfigError("that folder does not exist on the server")
        return str(real)

    def running(self) -> bool:
        if self._proc is None or not self._proc.is_alive():
            return False
        try:  # a job that has written its last word is only exiting: give it a moment
            if json.loads((self._out / STATUS_FILE).read_text()).get("state") in ("finished", "failed", "stopped"):
                self._proc.join(timeout=10)
        except (OSError, json.JSONDecodeError):
            pass
        return self._proc.is_alive()

    def busy_name(self) -> str | None:
        return self._out.name if self.running() else None

    def start(self, preset: str, steps: int, name: str, resume: bool = False, **choices) -> dict:
        """Start `preset` (with the person's changes, as explorer.training.presets.custom_config takes them)."""
        from explorer.training.loop import resume_config
        from explorer.training.presets import custom_config
        with self._lock:
            if self.running():
                raise ConfigError(f"a training job is already running ('{self._out.name}', step "
                                  f"{self.status().get('step', 0)}): stop it first")
            out = self._check_name(name)
            if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
                raise ConfigError(f"steps must be a positive integer, got {steps!r}")
            if resume:
                cfg = resume_config(out, steps)
            else:
                if out.exists():
                    raise ConfigError(f"the name '{name}' is taken: choose another, or resume it")
                if choices.get("data_path") is not None:
                    choices["data_path"] = self.check_folder(choices["data_path"])
                # how often to log / preview / save is not a choice the panel offers, but scripts may set it
                schedule = {k: choices.pop(k) for k in ("log_every", "sample_every", "checkpoint_every")
                            if k in choices}
                cfg = custom_config(preset, steps=steps, **choices).replace(**schedule)
            command = f"python -m explorer train --preset {preset} --steps {steps} --out {name}" + \
                (" --resume" if resume else "")
            ctx = mp.get_context("spawn")
            self._stop = ctx.Event()
            self._proc = ctx.Process(target=_job_main, daemon=True, name=f"train-{name}",
                                     args=(cfg.to_dict(), str(out), self.data_root, resume, self._stop, command))
            self._out, self._reported = out, None
            out.mkdir(parents=True, exist_ok=True)
            (out / STATUS_FILE).unlink(missing_ok=True)
            self._proc.start()
        return {"state": "running", "name": name, "step": 0, "total_steps": steps}

    def stop(self) -> dict:
        with self._lock:
            if not self.running():
                return self.status()
            self._stop.set()
        self._proc.join(timeout=120)
        return self.status()

    def status(self) -> dict:
        if self._out is None:
            return {"state": "idle", "step": 0, "total_steps": 0, "name": None, "metrics": {}}
        try:
            st = json.loads((self._out / STATUS_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            st = {"state": "running", "step": 0, "total_steps": 0, "name": self._out.name, "metrics": {}}
        if self._stop is not None and self._stop.is_set() and st.get("state") == "finished":
            st["state"] = "stopped"
        if not self.running() and st.get("state") == "running":
            # the process is gone without a final word: killed or crashed
            st = {**st, "state": "failed", "error": "the training process ended unexpectedly "
                  "(killed?); the last saved checkpoint is kept"}
        if st.get("state") in ("finished", "stopped", "failed") and self._on_saved and self._reported != self._out:
            self._reported = self._out   # a finished, stopped or resumable model is listed without a restart
            self._on_saved()
        return st

    def samples_image(self):
        """The latest preview grid of the current/last job, or None."""
        from PIL import Image
        if self._out is None or not (self._out / ".job-samples.png").exists():
            return None
        try:
            return Image.open(self._out / ".job-samples.png").copy()
        except OSError:
            return None

"""The one training loop for every variant: batches, steps, logs, previews, checkpoints, resume, NaN guard."""
from __future__ import annotations

import json
import math
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from explorer.errors import ConfigError, TrainingDiverged
from explorer.training import distributed as D
from explorer.store.card import describe, model_card
from explorer.store.checkpoint import load_state, load_weights, read_config, recover_torn_save, save_checkpoint
from explorer.store.config import TrainConfig
from explorer.metrics.accuracy import evaluate_classifier
from explorer.training.tasks import TASKS, base_lrs, scale_lrs

Callback = Callable[[dict], "bool | None"]  # return False to stop the run (it is saved first)


class BatchStream:
    """Deterministic batches: epoch e shuffles with seed (seed, e); rank r takes its slice of each global batch.
    Its whole state is one counter, so resuming at batch k replays exactly what an unbroken run would see."""

    def __init__(self, data, batch: int, seed: int, rank: int = 0, world: int = 1, pos: int = 0):
        self.data, self.batch, self.seed, self.rank, self.world, self.pos = data, batch, seed, rank, world, pos
        self.n = len(data)
        self.per_epoch = max(1, self.n // (batch * world))
        self._epoch, self._perm = -1, None

    def __call__(self):
        epoch, k = divmod(self.pos, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g)
            reps = math.ceil(self.batch * self.world / self.n)  # tiny datasets: wrap around
            self._perm, self._epoch = perm.repeat(reps) if reps > 1 else perm, epoch
        start = (k * self.world + self.rank) * self.batch
        self.pos += 1
        return self.data.get_batch(self._perm[start:start + self.batch])


def machine() -> str:
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"{torch.get_num_threads()} CPU threads"
    return f"{platform.machine()} {platform.system()}, {dev}, torch {torch.__version__}"


def _config_json(cfg: TrainConfig, data, step: int, elapsed: float, metrics: dict, command: str | None,
                 world: int, name: str, data_root: str | None) -> dict:
    info = data.info
    extra = {}
    if hasattr(data, "domain_names"):    # a translator: what goes in and what comes out
        extra["domains"] = list(data.domain_names)
    if hasattr(data, "vocab"):    # a text-to-image model reads only the words it learnt
        extra["vocabulary"] = list(data.vocab.words)
        extra["unattended_words"] = list(data.vocab.unattended)
    if cfg.task == "vae":    # its encoder is saved beside the decoder, as an inversion encoder would be
        from explorer.training.tasks import vae_encoder_width
        extra["encoder"] = {"file": "encoder.safetensors", "width": vae_encoder_width(cfg.model), "logvar": True,
                            "steps": step, "wall_time_s": round(elapsed, 1), "command": command}
    return {
        "name": name,
        "kind": {"classifier": "classifier", "encoder": "encoder", "vae": "vae", "pix2pix": "translator",
                 "cyclegan": "translator", "attngan": "text"}.get(cfg.task, "gan"),
        "summary": describe(cfg),
        "train": cfg.to_dict(),
        "dataset": {"name": info.name, "shape": list(info.shape), "options": info.options},
        "class_names": list(info.class_names) if cfg.task == "classifier" or cfg.model.num_classes else [],
        "codes": {"categorical": cfg.model.cat_codes, "continuous": cfg.model.cont_codes},
        "attributes": list(info.attribute_names),
        "metrics": metrics,
        "provenance": {"step": step, "wall_time_s": round(elapsed, 1), "machine": machine(), "processes": world,
                       "command": command, "data_root": data_root, "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        **extra,
    }


def train(cfg: TrainConfig, out: str | Path, *, data_root=None, resume: bool = False,
          callback: Callback | None = None, progress: bool = True, device: str | None = None,
          command: str | None = None) -> dict:
    """Train `cfg` into the folder `out`; returns {"state", "step", "out", "metrics"}.

    resume=True continues the checkpoint in `out` to cfg.steps exactly as an unbroken run would.
    """
    from explorer.data import load_dataset

    out = Path(out)
    if resume:
        recover_torn_save(out)      # a save killed between its moves is undone before anything is read
    if not resume and (out / "config.json").exists():
        raise ConfigError(f"{out} already holds a model: pass --resume to continue it, or choose another --out")
    if resume and not (out / "state.pt").exists():
        raise ConfigError(f"cannot resume: {out} holds no resumable run (no state.pt)")
    from explorer.data.captions import check_caption_data
    from explorer.data.translation import check_task_data
    check_task_data(cfg.task, cfg.dataset)       # before any picture is rendered or read
    check_caption_data(cfg.task, cfg.dataset)
    dist = D.setup(device)
    data = load_dataset(cfg.dataset, root=data_root, split="train", **cfg.data_options)
    if tuple(cfg.model.shape) != tuple(data.info.shape):
        raise ConfigError(f"the model makes samples of shape {tuple(cfg.model.shape)} but '{cfg.dataset}' holds "
                          f"{tuple(data.info.shape)}")
    torch.manual_seed(cfg.seed)
    task = TASKS.lookup(cfg.task)(cfg, data, dist)
    lrs = base_lrs(task.optimizers)
    step, elapsed = 0, 0.0
    stream = BatchStream(data, cfg.batch_size, cfg.seed, dist.rank, dist.world)
    if resume:
        for name, net in task.nets.items():
            path = out / f"{name}.safetensors"
            if name == "generator_raw" and not path.exists():   # a run saved before weight averaging: its
                path = out / "generator.safetensors"              # generator is the raw one, and the average starts there
            load_weights(net, path)
        st = load_state(out / "state.pt")
        for name, opt in task.optimizers.items():
            opt.load_state_dict(st["optim"][name])
        if hasattr(task, "load_extra_state"):    # e.g. CycleGAN's history pools
            task.load_extra_state(st.get("task") or {})
        torch.set_rng_state(st["rng"][dist.rank] if dist.rank < len(st["rng"]) else st["rng"][0])
        step, elapsed, stream.pos = int(st["step"]), float(st["elapsed"]), int(st["batch_pos"])
    else:
        torch.manual_seed(cfg.seed * 7 + dist.rank)  # each rank draws its own z
    if step >= cfg.steps:
        raise ConfigError(f"{out} is already at step {step}; ask for more with --steps N (N > {step})")

    log_path = out / "metrics.jsonl"
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if resume and log_path.exists():  # drop lines logged after the checkpoint we resume from
            keep = [ln for ln in log_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            log_path.write_text("".join(k + "\n" for k in keep))
        (out / "samples").mkdir(exist_ok=True)
        log_path.touch()

    last_saved = step if resume else None
    last_metrics: dict = {}

    def save(final_metrics: dict | None = None) -> None:
        nonlocal last_saved
        rng = [torch.get_rng_state()]
        if dist.world > 1:  # every rank's RNG, gathered so each resumes its own stream
            rng = [torch.empty_like(rng[0]) for _ in range(dist.world)]
            torch.distributed.all_gather(rng, torch.get_rng_state())
        if hasattr(task, "prepare_save"):   # e.g. the weight average's BatchNorm statistics
            task.prepare_save()
        if dist.is_main:
            metrics = final_metrics if final_metrics is not None else {}
            conf = _config_json(cfg, data, step, elapsed, metrics, command, dist.world, out.name,
                                str(Path(data_root).resolve()) if data_root else None)
            state = {"step": step, "elapsed": elapsed, "batch_pos": stream.pos, "rng": rng,
                     "optim": {k: o.state_dict() for k, o in task.optimizers.items()}}
            if hasattr(task, "extra_state"):
                state["task"] = task.extra_state()
            save_checkpoint(out, conf, task.nets, state, samples=task.preview(), card=model_card(conf))
        D.barrier(dist)
        last_saved = step

    bar = None
    if progress and dist.is_main:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc=out.name, unit="step", dynamic_ncols=True)
    state, t0, window_t, window_n = "finished", time.perf_counter() - elapsed, time.perf_counter(), 0
    try:
        while step < cfg.steps:
            measure = (step + 1) % cfg.log_every == 0
            if cfg.lr_decay_to != 1.0:
                scale_lrs(task.optimizers, lrs, cfg.lr_factor(step))
            stats = task.step(stream, measure)
            step += 1
            window_n += task.samples_per_step * dist.world
            bad = [k for k, v in stats.items() if not math.isfinite(v)]
            if bad:
                where = f"the last good checkpoint (step {last_saved}) is kept in {out}" if last_saved \
                    else "no checkpoint had been written yet"
                raise TrainingDiverged(f"training diverged at step {step}: {bad[0]} became {stats[bad[0]]}; "
                                       f"stopped, {where}. Try a lower learning rate.")
            elapsed = time.perf_counter() - t0
            if bar is not None:
                bar.update(1)
            event = None
            if measure:
                now = time.perf_counter()
                stats["images_per_s"] = window_n / max(now - window_t, 1e-9)
                window_t, window_n = now, 0
                last_metrics = {"step": step, "time_s": round(elapsed, 2), **{k: round(v, 5) for k, v in stats.items()}}
                if dist.is_main:
                    with log_path.open("a") as f:
                        f.write(json.dumps(last_metrics) + "\n")
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.3g}" for k, v in stats.items() if k in ("loss_d", "loss_g", "loss")})
                event = {"step": step, "total_steps": cfg.steps, "elapsed": elapsed, "metrics": last_metrics}
            if step % cfg.sample_every == 0 and dist.is_main:
                img = task.preview()
                img.save(out / "samples" / f"step_{step:06d}.png")
                event = {**(event or {"step": step, "total_steps": cfg.steps, "elapsed": elapsed,
                                      "metrics": last_metrics}), "samples": img}
            if step % cfg.checkpoint_every == 0 and step < cfg.steps:
                save()
            if callback is not None and event is not None and callback(event) is False:
                state = "stopped"
                break
    except KeyboardInterrupt:
        state = "stopped"
    finally:
        if bar is not None:
            bar.close()
    final = {}
    if cfg.task == "classifier" and state == "finished":
        test = load_dataset(cfg.dataset, root=data_root, split="test", **cfg.data_options)
        final = {f"test_{k}": v for k, v in evaluate_classifier(task.C, test, task.multilabel).items()}
        task.C.train()
    if state == "finished" and hasattr(task, "finish"):     # e.g. InfoGAN's codes turned to name strokes
        final.update(task.finish())
    for net in task.nets.values():
        D.assert_in_sync(net, dist)
    save(final)
    if state == "finished" and dist.is_main and hasattr(task, "publish"):   # e.g. an encoder, beside its generator
        task.publish(out, {**last_metrics, **final})
    if dist.is_main and callback is not None:
        callback({"step": step, "total_steps": cfg.steps, "elapsed": elapsed, "metrics": last_metrics,
                  "state": state, "samples": task.preview()})   # a run shorter than sample_every shows its result
    task = stream = None  # DDP wrappers hold the process group: free them before it is destroyed
    import gc
    gc.collect()
    D.teardown(dist)
    return {"state": state, "step": step, "out": str(out), "metrics": {**last_metrics, **final}}


def resume_config(out: str | Path, steps: int | None = None) -> TrainConfig:
    """The config saved in a run folder, with the total step count raised when asked."""
    from explorer.store.checkpoint import _train_config
    out = Path(out)
    recover_torn_save(out)
    cfg = _train_config(read_config(out), out)
    return cfg.replace(steps=steps) if steps else cfg

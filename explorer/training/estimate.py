"""How long a run will take here, measured before it starts: a few steps of the very task the run would train
(same nets, loss, batch and critic steps), on random pictures of the run's shape, on this machine as it is
now. Loading the real data is not measured (the first load of a rendered dataset can take a minute)."""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

import torch

from explorer.data.base import DatasetInfo, TensorData
from explorer.data.translation import TASK_KINDS, TwoDomainData
from explorer.errors import ExplorerError
from explorer.store.checkpoint import read_config, resolve_model_dir
from explorer.store.config import TrainConfig
from explorer.training.distributed import DistInfo
from explorer.training.loop import BatchStream
from explorer.training.tasks import TASKS

MIN_TIMED_S = 0.6       # time steps until this much has passed (at least 2 steps) ...
MAX_TIMED_STEPS = 50    # ... or this many were taken, after one untimed warm-up step
SAVE_S = 0.5            # a checkpoint (weights, optimiser state, a preview) costs about this much here
_cache: OrderedDict[str, float] = OrderedDict()   # config without its step count -> seconds a step
_lock = threading.Lock()


def _stand_in_data(cfg: TrainConfig) -> TensorData:
    """Random pictures (or points) shaped as the run's data, with the classes its model asks for."""
    g = torch.Generator().manual_seed(0)
    shape, n = tuple(cfg.model.shape), max(4 * cfg.batch_size, 64)
    if len(shape) == 1:
        x = torch.randn(n, *shape, generator=g)
    else:
        x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    classes = tuple(str(i) for i in range(cfg.model.num_classes or (10 if cfg.task == "classifier" else 0)))
    y = torch.randint(0, len(classes), (n,), generator=g) if classes else None
    names = _attribute_names(cfg)
    attrs = (torch.rand(n, len(names), generator=g) < 0.5).float() if names else None
    info = DatasetInfo(cfg.dataset, "points" if len(shape) == 1 else "image", shape, classes, names)
    if cfg.task in TASK_KINDS:
        info = DatasetInfo(cfg.dataset, TASK_KINDS[cfg.task], shape)
        return TwoDomainData(x.flip(0), None, x, None, info, ("A", "B"))
    return TensorData(x, y, attrs, info)


def _attribute_names(cfg: TrainConfig) -> tuple[str, ...]:
    """The attributes a GAN's attribute head or attribute_match reads (the judge's, as the run's data has them)."""
    if cfg.task not in ("gan", "infogan"):
        return ()
    if cfg.model.attributes:
        return tuple(f"attribute {i}" for i in range(cfg.model.attributes))
    if cfg.attribute_match and cfg.judge:
        try:
            return tuple(read_config(resolve_model_dir(cfg.judge)).get("attributes") or ())
        except ExplorerError:   # no such judge: the run's own check says so
            return ()
    return ()


def seconds_per_step(cfg: TrainConfig) -> float:
    """Seconds one step of `cfg` takes here (measured once per setting; the step count does not matter)."""
    key = repr(cfg.replace(steps=1).to_dict())
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    data = _stand_in_data(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        task = TASKS.lookup(cfg.task)(cfg, data, DistInfo())
        stream = BatchStream(data, cfg.batch_size, cfg.seed)
        task.step(stream, measure=False)                 # the first step allocates; it is not timed
        times: list[float] = []
        while len(times) < 2 or (len(times) < MAX_TIMED_STEPS and sum(times) < MIN_TIMED_S):
            t0 = time.perf_counter()
            task.step(stream, measure=(len(times) + 1) % cfg.log_every == 0)
            times.append(time.perf_counter() - t0)
        # the fastest step: a burst of other work (a page loading) slows some steps, not the run's hours
        per_step = min(times)
    with _lock:
        _cache[key] = per_step
        while len(_cache) > 64:
            _cache.popitem(last=False)
    return per_step


def expected_seconds(cfg: TrainConfig) -> float:
    """The whole run: its steps at the measured rate, plus its checkpoints."""
    saves = math.ceil(cfg.steps / cfg.checkpoint_every)
    return cfg.steps * seconds_per_step(cfg) + saves * SAVE_S

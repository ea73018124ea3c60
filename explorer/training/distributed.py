"""torchrun support: one process per device, gloo on CPU, nccl on GPU; rank 0 alone writes files."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str | None = None) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if world == 1:
        return DistInfo(device=torch.device(device or ("cuda" if use_cuda else "cpu")))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
    return DistInfo(rank, world, torch.device(f"cuda:{local}" if use_cuda else "cpu"))


def wrap(module: torch.nn.Module, info: DistInfo, some_unused: bool = False) -> torch.nn.Module:
    """DistributedDataParallel when there are several processes (it averages gradients across them).
    some_unused: not every backward reaches every parameter (an InfoGAN critic's Q head sits out its critic step)."""
    if info.world == 1:
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    # BatchNorm statistics are synced once at wrap time, then each rank keeps its own; rank 0's are saved
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False,
                                                     find_unused_parameters=some_unused)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)


def all_reduce_mean(value: float, info: DistInfo) -> float:
    if info.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return (t / info.world).item()


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def teardown(info: DistInfo) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.barrier()  # no rank tears down while another still talks to it
        dist.destroy_process_group()


def assert_in_sync(module: torch.nn.Module, info: DistInfo) -> None:
    """Every rank must end with the same weights; a cheap checksum catches a broken gradient all-reduce."""
    if info.world == 1:
        return
    params = [p.detach().double().sum() for p in module.parameters()]
    local = torch.stack(params).to(info.device) if params else torch.zeros(1, device=info.device)
    gathered = [torch.empty_like(local) for _ in range(info.world)]
    dist.all_gather(gathered, local)
    if not all(torch.allclose(g, gathered[0], rtol=1e-6, atol=1e-8) for g in gathered):
        raise RuntimeError("distributed training went out of sync: ranks hold different weights")

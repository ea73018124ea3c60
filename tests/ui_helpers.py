"""Shared set-up for the UI tests: tiny checkpoints and a live server on a free port."""
import socket
from pathlib import Path

import torch

from explorer.models import ModelConfig, build_generator
from explorer.training.checkpoint import save_checkpoint
from explorer.training.config import TrainConfig


def make_model(folder: Path, num_classes: int = 0, z_dim: int = 64, seed: int = 0, cat_codes: int = 0,
               cont_codes: int = 0) -> None:
    cfg = TrainConfig(task="infogan" if cat_codes or cont_codes else "gan",
                      model=ModelConfig(z_dim=z_dim, width=8, num_classes=num_classes, cat_codes=cat_codes,
                                        cont_codes=cont_codes))
    torch.manual_seed(seed)
    net = build_generator(cfg.model)
    for p in net.parameters():  # untrained weights draw near-flat images; spread them so pixels differ
        p.data.normal_(0, 0.3)
    conf = {"kind": "gan", "name": folder.name, "summary": f"tiny test model ({num_classes} classes)",
            "train": cfg.to_dict(), "dataset": {"name": "digits", "shape": [1, 28, 28], "options": {}},
            "class_names": [str(i) for i in range(num_classes)], "attributes": [],
            "codes": {"categorical": cat_codes, "continuous": cont_codes}}
    save_checkpoint(folder, conf, {"generator": net.eval()})


def plain_and_conditional(root: Path) -> Path:
    """The two tiny models the UI tests use: 'plain' (unconditional) and 'cond' (10 classes), z_dim 64."""
    make_model(root / "plain", 0)
    make_model(root / "cond", 10, seed=1)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(checkpoints: Path, audience: bool = False):
    from explorer.ui import CSS, build_app
    demo = build_app(checkpoints, audience=audience)
    demo.queue(default_concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    return demo, f"http://127.0.0.1:{port}/"

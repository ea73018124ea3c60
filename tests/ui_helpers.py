"""Shared set-up for the UI tests: tiny checkpoints and a live server on a free port."""
import contextlib
import socket
from pathlib import Path

import torch

from explorer.models import ModelConfig, build_generator
from explorer.store.checkpoint import save_checkpoint
from explorer.store.config import TrainConfig


def make_model(folder: Path, num_classes: int = 0, z_dim: int = 64, seed: int = 0, cat_codes: int = 0,
               cont_codes: int = 0, shape=(1, 28, 28), **train) -> None:
    cfg = TrainConfig(task="infogan" if cat_codes or cont_codes else "gan",
                      model=ModelConfig(z_dim=z_dim, width=8, num_classes=num_classes, cat_codes=cat_codes,
                                        cont_codes=cont_codes, shape=tuple(shape)), **train)
    torch.manual_seed(seed)
    net = build_generator(cfg.model)
    for p in net.parameters():  # untrained weights draw near-flat images; spread them so pixels differ
        p.data.normal_(0, 0.3)
    conf = {"kind": "gan", "name": folder.name, "summary": f"tiny test model ({num_classes} classes)",
            "train": cfg.to_dict(), "dataset": {"name": "digits" if shape[0] == 1 else "faces", "shape": list(shape), "options": {}},
            "class_names": [str(i) for i in range(num_classes)], "attributes": [],
            "codes": {"categorical": cat_codes, "continuous": cont_codes}}
    save_checkpoint(folder, conf, {"generator": net.eval()})


def make_faces(root: Path, z_dim: int = 16) -> Path:
    """An untrained 32x32 generator named 'faces' with the faces' attributes (data correlation 0.8) and an
    untrained attribute judge named 'judge', saved under root: what the Directions tab needs."""
    from explorer.data.faces import ATTRIBUTES
    from explorer.models import build_classifier
    g_cfg = TrainConfig(dataset="faces", model=ModelConfig(z_dim=z_dim, width=8, shape=(3, 32, 32)), judge="judge")
    torch.manual_seed(0)
    base = {"dataset": {"name": "faces", "shape": [3, 32, 32], "options": {}}, "class_names": []}
    save_checkpoint(root / "faces", {**base, "kind": "gan", "train": {**g_cfg.to_dict(), "data_options":
                    {"correlation": 0.8}}, "attributes": list(ATTRIBUTES)}, {"generator": build_generator(g_cfg.model)})
    j_cfg = TrainConfig(task="classifier", dataset="faces", model=ModelConfig(shape=(3, 32, 32)), classifier_width=8)
    save_checkpoint(root / "judge", {**base, "kind": "classifier", "train": j_cfg.to_dict(),
                    "attributes": list(ATTRIBUTES)}, {"classifier": build_classifier("cnn", (3, 32, 32), 7, 8)})
    return root


def make_vae(root: Path, name: str = "faces-vae", z_dim: int = 16, correlation: float = 0.8, steps: int = 2) -> Path:
    """A tiny VAE on rendered faces (the renderer draws them: no data files), judged by 'judge' (make_faces)."""
    from explorer.training.loop import train
    cfg = TrainConfig(task="vae", dataset="faces", data_options={"n": 64, "correlation": correlation},
                      model=ModelConfig(z_dim=z_dim, width=8, shape=(3, 32, 32)), steps=steps, batch_size=16,
                      judge="judge", log_every=1, sample_every=100, checkpoint_every=100)
    train(cfg, root / name, data_root=None, progress=False)
    return root / name


def plain_and_conditional(root: Path) -> Path:
    """The two tiny models the UI tests use: 'plain' (unconditional) and 'cond' (10 classes), z_dim 64."""
    make_model(root / "plain", 0)
    make_model(root / "cond", 10, seed=1)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(checkpoints: Path, audience: bool = False, data_root=None, server_render: bool = False):
    from explorer.ui import CSS, build_app, launch_limits, start_queue
    demo = start_queue(build_app(checkpoints, audience=audience, data_root=data_root, server_render=server_render))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS,
                show_error=not audience, **launch_limits(demo))
    return demo, f"http://127.0.0.1:{port}/"


@contextlib.contextmanager
def skips_over_values():
    """Records each time a stream of an app served from this process skips an output that holds a picture or a
    plot (a dict value): Gradio's page applies a stream's diffs in place, to the very value the component holds,
    so such a skip empties it, and the component draws blank once it is drawn again (after a visit to another
    tab). Yields the list of (value, skip) pairs; Gradio's diff is watched, not changed."""
    import gradio.utils as gu
    found, diff = [], gu.diff

    def watch(old, new):
        if isinstance(old, dict) and "__type__" not in old and isinstance(new, dict) \
                and new.get("__type__") == "update":
            found.append((old, new))
        return diff(old, new)

    gu.diff = watch
    try:
        yield found
    finally:
        gu.diff = diff


def make_translators(root: Path, steps: int = 2) -> Path:
    """A tiny pix2pix ('sketch2face', faces-sketch) and a tiny CycleGAN ('glasses', faces-domains) trained a few
    steps on rendered faces (no data files), judged by 'judge' (make_faces)."""
    from explorer.training.loop import train
    common = dict(steps=steps, batch_size=4, judge="judge", critic_width=8, log_every=1, sample_every=100,
                  checkpoint_every=100)
    train(TrainConfig(task="pix2pix", dataset="faces-sketch", data_options={"n": 16},
                      model=ModelConfig(arch="unet", width=8, shape=(3, 32, 32)), **common),
          root / "sketch2face", progress=False)
    train(TrainConfig(task="cyclegan", dataset="faces-domains", data_options={"n": 16}, loss="lsgan", pool_size=4,
                      model=ModelConfig(arch="resnet", width=8, depth=1, shape=(3, 32, 32)), **common),
          root / "glasses", progress=False)
    return root

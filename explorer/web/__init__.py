"""What the page runs itself: onnxruntime-web (vendored, pinned, served by the app: no CDN, no Node) and the
live view's script, which draws the generator on a canvas on every animation frame.

The files are served from one folder the app makes at start (`Site`), holding copies (hard links where the
disk allows) of the vendored runtime and of each checked model's generator.onnx + generator.safetensors, so
the page never learns where the package or the checkpoints live (--audience shows no paths).
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
MANIFEST = json.loads((VENDOR / "VENDOR.json").read_text())
ORT_VERSION = MANIFEST["version"]
LIVE_JS = (HERE / "live.js").read_text()

# some systems map these badly (Windows' registry); the runtime's loader needs a JavaScript type for .mjs
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")


def vendor_problems() -> list[str]:
    """Files of the vendored runtime that are missing or differ from the manifest (empty when all is well)."""
    bad = []
    for name, digest in MANIFEST["files"].items():
        p = VENDOR / name
        if not p.is_file():
            bad.append(f"{name} is missing")
        elif hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            bad.append(f"{name} differs from the pinned onnxruntime-web {ORT_VERSION}")
    return bad


def place(src: Path, dst: Path) -> None:
    """dst as a hard link to src where the disk allows, else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:   # another disk, or links not allowed
        shutil.copyfile(src, dst)


class Site:
    """The folder the page's files are served from, and their URLs (relative: they work behind a proxy's
    sub-path too). `register` is passed the folder once, to hand it to the web framework. The renderer puts
    each checked model's files under the same folder (Renderer.portable)."""

    def __init__(self, root: Path, register):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.problems = vendor_problems()
        if not self.problems:
            for name in MANIFEST["files"]:
                place(VENDOR / name, self.root / "ort" / name)
        register(self.root)

    def url(self, path: Path) -> str:
        return "gradio_api/file=" + Path(path).resolve().as_posix()

    @property
    def runtime_url(self) -> str:
        """The folder holding onnxruntime-web's files (ends in '/')."""
        return self.url(self.root / "ort") + "/"

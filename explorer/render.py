"""Tensors -> pictures: image grids, strips and 2-D scatter plots (no UI code, no gradio)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """N x C x H x W in [-1, 1] -> uint8 N x H x W x C."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def grid(images: torch.Tensor, nrow: int = 8, pad: int = 2, scale: int = 1) -> Image.Image:
    """Images (N x C x H x W in [-1, 1]) tiled nrow per row, upscaled with nearest-neighbour (crisp pixels)."""
    arr = to_uint8(images)
    n, h, w, c = arr.shape
    ncol = min(nrow, n)
    rows = (n + ncol - 1) // ncol
    canvas = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = arr[i]
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def upscale(image: torch.Tensor, size: int = 256) -> Image.Image:
    """One image (C x H x W in [-1, 1]) upscaled by an integer factor with nearest-neighbour (crisp pixels);
    size 0 keeps the native resolution."""
    arr = to_uint8(image[None])[0]
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    factor = max(1, size // max(img.size)) if size else 1
    return img.resize((img.width * factor, img.height * factor), Image.NEAREST)


def save_gif(frames: torch.Tensor, path, size: int = 256, ms: int = 90) -> None:
    """Frames (N x C x H x W in [-1, 1]) as a looping GIF that plays forward then back (no jump at the loop)."""
    imgs = [upscale(f, size) for f in frames]
    imgs += imgs[::-1][1:-1]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=ms, loop=0)


def scatter(fake: np.ndarray, real: np.ndarray | None = None, size: int = 400, extent: float = 5.0) -> Image.Image:
    """2-D points on a square canvas spanning [-extent, extent]^2: real in grey, generated in orange."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def px(p):
        return (p + extent) / (2 * extent) * (size - 1)

    draw.line([(px(0), 0), (px(0), size)], fill=(230, 230, 230))
    draw.line([(0, px(0)), (size, px(0))], fill=(230, 230, 230))
    for pts, colour in ((real, (150, 150, 150)), (fake, (230, 120, 20))):
        if pts is None:
            continue
        for x, y in np.asarray(pts)[:2000]:
            u, v = px(x), size - 1 - px(y)
            draw.ellipse([u - 1.5, v - 1.5, u + 1.5, v + 1.5], fill=colour)
    return img

"""Tensors -> pictures: image grids, strips and 2-D scatter plots (no UI code, no gradio)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


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


def _font(size: int = 13):
    """Pillow's bundled font at a readable size (its bitmap fallback where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def label_rows(img: Image.Image, labels: list[str], margin: int = 92) -> Image.Image:
    """A grid with `labels` written in a white margin on its left, one per row, centred on the row."""
    out = Image.new(img.mode if img.mode in ("RGB", "L") else "RGB", (img.width + margin, img.height), "white")
    out.paste(img, (margin, 0))
    draw, font = ImageDraw.Draw(out), _font()
    row_h = img.height / max(len(labels), 1)
    for i, text in enumerate(labels):
        draw.text((margin - 6, (i + 0.5) * row_h), text, fill=0 if out.mode == "L" else (40, 40, 40), font=font,
                  anchor="rm")
    return out


def label_columns(img: Image.Image, labels: list[str], band: int = 18) -> Image.Image:
    """A strip with `labels` written in a white band under it, one centred under each column."""
    out = Image.new(img.mode if img.mode in ("RGB", "L") else "RGB", (img.width, img.height + band), "white")
    out.paste(img, (0, 0))
    draw, font = ImageDraw.Draw(out), _font(12)
    col_w = img.width / max(len(labels), 1)
    for i, text in enumerate(labels):
        draw.text(((i + 0.5) * col_w, img.height + band / 2), text, fill=0 if out.mode == "L" else (40, 40, 40),
                  font=font, anchor="mm")
    return out


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


# GAN Lab's palette: purple where the critic says "fake", green where it says "real"
_FIELD_STOPS = np.array([[118, 74, 160], [247, 247, 247], [45, 140, 80]], dtype=np.float32)


def colour_field(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A 2-D array -> RGB uint8, lo purple through white to hi green (a diverging map)."""
    t = np.clip((np.asarray(values, np.float32) - lo) / max(hi - lo, 1e-12), 0, 1) * 2
    k = np.minimum(t.astype(int), 1)[..., None]
    frac = (t[..., None] - k)
    rgb = _FIELD_STOPS[k[..., 0]] * (1 - frac) + _FIELD_STOPS[k[..., 0] + 1] * frac
    return rgb.round().astype(np.uint8)


def _disc(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets (dy, dx) of a filled disc."""
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    inside = dy ** 2 + dx ** 2 <= radius ** 2 + 0.5
    return dy[inside], dx[inside]


def dots(canvas: np.ndarray, u: np.ndarray, v: np.ndarray, radius: float, colour, alpha: float) -> None:
    """Paint filled discs at pixel centres (u, v) onto an H x W x 3 float array, alpha-blended, all at once
    (numpy, not one drawing call per point: 600 points cost about a millisecond)."""
    h, w = canvas.shape[:2]
    dy, dx = _disc(radius)
    rows = (np.rint(v)[:, None] + dy[None]).ravel().astype(np.int64)
    cols = (np.rint(u)[:, None] + dx[None]).ravel().astype(np.int64)
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    idx = rows[ok] * w + cols[ok]     # a pixel under two dots is painted once (both read the same old value)
    flat = canvas.reshape(-1, 3)
    flat[idx] = flat[idx] * (1 - alpha) + np.asarray(colour, np.float32) * alpha


def plane(view, size: int = 420, field: bool = True, arrows: bool = True, warp: bool = True,
          real: bool = True) -> Image.Image:
    """A Playground frame (explorer.training.playground.View): the critic's field behind real points
    (black) and generated points (orange), the generator's gradient as arrows, the warped z-grid."""
    e = view.extent

    def px(x, y):
        return (x + e) / (2 * e) * (size - 1), (e - y) / (2 * e) * (size - 1)

    if field:
        img = Image.fromarray(colour_field(view.field, *view.field_range)).resize((size, size), Image.BILINEAR)
    else:
        img = Image.new("RGB", (size, size), "white")
    if warp:
        draw = ImageDraw.Draw(img, "RGBA")
        for line in view.warp:
            u, v = px(line[:, 0], line[:, 1])
            draw.line(list(zip(u.tolist(), v.tolist())), fill=(60, 90, 200, 90), width=1)
    canvas = np.asarray(img, np.float32).copy()
    if real:
        dots(canvas, *px(view.real[:, 0], view.real[:, 1]), 1.5, (20, 20, 20), 170 / 255)
    dots(canvas, *px(view.fake[:, 0], view.fake[:, 1]), 2.0, (240, 120, 20), 220 / 255)
    img = Image.fromarray(canvas.round().astype(np.uint8))
    if arrows and len(view.arrows):
        draw = ImageDraw.Draw(img, "RGBA")
        a = view.arrows
        u0, v0 = px(a[:, 0], a[:, 1])
        u1, v1 = px(a[:, 0] + a[:, 2], a[:, 1] + a[:, 3])
        ang = np.arctan2(v1 - v0, u1 - u0)
        headed = np.hypot(u1 - u0, v1 - v0) > 3   # a small head, only where the arrow is long enough to show one
        for i in range(len(a)):
            draw.line([(u0[i], v0[i]), (u1[i], v1[i])], fill=(170, 30, 30, 230), width=1)
            if headed[i]:
                for da in (2.6, -2.6):
                    draw.line([(u1[i], v1[i]), (u1[i] + 4 * np.cos(ang[i] + da), v1[i] + 4 * np.sin(ang[i] + da))],
                              fill=(170, 30, 30, 230), width=1)
    return img


def histogram(values: np.ndarray, bins: int = 40, size: tuple[int, int] = (420, 110),
              bound: float | None = None) -> Image.Image:
    """A bar chart of values (e.g. a critic's weights); dashed red lines at +-bound when given."""
    w, h = size
    values = np.asarray(values, np.float64)
    lim = bound * 1.15 if bound else float(np.abs(values).max() or 1.0) * 1.05
    counts, edges = np.histogram(np.clip(values, -lim, lim), bins=bins, range=(-lim, lim))
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    top, bottom = 14, h - 14
    peak = max(int(counts.max()), 1)
    for i, c in enumerate(counts):
        x0, x1 = i * w / bins, (i + 1) * w / bins - 1
        draw.rectangle([x0, bottom - (bottom - top) * c / peak, x1, bottom], fill=(90, 110, 170))
    draw.line([(0, bottom), (w, bottom)], fill=(120, 120, 120))
    draw.text((2, bottom + 1), f"{-lim:.3g}", fill=(60, 60, 60))
    draw.text((w - 40, bottom + 1), f"{lim:.3g}", fill=(60, 60, 60))
    draw.text((2, 1), f"{len(values):,} weights", fill=(60, 60, 60))
    if bound:
        for b in (-bound, bound):
            x = (b + lim) / (2 * lim) * w
            for y in range(top, bottom, 6):
                draw.line([(x, y), (x, y + 3)], fill=(200, 40, 40))
    return img

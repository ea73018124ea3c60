"""Synthetic cartoon faces with exact binary attribute labels, rendered by Pillow.

Attributes come from a thresholded latent Gaussian whose correlation is set by one knob, so the same
renderer gives independent data (correlation 0) or entangled data (e.g. 0.8: Beard goes with
Wide_Face and against Long_Hair, Sunglasses goes with Hat). Everything else about a face (skin tone,
hair colour, baldness, background, shirt, pose jitter) is nuisance drawn from the seed.

Labels are exact about what is drawn:
  Sunglasses  two big near-black lenses joined by a bridge, over the eyes
  Smiling     an open smile (dark mouth with teeth, curving up); otherwise a flat closed line
  Beard       hair-coloured beard over jaw and chin (dark brown/black when the head is bald)
  Hat         a saturated crown with a brim wider than the head (hats never take hair colours)
  Long_Hair   hair hanging behind the head down to the shoulders; otherwise short or bald
  Blond_Hair  blond hair colour (hair, eyebrows, beard). A bald head is only drawn for faces with
              Long_Hair=0 and Blond_Hair=0, so blond hair is always visible when labelled; under a
              hat, short hair still shows below the brim at the temples.
  Wide_Face   a head ellipse about 1.35x wider than a narrow one (both widths jitter a little)
"""
from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
import torch
from PIL import Image, ImageDraw

from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import DataError

ATTRIBUTES: tuple[str, ...] = ("Sunglasses", "Smiling", "Beard", "Hat", "Long_Hair", "Blond_Hair", "Wide_Face")
BASE_RATES = np.array([0.35, 0.5, 0.35, 0.35, 0.45, 0.35, 0.5])  # P(attribute = 1), same at every correlation

# Factor loadings, A x 2: factor 0 "rugged" (beard, wide face, short dark hair), factor 1 "outdoor"
# (sunglasses, hat). Smiling loads on nothing, so it stays independent at every correlation.
LOADINGS = np.array([
    # rugged outdoor
    [0.0, 1.0],   # Sunglasses
    [0.0, 0.0],   # Smiling
    [1.0, 0.0],   # Beard
    [0.0, 0.9],   # Hat
    [-0.9, 0.0],  # Long_Hair
    [-0.4, 0.0],  # Blond_Hair
    [0.9, 0.0],   # Wide_Face
])

SIZES = (32, 64)
SUPERSAMPLE = 4           # draw at 4x the output size, then downsample anti-aliased
CHUNK = 500               # faces per RNG stream / worker task; fixed so output never depends on chunking
BALD_RATE = 0.3           # P(bald | short, not blond)
CACHE_VERSION = 1         # bump whenever the renderer's pixels change, to invalidate caches
SKETCH_VERSION = 3        # ... and this when only the line drawings change
DEFAULT_N = {"train": 60000, "test": 10000}

SKIN = np.array([(255, 224, 196), (241, 194, 160), (224, 172, 125), (198, 134, 92), (160, 104, 70),
                 (135, 88, 60)], dtype=float)
DARK_HAIR = np.array([(30, 26, 26), (62, 40, 28), (105, 65, 38), (150, 62, 32)], dtype=float)  # black..auburn
BLOND_HAIR = np.array([(238, 196, 72), (222, 172, 58), (246, 214, 108)], dtype=float)  # golden, not skin-like
HATS = np.array([(40, 90, 220), (30, 160, 90), (150, 50, 190), (220, 40, 60), (20, 170, 190),
                 (240, 120, 20)], dtype=float)


def attribute_correlation_matrix(correlation: float) -> np.ndarray:
    """Latent correlation matrix, A x A: correlation * L L^T off the diagonal, ones on it (PSD for c in [0, 1])."""
    # c L L^T is PSD and the diagonal top-up 1 - c |L_i|^2 is >= 0 since every |L_i| <= 1: sum of PSD
    shared = correlation * LOADINGS @ LOADINGS.T
    return shared + np.diag(1.0 - np.diag(shared))


def sample_attributes(n: int, correlation: float, seed: int) -> np.ndarray:
    """n x A uint8 0/1 attributes: a factor-model Gaussian thresholded at per-attribute quantiles."""
    rng = np.random.default_rng([seed, 0])
    factors = rng.standard_normal((n, LOADINGS.shape[1]))          # n x F shared causes
    noise = rng.standard_normal((n, len(ATTRIBUTES)))              # n x A private causes
    unique = np.sqrt(1.0 - correlation * (LOADINGS ** 2).sum(1))    # A, keeps each latent N(0, 1)
    latent = np.sqrt(correlation) * factors @ LOADINGS.T + noise * unique
    thresholds = np.array([NormalDist().inv_cdf(1.0 - p) for p in BASE_RATES])
    return (latent > thresholds).astype(np.uint8)


def _nuisance(seed: int, chunk: int) -> dict[str, np.ndarray]:
    """Every non-attribute factor for one chunk of CHUNK faces; drawn in fixed amounts, never from attrs."""
    rng = np.random.default_rng([seed, 1, chunk])
    u = lambda *shape: rng.random((CHUNK, *shape))  # noqa: E731
    t = u() * (len(SKIN) - 1)                      # skin tone: a point along the SKIN ramp
    lo = np.floor(t).astype(int).clip(0, len(SKIN) - 2)
    skin = SKIN[lo] + (SKIN[lo + 1] - SKIN[lo]) * (t - lo)[:, None]
    hue, sat, val = u(), 0.25 + 0.35 * u(), 0.55 + 0.35 * u()
    # dark hair must stand out from the skin (a brown beard on brown skin would make Beard a guess):
    # pick uniformly among the DARK_HAIR colours at least 60 luminance levels away from the skin
    ok = np.abs(_luma(skin)[:, None] - _luma(DARK_HAIR)[None, :]) >= 60      # CHUNK x colours
    ok[:, 0] = True                                                           # black always works
    pick = np.minimum((u() * ok.sum(1)).astype(int), ok.sum(1) - 1)
    dark = DARK_HAIR[[np.flatnonzero(row)[j] for row, j in zip(ok, pick)]]
    background = _hsv_to_rgb(hue, sat, val)
    near_skin = np.abs(background - skin).max(1) < 60      # a skin-coloured background would hide the face
    background[near_skin] = _hsv_to_rgb((hue[near_skin] + 0.5) % 1, sat[near_skin], val[near_skin])
    return {
        "skin": skin,
        "dark_hair": dark + rng.normal(0, 6, (CHUNK, 3)),
        "blond_hair": BLOND_HAIR[rng.integers(len(BLOND_HAIR), size=CHUNK)] + rng.normal(0, 6, (CHUNK, 3)),
        "beard_bald": dark,                                       # beard colour for bald heads
        "hat": HATS[rng.integers(len(HATS), size=CHUNK)],
        "bald": u() < BALD_RATE,
        "background": background,
        "shirt": _hsv_to_rgb(u(), 0.3 + 0.5 * u(), 0.35 + 0.5 * u()),
        "width": u(),                                  # jitter within the narrow / wide band
        "pose": (u(3) - 0.5) * np.array([0.08, 0.08, 0.12]),   # dx, dy in +-4% of the canvas, scale +-6%
        "pupil": (u(2) - 0.5) * 0.02,                  # gaze jitter
    }


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV (all in [0, 1]) to RGB in [0, 255], N x 3."""
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, 1) for c in
                      [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]], 1)  # N x 6 x 3
    return table[np.arange(len(h)), i] * 255


def _rgb(c: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.round(c), 0, 255))


class _Pencil:
    """ImageDraw's shape calls, drawn as a line drawing: every shape white with a black outline, every line
    black. Tones carry what outlines cannot: hair that is not blond is shaded grey and blond hair a pale grey,
    with pale grey brows (so Blond_Hair stays visible, as a pencil artist shades hair, even when a hat leaves only
    the sideburns and brows), and dark fills (lenses, pupils, an open mouth) are filled black (at 32 px an
    outlined open mouth and a closed one look alike; a filled one does not). bare=True fills a shape with no
    outline (the skin left around a bearded mouth, whose outline would read as an open mouth)."""

    SHADE, PALE, PALE_LINE = (175, 175, 175), (215, 215, 215), (185, 185, 185)
    BLACK, WHITE = (0, 0, 0), (255, 255, 255)

    def __init__(self, draw: ImageDraw.ImageDraw, width: int, dark_hair: set, blond_hair: set):
        self.d, self.width, self.dark_hair, self.blond_hair = draw, width, dark_hair, blond_hair

    def _tone(self, fill) -> tuple:
        if fill in self.dark_hair:
            return self.SHADE
        if fill in self.blond_hair:
            return self.PALE
        return self.BLACK if _luma(np.array(fill, dtype=float)) < 60 else self.WHITE

    def _shape(self, method: str, *args, fill=None, bare: bool = False, **kw):
        kw.pop("outline", None), kw.pop("width", None)
        outline = dict(outline=None) if bare else dict(outline=self.BLACK, width=self.width)
        getattr(self.d, method)(*args, fill=self._tone(fill), **outline, **kw)

    def rectangle(self, *a, **kw):
        self._shape("rectangle", *a, **kw)

    def rounded_rectangle(self, *a, **kw):
        self._shape("rounded_rectangle", *a, **kw)

    def ellipse(self, *a, **kw):
        self._shape("ellipse", *a, **kw)

    def chord(self, *a, **kw):
        self._shape("chord", *a, **kw)

    def line(self, xy, fill=None, width=1):
        if fill in self.blond_hair:
            colour = self.PALE_LINE
        else:    # a glint on a black lens stays light
            colour = self.WHITE if _luma(np.array(fill, dtype=float)) > 150 else self.BLACK
        self.d.line(xy, fill=colour, width=max(width, self.width))


def _draw_face(img: Image.Image, a: np.ndarray, f: dict, i: int, sketch: bool = False) -> None:
    """Draw face i of a chunk onto img (canvas x canvas RGB), attributes a (A,) in ATTRIBUTES order.
    sketch=True draws the same face (same attributes, same nuisance, same geometry) as a line drawing."""
    sunglasses, smiling, beard, hat, long_hair, blond, wide = (bool(v) for v in a)
    bald = bool(f["bald"][i]) and not long_hair and not blond
    size = img.width
    dx, dy, ds = f["pose"][i]
    k = size * (1.0 + ds)                           # pixels per unit; faces live in a unit square
    ox, oy = size * (0.5 + dx) - 0.5 * k, size * (0.5 + dy) - 0.5 * k
    B = lambda x0, y0, x1, y1: (ox + x0 * k, oy + y0 * k, ox + x1 * k, oy + y1 * k)  # noqa: E731
    P = lambda pts: [(ox + x * k, oy + y * k) for x, y in pts]  # noqa: E731
    W = lambda w: max(1, int(round(w * k)))  # noqa: E731

    skin = _rgb(f["skin"][i])
    shade = _rgb(f["skin"][i] * 0.8)
    hair_rgb = f["blond_hair"][i] if blond else f["dark_hair"][i]
    hair, hair_line = _rgb(hair_rgb), _rgb(hair_rgb * 0.6)   # outlines keep hair apart from the background
    beard_col = _rgb(f["beard_bald"][i]) if bald else hair
    img.paste(_Pencil.WHITE if sketch else _rgb(f["background"][i]), (0, 0, size, size))
    d = ImageDraw.Draw(img)
    if sketch:
        d = _Pencil(d, W(0.022), dark_hair=set() if blond else {hair, beard_col}, blond_hair={hair} if blond else set())
    gap = dict(bare=True) if sketch else {}       # the colour picture's skin patch has no outline either

    cx = 0.5
    hw = (0.27 + 0.02 * f["width"][i]) if wide else (0.195 + 0.02 * f["width"][i])  # head half-width
    top, bottom = 0.18, 0.78                        # head ellipse, y
    eye_y, mouth_y = 0.47, 0.645
    line = W(0.012)                                 # outline width: keeps shapes crisp at 32px

    # long hair hangs behind head and shoulders
    if long_hair:
        d.rounded_rectangle(B(cx - hw - 0.07, top - 0.03, cx + hw + 0.07, 0.93), radius=W(0.16), fill=hair,
                            outline=hair_line, width=line)
    # shoulders and neck
    d.ellipse(B(0.12, 0.80, 0.88, 1.35), fill=_rgb(f["shirt"][i]))
    d.rectangle(B(cx - 0.07, 0.66, cx + 0.07, 0.84), fill=shade)
    if long_hair:   # strands falling in front of the shoulders
        d.rectangle(B(cx - hw - 0.07, 0.6, cx - hw + 0.02, 0.93), fill=hair, outline=hair_line, width=line)
        d.rectangle(B(cx + hw - 0.02, 0.6, cx + hw + 0.07, 0.93), fill=hair, outline=hair_line, width=line)
    # ears, head
    d.ellipse(B(cx - hw - 0.04, eye_y - 0.04, cx - hw + 0.04, eye_y + 0.06), fill=shade)
    d.ellipse(B(cx + hw - 0.04, eye_y - 0.04, cx + hw + 0.04, eye_y + 0.06), fill=shade)
    d.ellipse(B(cx - hw, top, cx + hw, bottom), fill=skin, outline=_rgb(f["skin"][i] * 0.6), width=line)
    # hair on top: a cap cut at the forehead plus sideburns down to the ears
    if not bald:
        d.chord(B(cx - hw - 0.02, top - 0.04, cx + hw + 0.02, bottom), 192, 348, fill=hair, outline=hair_line,
                width=line)
        d.rectangle(B(cx - hw - 0.015, 0.34, cx - hw + 0.035, eye_y), fill=hair)
        d.rectangle(B(cx + hw - 0.035, 0.34, cx + hw + 0.015, eye_y), fill=hair)

    # beard: hair-coloured jaw and chin, with a skin gap around the mouth so the mouth stays readable
    if beard:
        d.chord(B(cx - hw - 0.01, top, cx + hw + 0.01, bottom + 0.02), 17, 163, fill=beard_col)
        d.ellipse(B(cx - 0.08, mouth_y - 0.04, cx + 0.08, mouth_y + 0.035), fill=skin, **gap)

    # eyes and brows
    ex = 0.095 + 0.15 * (hw - 0.195)
    brow = beard_col if bald else hair
    for s in (-1, 1):
        x = cx + s * ex
        d.ellipse(B(x - 0.04, eye_y - 0.025, x + 0.04, eye_y + 0.025), fill=(250, 250, 250))
        px, py = x + f["pupil"][i][0], eye_y + f["pupil"][i][1] * 0.5
        d.ellipse(B(px - 0.02, py - 0.02, px + 0.02, py + 0.02), fill=(30, 25, 30))
        d.line(P([(x - 0.045, eye_y - 0.055), (x + 0.045, eye_y - 0.06)]), fill=brow, width=W(0.022))
    # nose
    d.line(P([(cx, eye_y + 0.03), (cx - 0.02, 0.555), (cx + 0.01, 0.56)]), fill=shade, width=W(0.015))

    # mouth: open smile (lower half-ellipse with teeth) or a flat closed line
    if smiling:
        d.chord(B(cx - 0.08, mouth_y - 0.045, cx + 0.08, mouth_y + 0.04), 0, 180, fill=(110, 20, 35))
        d.chord(B(cx - 0.066, mouth_y - 0.036, cx + 0.066, mouth_y + 0.01), 0, 180, fill=(250, 250, 245))
    else:
        d.line(P([(cx - 0.06, mouth_y), (cx + 0.06, mouth_y)]), fill=(120, 40, 45), width=W(0.018))

    # sunglasses: two big near-black lenses, a thick bridge, arms to the ears, a small glint
    if sunglasses:
        frame = (15, 15, 20)
        for s in (-1, 1):
            x = cx + s * ex
            d.rounded_rectangle(B(x - 0.07, eye_y - 0.05, x + 0.07, eye_y + 0.045), radius=W(0.03), fill=frame)
            d.line(P([(x - 0.045, eye_y + 0.005), (x - 0.01, eye_y - 0.03)]), fill=(170, 175, 195), width=W(0.016))
            d.line(P([(x + s * 0.07, eye_y - 0.03), (cx + s * (hw + 0.02), eye_y - 0.03)]), fill=frame, width=W(0.02))
        d.line(P([(cx - ex + 0.06, eye_y - 0.025), (cx + ex - 0.06, eye_y - 0.025)]), fill=frame, width=W(0.025))

    # hat: a saturated crown with a band and a brim wider than the head
    if hat:
        col = f["hat"][i]
        d.chord(B(cx - hw - 0.01, top - 0.1, cx + hw + 0.01, 0.56), 180, 360, fill=_rgb(col))
        d.rectangle(B(cx - hw - 0.01, 0.30, cx + hw + 0.01, 0.345), fill=_rgb(col * 0.45))
        d.rounded_rectangle(B(cx - hw - 0.09, 0.335, cx + hw + 0.09, 0.385), radius=W(0.02), fill=_rgb(col * 0.85))


def _render_chunk(attrs: np.ndarray, image_size: int, seed: int, chunk: int, sketch: bool = False) -> np.ndarray:
    """Render up to CHUNK faces of one chunk: attrs n x A -> uint8 n x 3 x S x S."""
    f = _nuisance(seed, chunk)
    canvas = image_size * SUPERSAMPLE
    out = np.empty((len(attrs), image_size, image_size, 3), dtype=np.uint8)
    img = Image.new("RGB", (canvas, canvas))
    for i, a in enumerate(attrs):
        _draw_face(img, a, f, i, sketch)
        out[i] = np.asarray(img.resize((image_size, image_size), Image.LANCZOS))
    return out.transpose(0, 3, 1, 2)


def _render_task(args):
    return _render_chunk(*args)


def render_faces(attrs: np.ndarray, image_size: int = 32, seed: int = 0, workers: int | None = None,
                 sketch: bool = False) -> np.ndarray:
    """Render faces for attrs (n x A of 0/1) as uint8 n x 3 x S x S; nuisance factors come from seed.
    sketch=True: the same faces as line drawings (black outlines on white), pixel-aligned with the colour ones."""
    attrs = np.asarray(attrs).astype(bool)
    if attrs.ndim != 2 or attrs.shape[1] != len(ATTRIBUTES):
        raise DataError(f"attrs must be n x {len(ATTRIBUTES)} ({', '.join(ATTRIBUTES)}), got shape {attrs.shape}")
    _check_size(image_size)
    tasks = [(attrs[s:s + CHUNK], image_size, seed, s // CHUNK, sketch) for s in range(0, len(attrs), CHUNK)]
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers > 1 and len(tasks) > 1 and "fork" in mp.get_all_start_methods() and not mp.current_process().daemon:
        # fork: workers need only numpy + Pillow, and avoid re-importing torch as spawn would
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_task, tasks)
    else:
        parts = [_render_chunk(*t) for t in tasks]
    if not parts:
        return np.zeros((0, 3, image_size, image_size), dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate(parts))


def _check_size(image_size: int) -> None:
    if image_size not in SIZES:
        raise DataError(f"faces image_size must be 32 or 64, got {image_size}")


def _cache_key(split: str, image_size: int, correlation: float, n: int, seed: int) -> str:
    return f"v{CACHE_VERSION}-{split}-s{image_size}-c{correlation!r}-n{n}-seed{seed}"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as z:
            return z["x"], z["attrs"]
    except (OSError, KeyError, ValueError):   # missing or truncated: render again
        return None


def _write_cache(path: Path, x: np.ndarray, attrs: np.ndarray) -> None:
    """Atomic: write a temp file in the same folder, then os.replace; silently skip if not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, x=x, attrs=attrs)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except OSError:
        pass


def load_faces(root: Path | None, split: str = "train", image_size: int = 32, correlation: float = 0.0,
               n: int | None = None, seed: int = 0, sketch: bool = False) -> TensorData:
    """The synthetic faces dataset, rendered (or read from root/faces-cache) for one split.
    sketch=True: the same faces, in the same order, as line drawings."""
    _check_size(image_size)
    if split not in DEFAULT_N:
        raise DataError(f"faces split must be 'train' or 'test', got '{split}'")
    correlation = float(correlation)
    if not 0.0 <= correlation < 1.0:
        raise DataError(f"faces correlation must be in [0, 1), got {correlation}")
    n = DEFAULT_N[split] if n is None else int(n)
    if n < 1 or seed < 0:
        raise DataError(f"faces needs n >= 1 and seed >= 0, got n={n}, seed={seed}")
    stream = 2 * seed + (split == "test")      # train and test never share a seed stream
    key = _cache_key(split, image_size, correlation, n, seed) + (f"-sketch{SKETCH_VERSION}" if sketch else "")
    x, attrs = cached_render(root, key, lambda: sample_attributes(n, correlation, stream), image_size, stream, sketch)
    info = DatasetInfo(name="faces", kind="image", shape=(3, image_size, image_size), attribute_names=ATTRIBUTES,
                       options={"split": split, "image_size": image_size, "correlation": correlation, "n": n,
                                "seed": seed})
    return TensorData(torch.from_numpy(x), None, torch.from_numpy(attrs.astype(np.float32)), info)


def cached_render(root: Path | None, key: str, attributes, image_size: int, stream: int,
                  sketch: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 faces, their attributes) from root/faces-cache/<key>.npz, or rendered (and cached when root is
    writable); `attributes()` draws the attribute rows when a render is needed."""
    path = None if root is None else Path(root) / "faces-cache" / f"{key}.npz"
    cached = _read_cache(path) if path is not None else None
    if cached is not None:
        return cached
    attrs = attributes()
    x = render_faces(attrs, image_size, stream, sketch=sketch)
    if path is not None:
        _write_cache(path, x, attrs)
    return x, attrs


def save_grid(path: str | Path, images: np.ndarray, cols: int = 8, scale: int = 2) -> None:
    """Write uint8 n x 3 x S x S images as one PNG grid, upscaled with nearest neighbour."""
    n, _, s, _ = images.shape
    rows = -(-n // cols)
    grid = np.zeros((rows * s, cols * s, 3), dtype=np.uint8)
    for j, im in enumerate(images):
        r, c = divmod(j, cols)
        grid[r * s:(r + 1) * s, c * s:(c + 1) * s] = im.transpose(1, 2, 0)
    Image.fromarray(grid).resize((cols * s * scale, rows * s * scale), Image.NEAREST).save(path)


if __name__ == "__main__":  # python -m explorer.data.faces: time a render and write preview grids to /tmp
    a = sample_attributes(64, 0.0, 0)
    for size in SIZES:
        save_grid(f"/tmp/faces_grid_{size}.png", render_faces(a, size, 0), scale=1024 // (8 * size))
    t = time.perf_counter()
    render_faces(sample_attributes(2000, 0.0, 1), 32, 1)
    print(f"2000 faces at 32px: {time.perf_counter() - t:.2f}s")

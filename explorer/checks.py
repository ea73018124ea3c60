"""Checks of values that come from outside (the UI's boxes, the API, the CLI), shared by every layer."""
from __future__ import annotations

import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from explorer.errors import ConfigError, DataError

MAX_PIXELS = 16_000_000         # 4000 x 4000: far above any picture the models take
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
Image.MAX_IMAGE_PIXELS = MAX_PIXELS   # every decode in the process (Gradio's uploads too) refuses a bomb

SEED_RULE = f"a seed is a whole number from 0 to {2**32 - 1}"


def check_seed(seed) -> int:
    """One rule for every seed from outside (the UI's boxes, the API, the CLI): a whole number in 0..2^32-1;
    anything else (-5, 1.5, 1e20, letters, NaN, True) is refused with the same message."""
    value = seed
    if isinstance(seed, str):
        text = seed.strip()
        value = int(text) if text.isdigit() else None
    elif isinstance(seed, bool) or not isinstance(seed, (int, float, np.integer, np.floating)):
        value = None
    elif isinstance(seed, (float, np.floating)):
        value = int(seed) if np.isfinite(seed) and float(seed).is_integer() else None
    if value is None or not 0 <= int(value) < 2**32:
        raise ConfigError(f"{SEED_RULE}; got {seed!r}")
    return int(value)


def check_whole(value, lo: int, hi: int, what: str) -> int:
    """Any other whole number from outside (a step count, a direction's index, a page): finite, whole, within
    lo..hi, not a boolean; else refused with one readable sentence naming `what`."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and np.isfinite(value) and float(value).is_integer() and lo <= value <= hi
    if not ok:
        raise ConfigError(f"{what} must be a whole number from {lo} to {hi}; got {value!r}")
    return int(value)


def read_image(source, what: str = "the picture") -> Image.Image:
    """A picture from outside (an upload, a file given to the CLI), checked before it is decoded: an image by its
    content, not its name (a script renamed .png is refused), one of IMAGE_FORMATS, at most MAX_PIXELS by its
    header (a decompression bomb is refused without being expanded), and whole (a truncated file is refused).
    Returns the decoded picture (a GIF's first frame); anything else is refused with one sentence."""
    try:
        with warnings.catch_warnings():  # between the limit and twice it Pillow only warns: refused below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)      # reads the header only
    except FileNotFoundError:
        raise DataError(f"{what} was not found") from None
    except Image.DecompressionBombError:
        raise DataError(f"{what} is too large (at most {MAX_PIXELS:,} pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise DataError(f"{what} is not a picture Latent Explorer can read ({', '.join(IMAGE_FORMATS)})") from None
    if im.format not in IMAGE_FORMATS:
        raise DataError(f"{what} is a {im.format} file; use one of {', '.join(IMAGE_FORMATS)}")
    width, height = im.size
    if width * height > MAX_PIXELS or min(width, height) < 1:
        raise DataError(f"{what} is {width} x {height} pixels; at most {MAX_PIXELS:,} pixels are accepted")
    try:
        im.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise DataError(f"{what} is damaged or cut short; it could not be decoded") from None
    return im

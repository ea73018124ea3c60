"""Checks of values that come from outside (the UI's boxes, the API, the CLI), shared by every layer."""
from __future__ import annotations

import numpy as np

from explorer.errors import ConfigError

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

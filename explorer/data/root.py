"""The one data-root resolver: --data-root, else $LATENT_EXPLORER_DATA, else ~/.cache/latent-explorer."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "LATENT_EXPLORER_DATA"


def resolve_data_root(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Return (root, where it came from) for messages such as 'looked in X (from --data-root)'."""
    if explicit:
        return Path(explicit).expanduser(), "--data-root"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return Path.home() / ".cache" / "latent-explorer", "the default location"

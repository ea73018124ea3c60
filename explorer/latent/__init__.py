"""z-space math: sampling, truncation, interpolation paths (directions and metrics join later)."""
from explorer.latent.space import interpolate_path, lerp, slerp, truncate

__all__ = ["interpolate_path", "lerp", "slerp", "truncate"]

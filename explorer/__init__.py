"""Latent Explorer: see inside a GAN."""
__version__ = "0.1.0"

"""Leaf helpers that import nothing else from vae_zoo: argument checks, checksums, seeds,
distribution-strategy helpers."""

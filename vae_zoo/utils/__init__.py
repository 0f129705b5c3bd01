"""Leaf helpers that import nothing else from vae_zoo: checksums, seeds, distribution-strategy helpers."""

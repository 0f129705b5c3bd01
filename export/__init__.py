"""Export: SavedModels for TF Serving (installed as `vae_zoo.export`).

Works from the `VAE` contract alone (`encode_outputs`, `decode_outputs`,
`sample_outputs`, `reconstruct`, `log_likelihood`), so a new model family
exports without new export code.
"""

from vae_zoo.export.saved_model import SIGNATURES, export_saved_model, next_version

__all__ = ["SIGNATURES", "export_saved_model", "next_version"]

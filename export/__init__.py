"""Export: SavedModels for TF Serving and `.tflite` files for LiteRT (installed as `vae_zoo.export`).

Works from the `VAE` contract alone (`serving_signatures()`, written once in
`vae_zoo/models/signatures.py`), so a new model family
exports without new export code.
"""

from vae_zoo.export.saved_model import SIGNATURES, export_saved_model, next_version
from vae_zoo.export.tflite import export_tflite

__all__ = ["SIGNATURES", "export_saved_model", "export_tflite", "next_version"]

"""Export: SavedModels for TF Serving, `.tflite` files for LiteRT, ONNX and OpenVINO (installed as
`vae_zoo.export`).

Importing it registers the formats of `model.export(filepath, format=...)`
(`formats.py`): `tf_saved_model`, `litert`, `onnx` (`onnx.py`), `openvino`
(`openvino.py`); the last two need `pip install vae-zoo[onnx]` / `[openvino]`
only when used.

Works from the `VAE` contract alone (`serving_signatures()`, written once in
`vae_zoo/models/signatures.py`), so a new model family
exports without new export code.
"""

from vae_zoo.export import formats
from vae_zoo.export.onnx import export_onnx
from vae_zoo.export.openvino import export_openvino
from vae_zoo.export.saved_model import SIGNATURES, export_saved_model, next_version
from vae_zoo.export.tflite import export_tflite

__all__ = [
    "SIGNATURES",
    "export_onnx",
    "export_openvino",
    "export_saved_model",
    "export_tflite",
    "formats",
    "next_version",
]

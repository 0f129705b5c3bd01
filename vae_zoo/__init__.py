"""vae-zoo: variational autoencoders for Keras 3, built on TensorFlow Probability.

Public API:

* `vae_zoo.models`: `VAE`, `DenseVAE`, `ConvVAE`, `BetaVAE` (keras.Model subclasses);
* `vae_zoo.distributions`: the distribution layers the models are built from;
* `vae_zoo.load(name)` / `vae_zoo.models.<Family>.from_preset(name)` and `vae_zoo.list_presets()`:
  pretrained models, checked against their SHA-256;
* `vae_zoo.export_saved_model`: a TF Serving SavedModel with encode/decode/sample signatures;
* `vae_zoo.export_tflite`: one .tflite file (encode, decode, reconstruct) for LiteRT;
* `model.export(filepath, format=...)` on every model: `tf_saved_model`, `litert`, `onnx`,
  `openvino` (registered by `vae_zoo.export`, imported here, so `import vae_zoo.models` suffices);
* the `vae-zoo` command line.
"""

import os as _os
import sys as _sys

if _os.path.basename(_sys.argv[0] if _sys.argv else "") == "vae-zoo" and "--tf-log" not in _sys.argv:
    # Run as the `vae-zoo` program (its console script imports this package before
    # `vae_zoo.cli.main` runs): the console is set up before TensorFlow loads, which prints
    # native log lines as it does (vae_zoo/utils/console.py). Imported as a library, nothing changes.
    from vae_zoo.utils import console as _console

    _console.quiet_native_logs()

from vae_zoo import distributions, models  # noqa: E402
from vae_zoo import export as _export_formats  # noqa: E402, F401  registers model.export's formats
from vae_zoo.presets import list_presets, load  # noqa: E402
from vae_zoo.version import __version__  # noqa: E402


def export_saved_model(model, base_dir, version=None, warmup=True, log_likelihood_samples=None):
    """Exports `model` as a TF Serving SavedModel; see `vae_zoo.export.export_saved_model`."""
    from vae_zoo.export import export_saved_model as _export

    return _export(
        model, base_dir, version=version, warmup=warmup, log_likelihood_samples=log_likelihood_samples
    )


def export_tflite(model, path):
    """Writes `model`'s encode/decode/reconstruct signatures to one `.tflite` file;
    see `vae_zoo.export.export_tflite`."""
    from vae_zoo.export import export_tflite as _export

    return _export(model, path)


__all__ = [
    "__version__",
    "distributions",
    "export_saved_model",
    "export_tflite",
    "list_presets",
    "load",
    "models",
]

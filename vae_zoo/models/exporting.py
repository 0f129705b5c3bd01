"""`model.export(filepath, format=...)`: Keras 3's export call on every VAE, dispatched to registered formats.

Keras's own `keras.Model.export` traces `model.call` and knows nothing of the
VAE contract; on a vae-zoo model it fails. `ExportMixin.export` keeps Keras's
argument names (`filepath`, `format`, `verbose`, `input_signature`, format
options as keyword arguments) and writes the contract's signatures
(`serving_signatures()`) instead:

| format | filepath | what is written |
|---|---|---|
| `"tf_saved_model"` (default) | the SavedModel directory | every signature, as `vae_zoo.export_saved_model` |
| `"litert"` | a `.tflite` file | `encode`, `decode`, `reconstruct`, as `vae_zoo.export_tflite` |
| `"onnx"` | a directory | one `<signature>.onnx` per deterministic signature and a manifest |
| `"openvino"` | a directory | one `<signature>.xml`/`.bin` per deterministic signature and a manifest |

The formats live in `vae_zoo.export` (a higher layer, which this module never
imports): it registers each with `register_export_format` when it is imported,
and `import vae_zoo` (the parent of `vae_zoo.models`, so always imported
first) imports it. A format name that is not registered is refused with the
list of those that are.
"""

#: `{format name: function(model, filepath, verbose=None, **kwargs) -> path}`, filled by `vae_zoo.export`.
EXPORT_FORMATS = {}


def register_export_format(name, function):
    """Makes `model.export(filepath, format=name, verbose=..., **kwargs)` call
    `function(model, filepath, verbose=verbose, **kwargs)`; returns `function`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"an export format name must be a non-empty string, got {name!r}")
    if not callable(function):
        raise ValueError(f"the exporter of format {name!r} must be callable, got {function!r}")
    EXPORT_FORMATS[name] = function
    return function


class ExportMixin:
    """The `export` method of `VAE`."""

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Exports the model's serving signatures for inference; returns the path written.

        Args:
            filepath: where to write (`str` or `pathlib.Path`): the SavedModel
                directory (`"tf_saved_model"`; for TF Serving pass
                `base_dir/<version>`, or use `vae_zoo.export_saved_model(model,
                base_dir)`, which picks the next version), the `.tflite` file
                (`"litert"`), or a directory (`"onnx"`, `"openvino"`). An
                existing file or non-empty directory is never overwritten.
            format: `"tf_saved_model"`, `"litert"`, `"onnx"` or `"openvino"`.
            verbose: print the path and the signatures written (default: quiet).
            input_signature: must be None: the inputs are fixed by the VAE
                contract (`model.serving_signatures()`).
            **kwargs: the format's options: `warmup`, `log_likelihood_samples`
                (`"tf_saved_model"`); `signatures` (`"onnx"`, `"openvino"`: a
                subset of `encode`, `decode`, `reconstruct`); `opset_version`
                (`"onnx"`, default 17); `compress_to_fp16` (`"openvino"`, default False).

        ONNX and OpenVINO need the extras `pip install vae-zoo[onnx]` /
        `vae-zoo[openvino]`; without them an `ImportError` says so.
        """
        if input_signature is not None:
            raise ValueError(
                "Received an invalid value for `input_signature`: a vae-zoo model exports the fixed "
                "signatures of its contract (model.serving_signatures()), so input_signature must be None. "
                f"Received: input_signature={input_signature!r}"
            )
        exporter = EXPORT_FORMATS.get(format)
        if exporter is None:
            raise ValueError(
                f"Unrecognized format={format!r}. Supported formats are: {sorted(EXPORT_FORMATS)} "
                "(registered by vae_zoo.export)."
            )
        return exporter(self, filepath, verbose=verbose, **kwargs)

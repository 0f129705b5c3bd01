"""SavedModel export for TF Serving, from the VAE contract alone.

`export_saved_model(model, base_dir)` writes `base_dir/<version>/`, a
SavedModel (through `keras.export.ExportArchive`) with these signatures; all
inputs are named, all outputs are dicts:

| signature | inputs | outputs |
|---|---|---|
| `encode` | `x` [B, *input_shape] float32, `seed` [2] int32 | `mean`, `stddev` (+ `scale_tril`), `z` |
| `decode` | `z` [B, latent] float32 | likelihood parameters (`logits`, `probs` / `loc`, `scale`), `mean` |
| `sample` | `num_samples` [] int32, `seed` [2] int32, `temperature` [] float32 | `x`, `z` |
| `reconstruct` = `serving_default` | `x`, `seed` | `reconstruction` |
| `log_likelihood` | `x`, `num_samples` [] int32, `seed` [2] int32 | `log_likelihood` [B] (nats) |

Seeds: every random draw is stateless, keyed by `seed`, so the same inputs
give the same outputs on every load. In `encode` and `reconstruct`,
`seed = [0, 0]` (the default of `serving/client.py`) means "no sampling": `z`
is the posterior mean; any other seed draws `z ~ q(z|x)`. In `log_likelihood`
every seed, `[0, 0]` included, keys the importance samples.

The export also writes `assets.extra/vae_zoo.json` (model class, config,
input shape and dtype, likelihood, latent size, vae_zoo version) and, unless
`warmup=False`, `assets.extra/tf_serving_warmup_requests` (see `warmup.py`).
The SavedModel needs neither vae_zoo nor TensorFlow Probability to load.

Example:

>>> import tempfile
>>> import vae_zoo
>>> model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
>>> path = vae_zoo.export_saved_model(model, tempfile.mkdtemp())  # doctest: +SKIP
>>> path.endswith("/1")  # doctest: +SKIP
True
"""

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from vae_zoo.version import __version__

SIGNATURES = ("encode", "decode", "sample", "reconstruct", "log_likelihood", "serving_default")
METADATA_FILE = "vae_zoo.json"


def next_version(base_dir):
    """1 + the largest integer version directory under `base_dir` (1 when there is none)."""
    if not os.path.isdir(base_dir):
        return 1
    versions = [int(name) for name in os.listdir(base_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def _check_version(version):
    if isinstance(version, bool) or not isinstance(version, int):
        if isinstance(version, str) and version.isdigit():
            return int(version)
        raise ValueError(f"version must be a positive integer (TF Serving version directory), got {version!r}")
    if version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    return version


def signature_functions(model):
    """The Python function of each signature (from `model.serving_signatures()`)."""
    return {name: fn for name, (fn, _) in model.serving_signatures().items()}


def _shape_checked(fn, specs):
    """`fn` with every input checked against its spec: loaded signatures do not check shapes
    themselves, and TF Serving passes tensors through, so a wrong shape would otherwise fail
    deep inside the graph. The error names the input: "Shape of tensor x [2,784] is not
    compatible with expected shape [?,28,28,1]"."""

    def checked(*args):
        return fn(*(tf.ensure_shape(a, spec.shape, name=spec.name) for a, spec in zip(args, specs)))

    return checked


def metadata(model):
    """The `assets.extra/vae_zoo.json` record."""
    return {
        "vae_zoo_version": __version__,
        "model_class": type(model).__name__,
        "config": model.get_config(),
        **model.serving_metadata(),
        "signatures": [*model.serving_signatures(), "serving_default"],
        "seed_convention": "seed [0, 0] in encode/reconstruct means z = posterior mean; other seeds draw z ~ q(z|x)",
    }


def export_saved_model(model, base_dir, version=None, warmup=True):
    """Exports a VAE as `base_dir/<version>/`, a TF Serving SavedModel; returns its path.

    Args:
        model: a `vae_zoo.models.VAE` (an unbuilt one is built from its config).
        base_dir: the model's base path in TF Serving (`model_config_list` base_path).
        version: a positive integer; default: one more than the largest existing.
            An existing version directory is never overwritten (`FileExistsError`).
        warmup: write TF Serving warmup requests (one per signature).
    """
    from vae_zoo.models import VAE

    if not isinstance(model, VAE):
        raise ValueError(
            f"export_saved_model needs a vae_zoo VAE model, got {type(model).__name__}; "
            "load a .keras file with keras.models.load_model first"
        )
    if not model.built:
        model.build((None, *model.data_shape))
    version = next_version(base_dir) if version is None else _check_version(version)
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"version directory {final} already exists; it is never overwritten (pass another version)")
    os.makedirs(base_dir, exist_ok=True)
    # Written next to the target and renamed in one step: TF Serving never sees a half-written version.
    staging = tempfile.mkdtemp(prefix=f".{version}.partial-", dir=base_dir)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        signatures = model.serving_signatures()
        for name, (function, specs) in signatures.items():
            archive.add_endpoint(name, _shape_checked(function, specs), input_signature=specs)
        function, specs = signatures["reconstruct"]
        archive.add_endpoint("serving_default", _shape_checked(function, specs), input_signature=specs)
        archive.write_out(staging, verbose=False)
        extra = os.path.join(staging, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, METADATA_FILE), "w") as f:
            json.dump(metadata(model), f, indent=2)
        if warmup:
            from vae_zoo.export.warmup import write_warmup_requests

            write_warmup_requests(model, os.path.join(extra, "tf_serving_warmup_requests"))
        if os.path.exists(final):
            raise FileExistsError(f"version directory {final} appeared during export; not overwritten")
        os.rename(staging, final)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)
    return final

"""SavedModel export for TF Serving, from the VAE contract alone.

`export_saved_model(model, base_dir)` writes `base_dir/<version>/`, a
SavedModel (through `keras.export.ExportArchive`) with these signatures
(`model.serving_signatures()`, `vae_zoo/models/signatures.py`); all inputs
are named, all outputs are dicts. Every input is batch-major, `[B, ...]` with
B unknown, and row i's outputs depend on row i's inputs alone, so TF
Serving's batcher can join requests along dimension 0 (`serving/README.md`):

signature: inputs -> outputs

* `encode`: data -> `mean` [B, L], `stddev` [B, L] (+ `scale_tril` [B, L, L]
  for `posterior="full"`)
* `decode`: `z` [B, L] float32 -> likelihood parameters (`logits`, `probs` /
  `loc`, `scale`) and `mean`, all [B, *input_shape]; sentences: `sentences` [B]
  (greedy)
* `reconstruct` = `serving_default`: data -> `reconstruction` [B, *input_shape]
  (likelihood mean at the posterior mean); sentences: `sentences`
* `encode_sample`: data, `seed` -> `z` [B, L], one draw of q(z|x) per row
* `decode_sample`: `z`, `seed` (sentences: + `temperature`) -> `x`
  [B, *input_shape], one draw of p(x|z) per row; sentences: `sentences`
  (0 = greedy)
* `sample`: `seed`, `temperature` -> `x` (likelihood mean) or `sentences`, and
  `z` [B, L] (one prior draw per row)
* `log_likelihood`: data, `seed` -> `log_likelihood` [B] (nats,
  `log_likelihood_samples` K fixed at export, default 100)

Every signature also outputs `error` [B] strings: "" for a valid row, else the
rule the row broke (`row_isolation.py`): an invalid row (pixels outside [0, 1],
NaN, token ids outside the vocabulary, a non-finite `z`, a negative
`temperature`) is masked (NaN / 0 / "" outputs) and never fails or changes the
other rows of its batch; a batch whose rows are all invalid fails with an
`InvalidArgumentError` naming row 0's rule.

Data is `x` float32 `[B, *input_shape]` in [0, 1] (int32 token ids for a
token model) or `sentences` string `[B]` for a sentence model; `seed` is
int64 `[B]` and `temperature` float32 `[B]`, one per row. Row seed s keys its
row with all 64 bits (`vae_zoo/utils/seeds.py`: distinct seeds never share a
key), so the same inputs give the same outputs on every load, and
`model.sample(n, seed=s, temperature=t)` equals `sample` with `seed = s +
arange(n)`, `temperature = [t] * n`. A wrong shape or dtype fails with
TensorFlow's error naming the input; inputs that disagree on B fail with an
`InvalidArgumentError` naming them.

The export also writes `assets.extra/vae_zoo.json` (model class, config,
input name, shape and dtype, likelihood, latent size,
`log_likelihood_samples`, signatures, vae_zoo version) and, unless
`warmup=False`, `assets.extra/tf_serving_warmup_requests`: every signature
at batch 1 and at the largest allowed batch size of `serving/batching.config`
(see `warmup.py`). The SavedModel needs neither vae_zoo nor TensorFlow
Probability to load.

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

from vae_zoo.export.row_isolation import ERROR_OUTPUT, isolated
from vae_zoo.utils.checks import is_integer
from vae_zoo.version import __version__

SIGNATURES = (
    "encode",
    "decode",
    "reconstruct",
    "encode_sample",
    "decode_sample",
    "sample",
    "log_likelihood",
    "serving_default",
)
METADATA_FILE = "vae_zoo.json"


def next_version(base_dir):
    """1 + the largest integer version directory under `base_dir` (1 when there is none)."""
    if not os.path.isdir(base_dir):
        return 1
    versions = [int(name) for name in os.listdir(base_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def _check_version(version):
    if not is_integer(version):
        if isinstance(version, str) and version.isdigit():
            return int(version)
        raise ValueError(
            f"version must be a positive integer (TF Serving version directory), got {version!r}"
        )
    if version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    return version


def signature_functions(model, log_likelihood_samples=None):
    """The Python function of each signature (from `model.serving_signatures()`)."""
    return {name: fn for name, (fn, _) in model.serving_signatures(log_likelihood_samples).items()}


def _shape_checked(fn, specs):
    """`fn` with every input checked against its spec: loaded signatures do not check shapes
    themselves, and TF Serving passes tensors through, so a wrong shape would otherwise fail
    deep inside the graph. The error names the input: "Shape of tensor x [2,784] is not
    compatible with expected shape [?,28,28,1]"."""

    def checked(*args):
        args = [tf.ensure_shape(a, spec.shape, name=spec.name) for a, spec in zip(args, specs)]
        if len(args) > 1:
            # Every input is batch-major: one row of each input per request row.
            names = " and ".join(spec.name for spec in specs)
            rows = tf.shape(args[0])[0]
            checks = [
                tf.debugging.assert_equal(
                    tf.shape(a)[0],
                    rows,
                    message=f"inputs {names} must have the same batch size (dimension 0)",
                )
                for a in args[1:]
            ]
            with tf.control_dependencies(checks):
                args = [tf.identity(a) for a in args]
        return _empty_batch_safe(fn, args)

    return checked


def _empty_batch_safe(fn, args):
    """`fn(*args)`, and for an empty batch (B = 0) the empty outputs of one placeholder row.

    Some kernels fail on zero rows (TF 2.21's oneDNN convolutions: "input depth must be evenly
    divisible by filter depth"), so B = 0 runs one row of zeros (empty strings) and returns [:0].
    """

    def placeholder(a):
        one = tf.concat([[1], tf.shape(a)[1:]], axis=0)
        return tf.fill(one, tf.constant("", tf.string)) if a.dtype == tf.string else tf.zeros(one, a.dtype)

    def empty():
        return tf.nest.map_structure(lambda t: t[:0], fn(*[placeholder(a) for a in args]))

    return tf.cond(tf.shape(args[0])[0] > 0, lambda: fn(*args), empty)


def metadata(model, log_likelihood_samples):
    """The `assets.extra/vae_zoo.json` record."""
    return {
        "vae_zoo_version": __version__,
        "model_class": type(model).__name__,
        "config": model.get_config(),
        **model.serving_metadata(),
        "log_likelihood_samples": log_likelihood_samples,
        "signatures": [*model.serving_signatures(log_likelihood_samples), "serving_default"],
        "seed_convention": (
            "one int64 seed per row; row seed s is the 64-bit stateless key of its row "
            "(its two 32-bit halves), "
            "folded per kind of draw with a bijective SplitMix64 mix (vae_zoo/utils/seeds.py); "
            "model.sample(n, seed=s) equals the sample signature with seed = s + arange(n)"
        ),
        "error_output": (
            f"every signature outputs {ERROR_OUTPUT!r} [B]: '' for a valid row, else the rule it broke; "
            "invalid rows are masked (NaN / 0 / '') and never affect other rows; "
            "a batch of only invalid rows fails"
        ),
    }


def export_saved_model(model, base_dir, version=None, warmup=True, log_likelihood_samples=None):
    """Exports a VAE as `base_dir/<version>/`, a TF Serving SavedModel; returns its path.

    Args:
        model: a `vae_zoo.models.VAE` (an unbuilt one is built from its config).
        base_dir: the model's base path in TF Serving (`model_config_list` base_path).
        version: a positive integer; default: one more than the largest existing.
            An existing version directory is never overwritten (`FileExistsError`).
        warmup: write TF Serving warmup requests (each signature at batch 1 and at the largest allowed batch).
        log_likelihood_samples: K, the importance samples of the `log_likelihood`
            signature (default `model.DEFAULT_LOG_LIKELIHOOD_SAMPLES`, 100); fixed in
            the graph, recorded in `assets.extra/vae_zoo.json`; K < 1 is refused.
    """
    from vae_zoo.models import VAE

    if not isinstance(model, VAE):
        raise ValueError(
            f"export_saved_model needs a vae_zoo VAE model, got {type(model).__name__}; "
            "load a .keras file with keras.models.load_model first"
        )
    if not model.built:
        model.build((None, *model.data_shape))
    if log_likelihood_samples is None:
        log_likelihood_samples = model.DEFAULT_LOG_LIKELIHOOD_SAMPLES
    if (
        isinstance(log_likelihood_samples, bool)
        or not isinstance(log_likelihood_samples, int)
        or log_likelihood_samples < 1
    ):
        raise ValueError(f"log_likelihood_samples must be an integer >= 1, got {log_likelihood_samples!r}")
    version = next_version(base_dir) if version is None else _check_version(version)
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(
            f"version directory {final} already exists; it is never overwritten (pass another version)"
        )
    os.makedirs(base_dir, exist_ok=True)
    # Written next to the target and renamed in one step: TF Serving never sees a half-written version.
    staging = tempfile.mkdtemp(prefix=f".{version}.partial-", dir=base_dir)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        signatures = model.serving_signatures(log_likelihood_samples)
        for name, (function, specs) in signatures.items():
            archive.add_endpoint(
                name, _shape_checked(isolated(model, function, specs), specs), input_signature=specs
            )
        function, specs = signatures["reconstruct"]
        archive.add_endpoint(
            "serving_default", _shape_checked(isolated(model, function, specs), specs), input_signature=specs
        )
        archive.write_out(staging, verbose=False)
        extra = os.path.join(staging, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, METADATA_FILE), "w") as f:
            json.dump(metadata(model, log_likelihood_samples), f, indent=2)
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

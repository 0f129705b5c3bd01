"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `PredictionLog` protos (tensorflow-serving-api) that TF
Serving replays when it loads a version, before the version is AVAILABLE, so
that the first real requests do not pay for graph and kernel warmup.

Every signature (`serving_default` included) gets two `PredictRequest`s: one
at batch size 1 and one at the largest allowed batch size of the server's
batching configuration (`serving/batching.config`), the two ends of the
batch sizes the batcher hands the model. Warmup requests go through TF
Serving's batcher like any other: a request with more rows than
`max_batch_size` is refused ("Task size ... is larger than maximum input
batch size") and then the version fails to load. So the large request never
exceeds the configuration's largest allowed size; export again (or export
with `warmup=False`) if you lower `max_batch_size`.

The inputs are valid values by name: `x` in [0, 1] (or token ids `[EOS]`
then `[PAD]` for token models), `sentences` strings, `z` from N(0, 1), `seed`
int64 one per row, `temperature` float32 one per row.
"""

import os

import numpy as np
import tensorflow as tf

from vae_zoo.text import EOS, PAD

#: The largest allowed batch size of `serving/batching.config` (its last
#: `allowed_batch_sizes` entry, equal to `max_batch_size`). Used when that file
#: cannot be read (an installed vae-zoo has no `serving/` directory);
#: tests/serving/test_serving_configs.py checks that the two agree.
LARGEST_ALLOWED_BATCH_SIZE = 64

#: Where `serving/batching.config` is in a checkout of the repository
#: (this file is `export/warmup.py` there).
_CHECKOUT_BATCHING_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving", "batching.config"
)

_SENTENCE = b"a short sentence"


def _config_protos():
    """`serving.config_protos`: imported, or loaded from the checkout's `serving/` directory;
    None if neither."""
    try:
        from serving import config_protos

        return config_protos
    except ImportError:
        pass
    source = os.path.join(os.path.dirname(_CHECKOUT_BATCHING_CONFIG), "config_protos.py")
    if not os.path.isfile(source):
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("_vae_zoo_serving_config_protos", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def largest_allowed_batch_size(path=None):
    """The last `allowed_batch_sizes` entry (else `max_batch_size`) of a batching config.

    `path` defaults to `serving/batching.config` of the checkout this module is
    in, parsed with `serving/config_protos.py`. Without them (an installed
    vae-zoo has no `serving/` directory): `LARGEST_ALLOWED_BATCH_SIZE`.
    """
    path = _CHECKOUT_BATCHING_CONFIG if path is None else path
    if not os.path.isfile(path):
        return LARGEST_ALLOWED_BATCH_SIZE
    config_protos = _config_protos()
    if config_protos is None:
        return LARGEST_ALLOWED_BATCH_SIZE
    params = config_protos.load_batching_parameters(path)
    if params.allowed_batch_sizes:
        return int(params.allowed_batch_sizes[-1])
    if params.HasField("max_batch_size"):
        return int(params.max_batch_size.value)
    return LARGEST_ALLOWED_BATCH_SIZE


def warmup_batch_sizes(path=None):
    """The batch sizes of the warmup requests: `(1, largest allowed)` (just `(1,)` if that is 1)."""
    largest = largest_allowed_batch_size(path)
    return (1,) if largest <= 1 else (1, largest)


def _example(spec, batch_size):
    """A valid value of `batch_size` rows for one signature input (chosen by its name)."""
    rows = [batch_size if d is None else d for d in spec.shape]
    if spec.name == "seed":
        return np.arange(batch_size, dtype=spec.dtype.as_numpy_dtype)
    if spec.name == "temperature":
        return np.ones(rows, spec.dtype.as_numpy_dtype)
    if spec.dtype == tf.string:
        return np.full(rows, _SENTENCE, dtype=object)
    rng = np.random.default_rng(batch_size)
    if spec.name == "z":
        return rng.standard_normal(rows).astype(spec.dtype.as_numpy_dtype)
    if spec.dtype.is_integer:  # token ids: an empty sentence, [EOS] then [PAD]
        tokens = np.full(rows, PAD, spec.dtype.as_numpy_dtype)
        if tokens.ndim > 1:
            tokens[:, 0] = EOS
        return tokens
    return rng.random(rows).astype(spec.dtype.as_numpy_dtype)  # x: images in [0, 1)


def example_inputs(model, batch_size=1):
    """Valid inputs of `batch_size` rows for every signature of `model.serving_signatures()`
    (plus `serving_default`): `{signature: {input name: numpy array}}`."""
    inputs = {
        name: {spec.name: _example(spec, batch_size) for spec in specs}
        for name, (_, specs) in model.serving_signatures().items()
    }
    inputs["serving_default"] = inputs["reconstruct"]
    return inputs


def prediction_logs(model, model_name="vae", batch_sizes=None):
    """`PredictionLog` protos: for each batch size (default `warmup_batch_sizes()`), one per signature."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    logs = []
    for batch_size in warmup_batch_sizes() if batch_sizes is None else batch_sizes:
        for signature, inputs in example_inputs(model, batch_size).items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            logs.append(
                prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            )
    return logs


def write_warmup_requests(model, path, model_name="vae", batch_sizes=None):
    """Writes the warmup TFRecord; returns the number of records."""
    logs = prediction_logs(model, model_name, batch_sizes)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return len(logs)

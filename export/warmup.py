"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `PredictionLog` protos (tensorflow-serving-api), one
`PredictRequest` per signature, which TF Serving replays when it loads a
version so that the first real request does not pay for graph warmup.
"""

import numpy as np
import tensorflow as tf


def _example(spec, batch_size):
    """A small valid value for one signature input."""
    if spec.name == "seed":
        return np.array([1, 2], "int32")
    if spec.name == "num_samples":
        return np.int32(2)
    if spec.name == "temperature":
        return np.float32(1.0)
    shape = [batch_size if d is None else d for d in spec.shape]
    if spec.dtype == tf.string:
        return np.full(shape, b"a short sentence", dtype=object)
    return np.full(shape, 0.5 if spec.name == "x" else 0.0, spec.dtype.as_numpy_dtype)


def example_inputs(model, batch_size=1):
    """Small valid inputs for every signature of `model.serving_signatures()` (plus `serving_default`)."""
    inputs = {
        name: {spec.name: _example(spec, batch_size) for spec in specs}
        for name, (_, specs) in model.serving_signatures().items()
    }
    inputs["serving_default"] = inputs["reconstruct"]
    return inputs


def prediction_logs(model, model_name="vae"):
    """`PredictionLog` protos, one per signature."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    logs = []
    for signature, inputs in example_inputs(model).items():
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
        )
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(model, path, model_name="vae"):
    """Writes the warmup TFRecord; returns the number of records."""
    logs = prediction_logs(model, model_name)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return len(logs)

"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `PredictionLog` protos (tensorflow-serving-api), one
`PredictRequest` per signature, which TF Serving replays when it loads a
version so that the first real request does not pay for graph warmup.
"""

import numpy as np
import tensorflow as tf


def example_inputs(model, batch_size=1):
    """Small valid inputs for every signature (mid-grey images, zero latents, fixed seeds)."""
    x = np.full((batch_size, *model.data_shape), 0.5, "float32")
    seed = np.array([1, 2], "int32")
    return {
        "encode": {"x": x, "seed": seed},
        "decode": {"z": np.zeros((batch_size, model.latent_dim), "float32")},
        "sample": {"num_samples": np.int32(batch_size), "seed": seed, "temperature": np.float32(1.0)},
        "reconstruct": {"x": x, "seed": seed},
        "log_likelihood": {"x": x, "num_samples": np.int32(4), "seed": seed},
        "serving_default": {"x": x, "seed": seed},
    }


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

"""Latency and throughput of each exported signature, SavedModel vs the eager Keras model.

For every signature: p50 / p99 latency of one call at batch 1, and throughput
(examples per second) at batch 256, both for the loaded SavedModel
(`tf.saved_model.load(...).signatures[name]`, what TF Serving runs) and for
the same computation called eagerly on the Keras model.
`log_likelihood` uses 100 importance samples; `sample` draws `batch` samples.

    python benchmarks/export_latency.py                 # DenseVAE(latent 32), 784-512-256
    python benchmarks/export_latency.py --model conv    # ConvVAE(latent 32)
    python benchmarks/export_latency.py --model runs/dense_fmnist_10ep   # a trained run
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vae_zoo  # noqa: E402
from vae_zoo.export import saved_model as sm  # noqa: E402
from vae_zoo.presets import load_model  # noqa: E402

LL_SAMPLES = 100


def inputs_for(model, name, batch, rng):
    x = rng.random((batch, *model.data_shape), dtype="float32")
    seed = np.array([3, 4], "int32")
    return {
        "encode": {"x": x, "seed": seed},
        "decode": {"z": rng.normal(size=(batch, model.latent_dim)).astype("float32")},
        "sample": {"num_samples": np.int32(batch), "seed": seed, "temperature": np.float32(1.0)},
        "reconstruct": {"x": x, "seed": seed},
        "log_likelihood": {"x": x, "num_samples": np.int32(LL_SAMPLES), "seed": seed},
    }[name]


def timings(fn, args, repeats, warmup=3):
    args = {k: tf.constant(v) for k, v in args.items()}
    for _ in range(warmup):
        tf.nest.map_structure(lambda t: t.numpy(), fn(**args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), fn(**args))
        times.append(time.perf_counter() - start)
    return np.array(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="dense", help="dense | conv | a .keras file or run directory")
    parser.add_argument("--repeats", type=int, default=200, help="calls per latency measurement")
    parser.add_argument("--throughput-repeats", type=int, default=20)
    args = parser.parse_args()
    tf.keras.utils.set_random_seed(0)
    if args.model == "dense":
        model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=32, seed=0)
    elif args.model == "conv":
        model = vae_zoo.models.ConvVAE((28, 28, 1), latent_dim=32, seed=0)
    else:
        model = load_model(args.model)
    path = vae_zoo.export_saved_model(model, tempfile.mkdtemp(), warmup=False)
    loaded = tf.saved_model.load(path)
    eager = sm.signature_functions(model)
    rng = np.random.default_rng(0)
    print(f"{type(model).__name__} latent_dim={model.latent_dim}, {model.count_params():,} parameters; "
          f"TF {tf.__version__}, {os.cpu_count()} CPU cores; log_likelihood with {LL_SAMPLES} samples\n")
    header = "| signature | runner | p50 batch 1 (ms) | p99 batch 1 (ms) | throughput batch 256 (examples/s) |"
    print(header)
    print("|" + "---|" * 5)
    for name in ("encode", "decode", "sample", "reconstruct", "log_likelihood"):
        for runner, fn in (("SavedModel", loaded.signatures[name]), ("eager Keras", eager[name])):
            latency = timings(fn, inputs_for(model, name, 1, rng), args.repeats) * 1e3
            bulk = timings(fn, inputs_for(model, name, 256, rng), args.throughput_repeats)
            print(
                f"| {name} | {runner} | {np.percentile(latency, 50):.2f} | {np.percentile(latency, 99):.2f} "
                f"| {256 / np.median(bulk):,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Latency and throughput of each exported signature: SavedModel vs eager Keras, and what batching gains.

Two tables, both on the loaded SavedModel (`tf.saved_model.load(...).signatures[name]`,
the graphs TF Serving runs), in this process:

1. Latency (`--model`, default DenseVAE(latent 32)): p50 / p99 latency of one
   call at batch 1, and throughput (rows per second) at batch 256, for the
   SavedModel and for the same computation called eagerly on the Keras model.
2. Batching (`--batching-models`, default dense and conv): for each signature,
   N single-row requests (N = 1, 8, 64, 256) served one by one (N calls of
   one row, what TF Serving does without batching) against the same N rows
   concatenated into one call (what its batcher does), in rows per second;
   and the time of one call of B rows. These numbers choose
   `serving/batching.config`. The two sides alternate, `--batching-repeats`
   (5) timings each, and each is their median (the same N on both sides).

Every table is headed by the CPU's model and flags (`benchmarks/machine.py`).

Inputs follow the signature contract: `x` in [0, 1], `z` ~ N(0, 1), `seed`
int64 one per row, `temperature` float32 one per row (1.0). `log_likelihood`
uses the K importance samples fixed at export (100 by default).

    python benchmarks/export_latency.py                        # both tables (~3 min on 2 cores)
    python benchmarks/export_latency.py --skip-latency         # the batching tables only
    python benchmarks/export_latency.py --skip-batching --model conv
    python benchmarks/export_latency.py --model runs/dense_fmnist_10ep   # a trained run (latency table)
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

SIGNATURES = ("encode", "decode", "reconstruct", "encode_sample", "decode_sample", "sample", "log_likelihood")
BATCH_COUNTS = (1, 8, 64, 256)


def build(name):
    tf.keras.utils.set_random_seed(0)
    if name == "dense":
        return vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=32, seed=0)
    if name == "conv":
        return vae_zoo.models.ConvVAE((28, 28, 1), latent_dim=32, seed=0)
    return load_model(name)


def input_specs(signature):
    """`{name: tf.TensorSpec}` of a loaded (concrete) signature."""
    return signature.structured_input_signature[1]


def make_inputs(specs, rows, rng):
    """Valid inputs of `rows` rows for a signature, by input name (numpy arrays)."""
    out = {}
    for name, spec in specs.items():
        shape = [rows if d is None else d for d in spec.shape]
        if name == "seed":
            out[name] = np.arange(1000, 1000 + rows, dtype=spec.dtype.as_numpy_dtype)
        elif name == "temperature":
            out[name] = np.ones(shape, spec.dtype.as_numpy_dtype)
        elif spec.dtype == tf.string:
            out[name] = np.array([b"the cat sat on the mat"] * rows, dtype=object)
        elif name == "z":
            out[name] = rng.standard_normal(shape).astype(spec.dtype.as_numpy_dtype)
        else:
            out[name] = rng.random(shape).astype(spec.dtype.as_numpy_dtype)
    return out


def run(fn, args):
    """One call with its outputs copied to numpy (what a server does before answering)."""
    return {k: v.numpy() for k, v in fn(**args).items()}


def positional(fn, specs):
    """`fn(*args)` (a `serving_signatures()` function) called with inputs by name, in the order of `specs`."""
    return lambda **args: fn(*(args[spec.name] for spec in specs))


def timings(fn, args, repeats, warmup=3):
    args = {k: tf.constant(v) for k, v in args.items()}
    for _ in range(warmup):
        run(fn, args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(fn, args)
        times.append(time.perf_counter() - start)
    return np.array(times)


def _alternated_medians(works, repeats):
    """Median seconds of each of `works`, timed `repeats` times each, alternating between them (so
    every side is a median of the same N runs made under the same machine conditions)."""
    times = [[] for _ in works]
    for _ in range(repeats):
        for work, seconds in zip(works, times):
            t0 = time.perf_counter()
            work()
            seconds.append(time.perf_counter() - t0)
    return [float(np.median(seconds)) for seconds in times]


def batching_rows(fn, specs, counts, rng, repeats=5):
    """`{N: (rows/s one by one, rows/s in one call, seconds of that one call)}` for each N in `counts`."""
    results = {}
    for n in counts:
        batch = make_inputs(specs, n, rng)
        rows = [{k: tf.constant(v[i : i + 1]) for k, v in batch.items()} for i in range(n)]
        whole = {k: tf.constant(v) for k, v in batch.items()}
        run(fn, rows[0])  # warm both shapes (kernel caches) before timing
        run(fn, whole)

        def one_by_one(rows=rows):
            for row in rows:
                run(fn, row)

        def together_call(whole=whole):
            run(fn, whole)

        separate, together = _alternated_medians((one_by_one, together_call), repeats)
        results[n] = (n / separate, n / together, together)
    return results


def latency_table(model, loaded, args, rng):
    from machine import describe

    eager = {
        name: positional(fn, specs) for name, (fn, specs) in model.serving_signatures(args.samples).items()
    }
    print(
        f"{type(model).__name__} latent_dim={model.latent_dim}, {model.count_params():,} parameters; "
        f"TF {tf.__version__}, {os.cpu_count()} CPU cores; log_likelihood with {args.samples} samples"
    )
    print(f"{describe()}; latency: {args.repeats} calls, throughput: median of {args.throughput_repeats}\n")
    print("| signature | runner | p50 batch 1 (ms) | p99 batch 1 (ms) | throughput batch 256 (rows/s) |")
    print("|" + "---|" * 5)
    for name in SIGNATURES:
        specs = input_specs(loaded.signatures[name])
        for runner, fn in (("SavedModel", loaded.signatures[name]), ("eager Keras", eager[name])):
            latency = timings(fn, make_inputs(specs, 1, rng), args.repeats) * 1e3
            bulk = timings(fn, make_inputs(specs, 256, rng), args.throughput_repeats, warmup=1)
            print(
                f"| {name} | {runner} | {np.percentile(latency, 50):.2f} | {np.percentile(latency, 99):.2f} "
                f"| {256 / np.median(bulk):,.0f} |",
                flush=True,
            )
    print()


def batching_table(model, loaded, args, rng):
    from machine import describe

    counts = BATCH_COUNTS
    print(
        f"{type(model).__name__} latent_dim={model.latent_dim}, {model.count_params():,} parameters; "
        f"SavedModel signatures; log_likelihood with {args.samples} samples"
    )
    print(f"{describe()}; each side the median of {args.batching_repeats} alternating timings\n")
    print(
        "N single-row requests, rows/s: one by one (N calls) / concatenated (one call of N rows), "
        "and the speed-up\n"
    )
    print("| signature | N = 1 | " + " | ".join(f"N = {n}" for n in counts[1:]) + " |")
    print("|" + "---|" * len(counts) + "---|")
    per_call = {}
    for name in SIGNATURES:
        fn = loaded.signatures[name]
        results = batching_rows(fn, input_specs(fn), counts, rng, args.batching_repeats)
        per_call[name] = {n: results[n][2] for n in counts}
        cells = [f"{results[1][0]:,.0f}"]
        for n in counts[1:]:
            separate, together, _ = results[n]
            cells.append(f"{separate:,.0f} / {together:,.0f} ({together / separate:.1f}x)")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print("\nTime of one call of B rows (ms)\n")
    print("| signature | " + " | ".join(f"B = {n}" for n in counts) + " |")
    print("|" + "---|" * (len(counts) + 1))
    for name in SIGNATURES:
        print(f"| {name} | " + " | ".join(f"{per_call[name][n] * 1e3:.2f}" for n in counts) + " |")
    print(flush=True)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="dense", help="latency table: dense | conv | a .keras file or run directory"
    )
    parser.add_argument(
        "--batching-models",
        default="dense,conv",
        help="batching tables: comma-separated dense / conv / paths",
    )
    parser.add_argument(
        "--samples", type=int, default=100, help="log_likelihood importance samples (fixed at export)"
    )
    parser.add_argument("--repeats", type=int, default=100, help="calls per latency measurement")
    parser.add_argument("--throughput-repeats", type=int, default=5)
    parser.add_argument(
        "--batching-repeats",
        type=int,
        default=5,
        help="batching tables: alternating timings of each side (one by one, one call); their medians",
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-batching", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    exported = {}

    def export(name):
        if name not in exported:
            model = build(name)
            path = sm.export_saved_model(
                model, tempfile.mkdtemp(), warmup=False, log_likelihood_samples=args.samples
            )
            exported[name] = (model, tf.saved_model.load(path))
        return exported[name]

    start = time.perf_counter()
    if not args.skip_latency:
        latency_table(*export(args.model), args, rng)
    if not args.skip_batching:
        for name in filter(None, args.batching_models.split(",")):
            batching_table(*export(name), args, rng)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

"""Speed of the importance-weighted log-likelihood estimate against this machine's matmul rate.

Measures, in one run:

1. the float32 matmul rate of this machine (`tf.matmul`, 2048x2048 and a
   decoder-shaped [21504, 512] x [512, 784] product);
2. the time of the 5000-sample importance-weighted estimate of log p(x) over
   the 10,000 Fashion-MNIST test images for `DenseVAE(latent_dim=32)`
   (784-512-256-32), through `vae_zoo.evaluation.log_likelihood`;
3. the FLOP/s that estimate achieves, counting the decoder's matmuls
   (2 * (32*256 + 256*512 + 512*784) FLOPs per sample per image; the
   encoder runs once per image and is not counted), as a fraction of (1).

(1) and (2) alternate `--repeats` times (3) and each is the best of its N timings, so the
fraction compares a best of N with a best of the same N. The output starts with the CPU's
model and flags (`benchmarks/machine.py`).

    python benchmarks/eval_throughput.py                       # the full figure (10k x 5000)
    python benchmarks/eval_throughput.py --examples 500        # a quicker run
    python benchmarks/eval_throughput.py --model runs/dense_fmnist_10ep
    python benchmarks/eval_throughput.py --jit-compile   # XLA: measured slower here (benchmarks/README.md)
    python benchmarks/eval_throughput.py --model runs/conv_fashion_mnist --examples 200 \
        --max-elements 16777216

It also prints the process's peak resident memory; `--max-elements` overrides the
model family's `IW_MAX_ELEMENTS` (decoder outputs per chunk of the estimate).
"""

import argparse
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vae_zoo  # noqa: E402
from vae_zoo import datasets, evaluation  # noqa: E402
from vae_zoo.presets import load_model  # noqa: E402


def matmul_product(m, k, n):
    """`(traced product, FLOPs)`: the product of a random [m, k] and [k, n], warmed up once."""
    a = tf.random.normal([m, k])
    b = tf.random.normal([k, n])
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    product().numpy()
    return product, 2.0 * m * k * n


def seconds_of(work):
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def decoder_flops_per_sample(model):
    widths = [
        model.latent_dim,
        *reversed(model.hidden_units),
        int(np.prod(model.data_shape)) * model.likelihood.num_params,
    ]
    return 2.0 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=None, help="a trained DenseVAE (.keras or run dir); default: a fresh one"
    )
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating timings of the matmuls and the estimate"
    )
    parser.add_argument(
        "--max-elements", type=int, default=None, help="decoder outputs per chunk (default: the family's)"
    )
    args = parser.parse_args()
    from machine import describe

    model = (
        load_model(args.model) if args.model else vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=32, seed=0)
    )
    if args.max_elements is not None:
        model.IW_MAX_ELEMENTS = args.max_elements
    x, _ = datasets.load_arrays("fashion_mnist", split="test", binarize="static", seed=0, verbose=False)
    x = x[: args.examples].reshape(-1, 28, 28, 1)
    products = {"2048^3": matmul_product(2048, 2048, 2048)}
    products["[21504,512]x[512,784]"] = matmul_product(21504, 512, 784)
    evaluation.log_likelihood(
        model,
        x[: args.batch_size],
        num_samples=args.num_samples,
        progress=False,
        jit_compile=args.jit_compile,
    )
    rates = {name: 0.0 for name in products}
    seconds = np.inf
    for _ in range(args.repeats):  # alternating: each side is the best of the same N timings
        for name, (product, flops) in products.items():
            rates[name] = max(rates[name], flops / seconds_of(lambda product=product: product().numpy())[0])
        took, ll = seconds_of(
            lambda: evaluation.log_likelihood(
                model,
                x,
                num_samples=args.num_samples,
                batch_size=args.batch_size,
                jit_compile=args.jit_compile,
            )
        )
        seconds = min(seconds, took)
    peak = max(rates.values())
    print(f"\n{describe()}; best of {args.repeats} alternating timings of each")
    print("float32 matmul rate: " + ", ".join(f"{k}: {v / 1e9:.1f} GFLOP/s" for k, v in rates.items()))
    print(
        f"{len(x)} images x {args.num_samples} samples "
        f"(batch {args.batch_size}, XLA {'on' if args.jit_compile else 'off'}): "
        f"{seconds:.1f} s, mean log p(x) {ll.mean():.2f} nats"
    )
    print(
        f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB, "
        f"{seconds / len(x):.3f} s per image, chunks of {model.IW_MAX_ELEMENTS} decoder outputs"
    )
    if not isinstance(model, vae_zoo.models.DenseVAE):
        return  # the FLOP count below is the dense decoder's
    flops = decoder_flops_per_sample(model) * args.num_samples * len(x)
    print(
        f"decoder FLOPs {flops / 1e12:.2f} T, achieved {flops / seconds / 1e9:.1f} GFLOP/s "
        f"= {flops / seconds / peak:.0%} of the matmul rate"
    )


if __name__ == "__main__":
    main()

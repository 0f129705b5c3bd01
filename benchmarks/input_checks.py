"""Cost of the training step's input checks (NaN/Inf and the likelihood's range), per step.

`fit` checks each execution's batches outside XLA (`vae_zoo.models.fused_steps`): at the
defaults, 32 batches of 128 Fashion-MNIST images at once. This times that check
(`prepare_inputs` in a graph) on such a stack against one pass that only reduces it
(min, max and sum), both in milliseconds per training step.

    python benchmarks/input_checks.py [--batch 128] [--steps 32] [--repeats 50]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=32, help="batches per execution (steps_per_execution)")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from vae_zoo.models import DenseVAE

    from machine import describe

    print(f"{describe()}; each the mean of {args.repeats} calls", flush=True)
    model = DenseVAE((28, 28, 1), latent_dim=32, seed=0)
    stacked = tf.constant(
        np.random.default_rng(0).random((args.steps * args.batch, 28, 28, 1), dtype="float32")
    )
    check = tf.function(model.prepare_inputs)
    reduce = tf.function(lambda x: (tf.reduce_min(x), tf.reduce_max(x), tf.reduce_sum(x)))
    for name, function in (("prepare_inputs check", check), ("min + max + sum only", reduce)):
        function(stacked)
        start = time.perf_counter()
        for _ in range(args.repeats):
            outputs = function(stacked)
        [t.numpy() for t in tf.nest.flatten(outputs)]
        per_step = (time.perf_counter() - start) / args.repeats / args.steps
        print(
            f"{name}: {per_step * 1e3:.3f} ms per step ({args.steps} x {args.batch} images per call)",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""The floor of a VAE training step: its matrix products alone plus its optimizer update alone.

For DenseVAE(latent_dim=32) (784-512-256-32, encoder head 256 -> 64, decoder
32-256-512-784) the step's products are the 6 forward ones and the 12 backward
ones (for each layer: the gradient of its input, dX = dY W^T, and of its
kernel, dW = X^T dY), at the batch size and dtype asked for. They run alone in
one XLA-compiled loop of `--steps` iterations (each iteration's inputs depend on
the loop counter, so nothing is hoisted out of the loop). The Adam update of
the model's 1.09M parameters runs alone in another compiled loop. The floor is
the sum: no real step can be faster, because it does both and more.

The same run then measures the bare step (the model's own objective, gradient
and Adam, in one compiled loop over pre-loaded batches, no Keras loop and no
tf.data) and `model.fit` at the model's defaults, alternating the sides, and
reports each as examples/s and as a fraction of the floor measured in the same
run (the machine's speed varies between runs, so only same-run ratios mean
anything).

    python benchmarks/step_floor.py                       # batch 128, float32
    python benchmarks/step_floor.py --batch 1024 --dtype bfloat16
    python benchmarks/step_floor.py --model conv          # ConvVAE(latent_dim=32): its convolutions' floor
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

DENSE_LAYERS = [(784, 512), (512, 256), (256, 64), (32, 256), (256, 512), (512, 784)]


def _timed(fn, *args, repeats=5):
    fn(*args)  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), result)
        best = min(best, time.perf_counter() - start)
    return best


def dense_matmul_seconds(batch, dtype, steps):
    """Seconds per step of the 6 forward and 12 backward products of DenseVAE(32)."""
    rng = np.random.default_rng(0)
    kernels = [tf.constant(rng.normal(0, 0.05, shape), dtype) for shape in DENSE_LAYERS]
    inputs = [tf.constant(rng.random((batch, n)), dtype) for n, _ in DENSE_LAYERS]
    grads = [tf.constant(rng.normal(0, 1e-3, (batch, m)), dtype) for _, m in DENSE_LAYERS]

    @tf.function(jit_compile=True)
    def loop():
        def body(i, total):
            shift = tf.cast(i, dtype) * tf.constant(1e-6, dtype)
            for w, x, dy in zip(kernels, inputs, grads):
                y = tf.matmul(x + shift, w)  # forward
                dx = tf.matmul(dy + shift, w, transpose_b=True)  # backward: input gradient
                dw = tf.matmul(x + shift, dy, transpose_a=True)  # backward: kernel gradient
                total += tf.cast(y[0, 0] + dx[0, 0] + dw[0, 0], tf.float32)
            return i + 1, total

        return tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), tf.constant(0.0)))[1]

    return _timed(loop) / steps


def optimizer_seconds(model, steps):
    """Seconds per Adam update of `model`'s trainable variables (constant gradients)."""
    import keras

    optimizer = keras.optimizers.Adam(1e-3)
    variables = model.trainable_variables
    optimizer.build(variables)
    gradients = [tf.ones_like(v) * 1e-3 for v in variables]

    @tf.function(jit_compile=True)
    def loop():
        for _ in tf.range(steps):
            optimizer.apply(gradients, variables)
        return optimizer.iterations

    return _timed(loop) / steps


def bare_step_seconds(model, batches, jit):
    """Seconds per step of the model's own train step on pre-loaded batches, one compiled loop."""
    steps = int(batches.shape[0])

    def step(batch):
        seed = model._step_seed(model.optimizer.iterations)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model._objective(batch, seed, training=True)["loss"])
        model.optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    @tf.function(jit_compile=jit)
    def loop(xs):
        total = 0.0
        for i in tf.range(steps):
            total += step(xs[i])
        return total

    return _timed(loop, batches) / steps


def fit_seconds(make_model, data, steps):
    """Seconds per step of `model.compile(); model.fit(...)` at the model's own defaults."""
    model = make_model()
    model.compile()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)  # tracing and warm-up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        best = min(best, time.perf_counter() - start)
    return best / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of floor / bare step / fit")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import keras

    import vae_zoo
    from vae_zoo import datasets

    dtype = tf.bfloat16 if args.dtype == "bfloat16" else tf.float32
    if args.dtype == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    def make_model():
        return vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=32, seed=0)

    x, _ = datasets.load_arrays("fashion_mnist", split="train", binarize="static", seed=0)
    steps = args.steps
    batches = tf.constant(x[: steps * args.batch].reshape(steps, args.batch, 28, 28, 1).astype("float32"))
    data = datasets.load("fashion_mnist", binarize="dynamic", batch_size=args.batch, drop_remainder=True, verbose=False).repeat()
    rows = []
    for _ in range(args.rounds):
        bare_model = make_model()
        bare_model.compile(optimizer=keras.optimizers.Adam(1e-3))
        bare_model.optimizer.build(bare_model.trainable_variables)
        row = {
            "matmul": dense_matmul_seconds(args.batch, dtype, steps),
            "adam": optimizer_seconds(make_model(), steps),
            "bare_xla": bare_step_seconds(bare_model, batches, jit=True),
            "fit": fit_seconds(make_model, data, steps),
        }
        row["floor"] = row["matmul"] + row["adam"]
        rows.append(row)
        print(json.dumps({k: round(v * 1e3, 3) for k, v in row.items()}), flush=True)
    best = {k: min(r[k] for r in rows) for k in rows[0]}
    fractions = sorted(r["floor"] / r["fit"] for r in rows)
    if args.json:
        print(json.dumps({"best_ms": {k: v * 1e3 for k, v in best.items()}, "fit_fraction_median": fractions[len(fractions) // 2]}))
        return
    per_second = lambda seconds: args.batch / seconds  # noqa: E731
    print(f"\nDenseVAE(latent_dim=32), batch {args.batch}, {args.dtype}; best of {args.rounds} alternating rounds")
    print("| part | ms/step | examples/s | fraction of the floor |\n|---|---|---|---|")
    for name, label in (("matmul", "matrix products alone"), ("adam", "Adam update alone"), ("floor", "floor (sum)"),
                        ("bare_xla", "bare step, XLA, pre-loaded batches"), ("fit", "model.fit, defaults")):  # fmt: skip
        print(f"| {label} | {best[name] * 1e3:.2f} | {per_second(best[name]):,.0f} | {best['floor'] / best[name]:.2f} |")
    print(f"\nfit / floor per round (same-run ratios): {', '.join(f'{f:.2f}' for f in fractions)}")


if __name__ == "__main__":
    main()

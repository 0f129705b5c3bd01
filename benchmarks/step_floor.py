"""The floor of a VAE training step: its matrix products alone plus its optimizer update alone.

For DenseVAE(latent_dim=32) (784-512-256-32, encoder head 256 -> 64, decoder
32-256-512-784) the step's products are the 6 forward ones and the 11 backward
ones (for each layer the gradient of its kernel, dW = X^T dY, and for every
layer but the first the gradient of its input, dX = dY W^T: no training step
computes the data's gradient, and the compiled step has 17 dots), at the batch
size and dtype asked for. They run alone in
one XLA-compiled loop of `--steps` iterations (each iteration's inputs depend on
the loop counter, so nothing is hoisted out of the loop). The Adam update of
the model's 1.09M parameters runs alone in another compiled loop. The floor is
the sum: no real step can be faster, because it does both and more.

For ConvVAE(latent_dim=32) (`--model conv`) the products are read off the model
(`conv_matmul_seconds`): each Dense, Conv2D and Conv2DTranspose layer's forward
product, kernel gradient and input gradient (not the data's gradient), run in
one loop on TensorFlow's oneDNN kernels, not XLA, whose convolution gradients
are far slower on this CPU (`benchmarks/profile_step.py`).

The same run then measures the bare step (the model's own objective, gradient
and Adam, in one loop over pre-loaded batches, XLA-compiled as `fit` would
compile it: DenseVAE yes, ConvVAE no; no Keras loop and no
tf.data) and `model.fit` at the model's defaults, alternating the sides, and
reports each as examples/s and as a fraction of the floor measured in the same
run (the machine's speed varies between runs, so only same-run ratios mean
anything). Every part is the best of the same number of timed runs per round
(`--repeats`, 3), so a ratio never sets a best of 5 against a best of 3; the
output records the CPU (`benchmarks/machine.py`).

    python benchmarks/step_floor.py                       # batch 128, float32
    python benchmarks/step_floor.py --batch 1024 --dtype bfloat16
    python benchmarks/step_floor.py --model conv          # ConvVAE(latent_dim=32): its convolutions' floor
    python benchmarks/step_floor.py --model conv --clock cpu   # CPU-seconds instead of wall time
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

DENSE_LAYERS = [(784, 512), (512, 256), (256, 64), (32, 256), (256, 512), (512, 784)]


#: What the parts are timed by: wall time, or with `--clock cpu` the CPU time of this process (all
#: its threads), which other jobs on a shared machine change less.
CLOCK = time.perf_counter

#: Timed runs per part, the same for every part (the floor's products and Adam, the bare step and
#: `fit`), so that a ratio of two parts compares a best of N with a best of the same N (`--repeats`).
REPEATS = 3


def _timed(fn, *args, repeats=None):
    fn(*args)  # compile
    best = float("inf")
    for _ in range(REPEATS if repeats is None else repeats):
        start = CLOCK()
        result = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), result)
        best = min(best, CLOCK() - start)
    return best


def dense_matmul_seconds(batch, dtype, steps, repeats=None):
    """Seconds per step of the 6 forward and 11 backward products of DenseVAE(32) (not the data's
    gradient); the best of `repeats` timed loops (default `REPEATS`)."""
    rng = np.random.default_rng(0)
    kernels = [tf.constant(rng.normal(0, 0.05, shape), dtype) for shape in DENSE_LAYERS]
    inputs = [tf.constant(rng.random((batch, n)), dtype) for n, _ in DENSE_LAYERS]
    grads = [tf.constant(rng.normal(0, 1e-3, (batch, m)), dtype) for _, m in DENSE_LAYERS]

    @tf.function(jit_compile=True)
    def loop():
        def body(i, total):
            shift = tf.cast(i, dtype) * tf.constant(1e-6, dtype)
            for layer, (w, x, dy) in enumerate(zip(kernels, inputs, grads)):
                y = tf.matmul(x + shift, w)  # forward
                dw = tf.matmul(x + shift, dy, transpose_a=True)  # backward: kernel gradient
                total += tf.cast(y[0, 0] + dw[0, 0], tf.float32)
                if layer:  # backward: input gradient (the first layer's input is the data)
                    total += tf.cast(tf.matmul(dy + shift, w, transpose_b=True)[0, 0], tf.float32)
            return i + 1, total

        return tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), tf.constant(0.0)))[1]

    return _timed(loop, repeats=repeats) / steps


def conv_matmul_seconds(model, batch, dtype, steps):
    """Seconds per step of the products of a ConvVAE step (forward, input and kernel gradients), on
    TensorFlow's oneDNN kernels (XLA's convolution gradients are far slower on this CPU:
    profile_step.py).

    Every Dense, Conv2D and Conv2DTranspose layer contributes its forward product, its kernel
    gradient and its input gradient, except the input gradient of the encoder's first layer (the
    data's gradient, which no training step computes). The few-channel head that ConvVAE computes
    as a per-pixel product and a shift-and-sum (`vae_zoo.models.conv.shift_sum_conv2d`) contributes
    that product's three matrix products. The inputs of iteration i are rows
    `i % 2 ...` of arrays one row larger than the batch (a zero-copy slice), so the loop cannot be
    hoisted or constant-folded and adds no elementwise pass.
    """
    import keras

    rng = np.random.default_rng(0)
    shapes, trace = [], []

    def record(layer, fn):
        def call(x, *args, **kwargs):
            y = fn(x, *args, **kwargs)
            trace.append((layer, tuple(x.shape[1:]), tuple(y.shape[1:])))
            return y

        return call

    wanted = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)
    originals = {}
    for network in (model.encoder_network, model.posterior, model.decoder_network):
        for layer in network._flatten_layers(include_self=False):
            if isinstance(layer, wanted) and id(layer) not in originals:
                originals[id(layer)] = (layer, layer.call)
                layer.call = record(layer, layer.call)
    try:
        model._likelihood_params(model._posterior_params(tf.zeros((1, *model.data_shape)))["loc"])
    finally:
        for layer, call in originals.values():
            layer.call = call
    first = True
    for layer, x_shape, y_shape in trace:
        kernel = tf.constant(rng.normal(0, 0.05, layer.kernel.shape), dtype)
        x = tf.constant(rng.random((batch + 1, *x_shape)), dtype)
        if getattr(layer, "_shift_sum", lambda: False)():
            y_shape = (*y_shape[:-1], layer.kernel_size[0] ** 2 * layer.filters)
        dy = tf.constant(rng.normal(0, 1e-3, (batch + 1, *y_shape)), dtype)
        shapes.append((layer, kernel, x, dy, not first))
        first = False

    def products(layer, w, x, dy, needs_dx):
        if isinstance(layer, keras.layers.Dense):
            flat = lambda t: tf.reshape(t, [batch, -1])  # noqa: E731
            out = [tf.matmul(flat(x), w), tf.matmul(flat(x), flat(dy), transpose_a=True)]
            return out + ([tf.matmul(flat(dy), w, transpose_b=True)] if needs_dx else [])
        if getattr(layer, "_shift_sum", lambda: False)():  # ConvVAE's few-channel head: its per-pixel product
            k, c = layer.kernel_size[0], x.shape[-1]
            taps = tf.reshape(w, [c, k * k * layer.filters])
            pixels = tf.reshape(x, [-1, c])
            dz = tf.reshape(dy, [-1, k * k * layer.filters])  # the gradient of the k*k*m products
            out = [tf.matmul(pixels, taps), tf.matmul(pixels, dz, transpose_a=True)]
            return out + ([tf.matmul(dz, taps, transpose_b=True)] if needs_dx else [])
        strides, padding = layer.strides, layer.padding.upper()
        x_shape, y_shape = [batch, *x.shape[1:]], [batch, *dy.shape[1:]]
        if isinstance(
            layer, keras.layers.Conv2DTranspose
        ):  # kernel (k, k, out, in): the roles of x and dy swap
            out = [
                tf.nn.conv2d_transpose(x, w, y_shape, strides, padding),
                tf.compat.v1.nn.conv2d_backprop_filter(dy, w.shape, x, [1, *strides, 1], padding),
            ]
            return out + ([tf.nn.conv2d(dy, w, strides, padding)] if needs_dx else [])
        out = [
            tf.nn.conv2d(x, w, strides, padding),
            tf.compat.v1.nn.conv2d_backprop_filter(x, w.shape, dy, [1, *strides, 1], padding),
        ]
        return out + ([tf.nn.conv2d_transpose(dy, w, x_shape, strides, padding)] if needs_dx else [])

    @tf.function(jit_compile=False)
    def loop(tensors):
        def body(i, total):
            j = i % 2
            for (layer, _, _, _, needs_dx), (w, x, dy) in zip(shapes, tensors):
                for result in products(layer, w, x[j : j + batch], dy[j : j + batch], needs_dx):
                    total += tf.cast(tf.reshape(result, [-1])[0], tf.float32)
            return i + 1, total

        return tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), tf.constant(0.0)))[1]

    return _timed(loop, [(w, x, dy) for _, w, x, dy, _ in shapes]) / steps


def optimizer_seconds(model, steps, repeats=None):
    """Seconds per Adam update of `model`'s trainable variables (constant gradients); the best of
    `repeats` timed loops (default `REPEATS`)."""
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

    return _timed(loop, repeats=repeats) / steps


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
    for _ in range(REPEATS):  # the same N as the floor's parts
        start = CLOCK()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        best = min(best, CLOCK() - start)
    return best / steps


def main():
    global CLOCK, REPEATS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="dense", choices=("dense", "conv"))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of floor / bare step / fit")
    parser.add_argument(
        "--clock",
        default="wall",
        choices=("wall", "cpu"),
        help="time the parts by wall time or by this process's CPU time",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=REPEATS,
        help="timed runs per part and round, the same for every part (each part: the best of them)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    REPEATS = args.repeats
    from machine import describe, machine

    host = machine()

    import keras

    import vae_zoo
    from vae_zoo import datasets

    dtype = tf.bfloat16 if args.dtype == "bfloat16" else tf.float32
    if args.dtype == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    family = vae_zoo.models.DenseVAE if args.model == "dense" else vae_zoo.models.ConvVAE

    def make_model():
        return family((28, 28, 1), latent_dim=32, seed=0)

    def products_seconds():
        if args.model == "dense":
            return dense_matmul_seconds(args.batch, dtype, steps)
        return conv_matmul_seconds(make_model(), args.batch, dtype, steps)

    bare_jit = bool(family.AUTO_JIT_COMPILE)  # the bare step as `fit` runs it by default

    x, _ = datasets.load_arrays("fashion_mnist", split="train", binarize="static", seed=0)
    steps = args.steps
    batches = tf.constant(x[: steps * args.batch].reshape(steps, args.batch, 28, 28, 1).astype("float32"))
    data = datasets.load(
        "fashion_mnist", binarize="dynamic", batch_size=args.batch, drop_remainder=True, verbose=False
    ).repeat()
    rows = []
    for _ in range(args.rounds):
        bare_model = make_model()
        bare_model.compile(optimizer=keras.optimizers.Adam(1e-3))
        bare_model.optimizer.build(bare_model.trainable_variables)
        row = {
            "matmul": products_seconds(),
            "adam": optimizer_seconds(make_model(), steps),
            "bare": bare_step_seconds(bare_model, batches, jit=bare_jit),
            "fit": fit_seconds(make_model, data, steps),
        }
        row["floor"] = row["matmul"] + row["adam"]
        rows.append(row)
        print(json.dumps({k: round(v * 1e3, 3) for k, v in row.items()}), flush=True)
    best = {k: min(r[k] for r in rows) for k in rows[0]}
    fractions = sorted(r["floor"] / r["fit"] for r in rows)
    if args.json:
        print(
            json.dumps(
                {
                    "best_ms": {k: v * 1e3 for k, v in best.items()},
                    "fit_fraction_median": fractions[len(fractions) // 2],
                    "repeats": args.repeats,
                    "rounds": args.rounds,
                    "machine": host,
                }
            )
        )
        return
    per_second = lambda seconds: args.batch / seconds  # noqa: E731
    unit = "CPU-ms/step" if args.clock == "cpu" else "ms/step"
    rate = "examples per CPU-second" if args.clock == "cpu" else "examples/s"
    print(
        f"\n{family.__name__}(latent_dim=32), batch {args.batch}, {args.dtype}; best of {args.rounds} "
        f"alternating rounds of {args.repeats} timed runs per part; {describe(host)}"
    )
    print(f"| part | {unit} | {rate} | fraction of the floor |\n|---|---|---|---|")
    for name, label in (
        ("matmul", "matrix products alone"),
        ("adam", "Adam update alone"),
        ("floor", "floor (sum)"),
        ("bare", f"bare step, XLA {'on' if bare_jit else 'off'}, pre-loaded batches"),
        ("fit", "model.fit, defaults"),
    ):
        ms, fraction = best[name] * 1e3, best["floor"] / best[name]
        print(f"| {label} | {ms:.2f} | {per_second(best[name]):,.0f} | {fraction:.2f} |")
    print(f"\nfit / floor per round (same-run ratios): {', '.join(f'{f:.2f}' for f in fractions)}")


if __name__ == "__main__":
    main()

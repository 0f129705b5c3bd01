"""Speed of the importance-weighted log-likelihood estimate against the matmul rate of its own products.

For each model (by default the zoo entries `dense_fashion_mnist` and `conv_fashion_mnist`, both
with a 500-component VampPrior), in one process, alternating `--repeats` times (3):

1. **bare products**: the network's matrix products and convolutions, timed as bare `tf.matmul`,
   `tf.nn.conv2d` and `tf.nn.conv2d_transpose` of the same shapes (the decoder's at the rows of
   one piece of the estimate, `piece * batch`; the encoder's at the batch and, for a VampPrior, at
   its pseudo-inputs), repeated to the same work as the estimate: K decodes per image, one encode
   per image, one encode of the pseudo-inputs per batch. A stride-1 convolution that the model
   computes by shift-and-sum (its likelihood layer) is timed as its faster half, the product
   `[N*H*W, C] x [C, k*k*filters]`. No bias, activation, likelihood, prior or sampling;
2. **before**: the estimate as it was before issue 27 (chunks decoded whole, the mixture's
   log-density from three float64 products and elementwise sums), kept below as
   `reference_log_likelihood`, through the same batches and seeds;
3. **after**: `vae_zoo.evaluation.log_likelihood` as it is.

Each side is the best of its `--repeats` timings (the same number on every side), so a ratio
compares a best of N with a best of N. The ratio to the matmul rate is (time of the bare
products) / (time of the estimate): the FLOP rate the estimate achieves on its products over the
rate of the bare products. The 10,000-image time is extrapolated from `--examples` images (linear
in the number of images); fewer images than `--batch-size` make one batch of them. Peak memory is
the process's resident peak (VmHWM) during each side, reset before it (Linux
`/proc/self/clear_refs`). The output starts with the CPU's model and flags (`benchmarks/machine.py`).

    python benchmarks/eval_throughput.py                  # dense 100 images, conv 20 (one batch each)
    python benchmarks/eval_throughput.py --models conv_fashion_mnist --examples 100
    python benchmarks/eval_throughput.py --models runs/dense_fmnist_10ep  # a run directory or .keras
    python benchmarks/eval_throughput.py --jit-compile                    # XLA for the after side
"""

import argparse
import os
import re
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vae_zoo  # noqa: E402
from vae_zoo import datasets, evaluation  # noqa: E402
from vae_zoo.distributions.tfp_extensions import DiagonalGaussianMixture  # noqa: E402
from vae_zoo.models.inputs import check_num_samples  # noqa: E402
from vae_zoo.presets import load_model  # noqa: E402

DEFAULT_EXAMPLES = {"dense_fashion_mnist": 100, "conv_fashion_mnist": 20}


# ----------------------------------------------------------------------------------------------
# The estimate before issue 27, kept as the reference ("before")
# ----------------------------------------------------------------------------------------------


def reference_mixture_log_prob(mixture, x):
    """`DiagonalGaussianMixture.log_prob` before issue 27: three float64 products and sums."""
    components = mixture.components_distribution
    dtype = components.loc.dtype
    x = tf.convert_to_tensor(x, dtype)
    loc = tf.cast(components.loc, tf.float64)
    scale = tf.cast(components.scale.diag, tf.float64)
    center = tf.reduce_mean(loc, axis=0)
    loc = loc - center
    flat = tf.reshape(tf.cast(x, tf.float64), [-1, tf.shape(x)[-1]]) - center
    precision = tf.math.reciprocal(tf.square(scale))
    distance = (
        tf.matmul(tf.square(flat), precision, transpose_b=True)
        - 2.0 * tf.matmul(flat, loc * precision, transpose_b=True)
        + tf.reduce_sum(tf.square(loc) * precision, axis=-1)
    )
    distance = tf.cast(tf.maximum(distance, 0.0), dtype)
    dims = tf.cast(tf.shape(loc)[-1], dtype)
    log_normalizer = tf.reduce_sum(tf.math.log(components.scale.diag), axis=-1) + 0.5 * dims * np.log(
        2.0 * np.pi
    )
    log_weights = tf.math.log_softmax(mixture.mixture_distribution.logits_parameter())
    log_prob = tf.reduce_logsumexp(log_weights - log_normalizer - 0.5 * distance, axis=-1)
    return tf.reshape(log_prob, tf.shape(x)[:-1])


def reference_iw_log_likelihood(model, x, num_samples, seed):
    """`ObjectivesMixin._iw_log_likelihood` (one seed for the batch) before issue 27."""
    num_samples = tf.cast(check_num_samples(num_samples), tf.int32)
    batch = tf.shape(x)[0]
    outputs_per_sample = int(np.prod(model.data_shape)) * model.likelihood.num_params
    chunk = tf.maximum(1, model.IW_MAX_ELEMENTS // (tf.maximum(batch, 1) * outputs_per_sample))
    chunk = tf.minimum(chunk, num_samples)
    params = model._posterior_params(x)
    q = model.posterior.distribution(params)
    prior = model._prior_distribution()
    if isinstance(prior, DiagonalGaussianMixture):

        def prior_log_prob(z):
            return reference_mixture_log_prob(prior, z)
    else:
        prior_log_prob = prior.log_prob

    def body(i, total):
        eps = tf.random.stateless_normal(
            [chunk, batch, model.latent_dim], tf.random.experimental.stateless_fold_in(seed, i)
        )
        z = model.posterior.reparameterize(params, eps)
        log_w = model._log_px_z(z, x) + prior_log_prob(z) - q.log_prob(z)
        valid = (i * chunk + tf.range(chunk)) < num_samples
        log_w = tf.where(valid[:, None], log_w, -np.inf)
        return i + 1, tf.reduce_logsumexp(tf.stack([total, tf.reduce_logsumexp(log_w, axis=0)]), axis=0)

    chunks = (num_samples + chunk - 1) // chunk
    total = tf.fill([batch], tf.constant(-np.inf, tf.float32))
    _, total = tf.while_loop(lambda i, _: i < chunks, body, (tf.constant(0), total))
    return total - tf.math.log(tf.cast(num_samples, tf.float32))


def reference_log_likelihood(model, x, num_samples, seed=0, batch_size=100):
    """`evaluation.log_likelihood` (same batches, same seeds `[seed, batch index]`) on the old estimate."""

    @tf.function(reduce_retracing=True)
    def estimate(batch, batch_seed):
        return reference_iw_log_likelihood(model, model.prepare_inputs(batch), num_samples, batch_seed)

    results = []
    for index, start in enumerate(range(0, len(x), batch_size)):
        batch = tf.constant(x[start : start + batch_size])
        results.append(estimate(batch, tf.constant([seed, index], tf.int32)).numpy())
    return np.concatenate(results)


# ----------------------------------------------------------------------------------------------
# The bare products
# ----------------------------------------------------------------------------------------------


def _layer_inputs(network, input_shape):
    """`[(layer, input shape without the batch)]` for a Sequential network, from one forward pass."""
    h = tf.zeros([1, *input_shape])
    shapes = []
    for layer in network.layers:
        shapes.append((layer, tuple(int(d) for d in h.shape[1:])))
        h = layer(h)
    return shapes


def products_of(network, input_shape, rows):
    """`(fn, FLOPs per row)`: `fn()` runs the network's matmuls/convolutions as bare ops on `rows`
    random rows; FLOPs count 2 per multiply-add."""
    ops, flops = [], 0.0
    for layer, shape in _layer_inputs(network, input_shape):
        if isinstance(layer, keras.layers.Dense):
            w = tf.constant(layer.kernel.numpy())
            a = tf.random.normal([rows, shape[-1]])
            ops.append(lambda a=a, w=w: tf.matmul(a, w))
            flops += 2.0 * w.shape[0] * w.shape[1]
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            w = tf.constant(layer.kernel.numpy())  # [k, k, out, in]
            k, stride = layer.kernel_size[0], layer.strides[0]
            a = tf.random.normal([rows, *shape])
            out = [rows, shape[0] * stride, shape[1] * stride, w.shape[2]]
            ops.append(
                lambda a=a, w=w, out=out, s=stride: tf.nn.conv2d_transpose(a, w, out, s, padding="SAME")
            )
            flops += 2.0 * shape[0] * shape[1] * shape[2] * k * k * w.shape[2]
        elif isinstance(layer, keras.layers.Conv2D):
            w = tf.constant(layer.kernel.numpy())  # [k, k, in, out]
            k, stride = layer.kernel_size[0], layer.strides[0]
            out_h, out_w = -(-shape[0] // stride), -(-shape[1] // stride)
            flops += 2.0 * out_h * out_w * k * k * w.shape[2] * w.shape[3]
            if getattr(layer, "_shift_sum", lambda: False)():  # its faster half: one product
                a = tf.random.normal([rows * shape[0] * shape[1], shape[2]])
                taps = tf.random.normal([shape[2], k * k * w.shape[3]])
                ops.append(lambda a=a, taps=taps: tf.matmul(a, taps))
            else:
                a = tf.random.normal([rows, *shape])
                ops.append(lambda a=a, w=w, s=stride: tf.nn.conv2d(a, w, s, padding="SAME"))

    @tf.function
    def run():
        return tf.add_n([tf.reshape(op(), [-1])[0] for op in ops])

    run()
    return run, flops


class BareProducts:
    """The products of one batch of the estimate: K decodes per image in pieces of `piece * batch`
    rows, one encode per image, one encode of a VampPrior's pseudo-inputs."""

    def __init__(self, model, num_samples, batch_size, piece):
        self.rows = piece * batch_size
        self.decode, dec_flops = products_of(model.decoder_network, [model.latent_dim], self.rows)
        self.encode, enc_flops = products_of(model.encoder_network, model.data_shape, batch_size)
        self.calls = -(-num_samples // piece)  # pieces per batch
        self.pseudo = None
        pseudo_flops = 0.0
        components = getattr(model.prior, "num_components", None)
        if hasattr(model.prior, "pseudo_inputs"):
            self.pseudo, _ = products_of(model.encoder_network, model.data_shape, components)
            pseudo_flops = enc_flops * components / batch_size
        self.decoder_flops = dec_flops
        self.flops_per_example = num_samples * dec_flops + enc_flops + pseudo_flops

    def run(self, num_batches):
        for _ in range(num_batches):
            for _ in range(self.calls):
                self.decode().numpy()
            self.encode().numpy()
            if self.pseudo is not None:
                self.pseudo().numpy()


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_gib():
    try:
        with open("/proc/self/status") as f:
            match = re.search(r"VmHWM:\s+(\d+) kB", f.read())
        return int(match.group(1)) / 2**20 if match else float("nan")
    except OSError:
        return float("nan")


def timed(work):
    _reset_peak()
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, _peak_gib(), result


def piece_of(model, num_samples, batch_size):
    """`(piece, chunk)`: the samples `_iw_log_likelihood` decodes at a time, and draws per chunk,
    for full batches."""
    outputs = batch_size * int(np.prod(model.data_shape)) * model.likelihood.num_params
    chunk = min(max(1, model.IW_MAX_ELEMENTS // outputs), num_samples)
    piece = min(max(1, min(model.IW_MAX_ELEMENTS, model.IW_PIECE_ELEMENTS) // outputs), chunk)
    return piece, chunk


def bench(name, args, x_all):
    model = vae_zoo.load(name) if "/" not in name and not name.endswith(".keras") else load_model(name)
    if args.max_elements is not None:
        model.IW_MAX_ELEMENTS = args.max_elements
    examples = args.examples or DEFAULT_EXAMPLES.get(name, 100)
    x = x_all[:examples]
    k, b = args.num_samples, min(args.batch_size, len(x))  # the batches the estimate runs
    piece, chunk = piece_of(model, k, b)
    bare = BareProducts(model, k, b, piece)
    batches = -(-len(x) // b)

    def after():
        return evaluation.log_likelihood(
            model, x, num_samples=k, batch_size=b, jit_compile=args.jit_compile, progress=False
        )

    def before():
        return reference_log_likelihood(model, x, k, batch_size=b)

    # warm-up (tracing) on one batch of each side
    evaluation.log_likelihood(model, x[:b], num_samples=k, jit_compile=args.jit_compile, progress=False)
    reference_log_likelihood(model, x[:b], k)
    bare.run(1)
    sides = {"bare products": lambda: bare.run(batches), "before": before, "after": after}
    best = {side: (np.inf, 0.0) for side in sides}
    all_times = {side: [] for side in sides}
    results = {}
    for _ in range(args.repeats):  # alternating sides, the same number of timings each
        for side, work in sides.items():
            seconds, peak, result = timed(work)
            all_times[side].append(seconds)
            best[side] = (min(best[side][0], seconds), max(best[side][1], peak))
            results[side] = result
    flops = bare.flops_per_example * len(x)
    t_bare = best["bare products"][0]
    print(
        f"\n== {name} ({type(model).__name__}, {type(model.prior).__name__}), {len(x)} test images x "
        f"K = {k}, batches of {b}: chunks of {chunk} draws decoded in pieces of {piece} "
        f"({piece * b} rows); XLA {'on' if args.jit_compile else 'off'}"
    )
    print(
        f"products: {bare.decoder_flops / 1e6:.2f} MFLOP per decode, "
        f"{bare.flops_per_example / 1e9:.2f} GFLOP per example (K decodes + encoder + pseudo-inputs); "
        f"bare rate {flops / t_bare / 1e9:.1f} GFLOP/s"
    )
    for side in sides:
        seconds, peak = best[side]
        times = ", ".join(f"{t:.1f}" for t in all_times[side])
        line = f"  {side:>13}: best {seconds:.2f} s (all: {times}), peak resident {peak:.2f} GiB"
        if side != "bare products":
            line += (
                f", {len(x) / seconds:.2f} examples/s, {flops / seconds / 1e9:.1f} GFLOP/s = "
                f"{t_bare / seconds:.2f} of the bare products' rate; 10,000 images: "
                f"{seconds / len(x) * 10_000 / 60:.1f} min (extrapolated from {len(x)})"
            )
        print(line)
    difference = np.abs(results["before"] - results["after"]).max()
    print(
        f"  before/after: {best['before'][0] / best['after'][0]:.2f}x faster; mean log p(x) "
        f"{results['after'].mean():.4f} (before {results['before'].mean():.4f}), "
        f"max |after - before| {difference:.2e} nats"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_EXAMPLES),
        help="zoo entries, run directories or .keras files",
    )
    parser.add_argument(
        "--examples", type=int, default=None, help="test images per model (default: dense 100, conv 20)"
    )
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timings of each side")
    parser.add_argument(
        "--max-elements", type=int, default=None, help="decoder outputs per chunk (default: the family's)"
    )
    args = parser.parse_args()
    from machine import describe

    x, _ = datasets.load_arrays("fashion_mnist", split="test", binarize="static", seed=0, verbose=False)
    x = x.reshape(-1, 28, 28, 1)
    threads = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    print(f"{describe()}; {threads} intra-op threads")
    for name in args.models:
        bench(name, args, x)


if __name__ == "__main__":
    main()

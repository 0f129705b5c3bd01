"""GPU check: DenseVAE and ConvVAE train on the accelerator, alone and under MirroredStrategy.

    python benchmarks/gpu_check.py                        # on a machine with a GPU (about 4 minutes)
    python benchmarks/gpu_check.py --allow-cpu --cpu-replicas 2 --steps 20 --epochs 2   # the logic, on CPU

For each family (the defaults: `DenseVAE((28, 28, 1), 32)`, `ConvVAE((28, 28, 1), 32)`, Adam
1e-3, `compile()`'s defaults) and each placement (`default`: one device, the GPU when there is
one; `mirrored`: `tf.distribute.MirroredStrategy` over every GPU, or over `--cpu-replicas`
logical CPUs with `--allow-cpu`), it trains `--epochs` epochs of `--steps` steps of global
batch `--batch-size` after one warm-up epoch (tracing, autotuning), and prints examples/s of
the timed epochs and the loss of each. The check fails (exit status 1) when a loss is not
finite or the last epoch's loss is not below the first's. The data: Fashion-MNIST's training
images when a local copy is found (`vae_zoo.datasets`), else a fixed synthetic set of
28x28 strokes (printed, so a reader knows which). The output starts with the machine
(`benchmarks/machine.py`) and the GPUs TensorFlow sees; `--json` writes the results.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def images(count, seed=0):
    """`[count, 28, 28, 1]` float32 in [0, 1]: Fashion-MNIST's first training images, else strokes."""
    from vae_zoo import datasets

    try:
        x = datasets.load_arrays("fashion_mnist", split="train", verbose=False)[0][:count]
        return x.reshape(-1, 28, 28, 1).astype("float32") / 255.0, "Fashion-MNIST (local copy)"
    except (OSError, ValueError):
        pass
    rng = np.random.default_rng(seed)
    x = np.zeros([count, 28, 28, 1], "float32")
    rows, cols = np.arange(28)[:, None], np.arange(28)[None, :]
    for i in range(count):  # two random bars per image: structure a VAE can learn
        for _ in range(2):
            r, c, h, w = rng.integers(2, 20, 4)
            x[i, r : r + h // 2 + 2, c : c + w // 2 + 2, 0] = 1.0
        x[i, ..., 0] *= 0.8 + 0.2 * np.sin((rows + cols) / 5.0) ** 2
    return x, "synthetic strokes (no local Fashion-MNIST)"


def configure_devices(args):
    """The GPUs TensorFlow sees; with `--allow-cpu` and no GPU, `--cpu-replicas` logical CPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.allow_cpu:
        sys.exit("gpu_check: TensorFlow sees no GPU; pass --allow-cpu to check the logic on CPU")
    if not gpus and args.cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpu_replicas
        )
    return gpus


def strategies():
    """`{"default": one device, "mirrored": MirroredStrategy over every GPU, else every logical CPU}`.

    One MirroredStrategy serves every model of the run: a second one in the same process reuses
    its collective instance keys, and its all-reduces then meet the first one's shapes."""
    devices = (
        None
        if tf.config.list_logical_devices("GPU")
        else [d.name for d in tf.config.list_logical_devices("CPU")]
    )
    return {
        "default": tf.distribute.get_strategy(),
        "mirrored": tf.distribute.MirroredStrategy(devices=devices),
    }


def train(family, placement, strategy, x, args):
    import keras

    from vae_zoo.models import ConvVAE, DenseVAE

    build = {"dense": DenseVAE, "conv": ConvVAE}[family]
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build((28, 28, 1), 32, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = (
        tf.data.Dataset.from_tensor_slices(x)
        .shuffle(len(x), seed=0)
        .repeat()
        .batch(args.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)  # warm-up: tracing, autotuning
    start = time.perf_counter()
    history = model.fit(data, steps_per_epoch=args.steps, epochs=args.epochs, verbose=0).history
    seconds = time.perf_counter() - start
    losses = [float(v) for v in history["loss"]]
    finite = bool(np.all(np.isfinite(losses)))
    return {
        "family": family,
        "placement": placement,
        "replicas": strategy.num_replicas_in_sync,
        "examples_per_second": args.steps * args.epochs * args.batch_size / seconds,
        "losses": losses,
        "finite": finite,
        "falls": finite and losses[-1] < losses[0],
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--batch-size", type=int, default=256, help="global batch size")
    parser.add_argument("--examples", type=int, default=20_000, help="training images")
    parser.add_argument("--families", default="dense,conv")
    parser.add_argument("--placements", default="default,mirrored")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (a check of the logic)")
    parser.add_argument("--cpu-replicas", type=int, default=2, help="logical CPUs for mirrored, with no GPU")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    from machine import describe

    gpus = configure_devices(args)
    print(describe(), flush=True)
    print(f"TensorFlow {tf.__version__}; GPUs: {[g.name for g in gpus] or 'none (CPU check)'}", flush=True)
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        print(f"  {gpu.name}: {details.get('device_name')} (compute {details.get('compute_capability')})")
    x, source = images(args.examples)
    print(
        f"data: {len(x)} images, {source}; {args.epochs} timed epochs of {args.steps} steps, "
        f"global batch {args.batch_size}",
        flush=True,
    )
    results, placements = [], strategies()
    for family in args.families.split(","):
        for placement in args.placements.split(","):
            result = train(family, placement, placements[placement], x, args)
            results.append(result)
            losses = " -> ".join(f"{v:.2f}" for v in result["losses"])
            verdict = "ok" if result["falls"] else "FAILED (not finite or not falling)"
            print(
                f"{family:5s} {placement:8s} x{result['replicas']}: {result['examples_per_second']:,.0f} "
                f"examples/s; loss {losses}: {verdict}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": describe(), "gpus": [g.name for g in gpus], "results": results}, f, indent=2
            )
    sys.exit(0 if all(r["falls"] for r in results) else 1)


if __name__ == "__main__":
    main()

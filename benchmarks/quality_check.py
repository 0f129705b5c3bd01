"""Does the fast path train as well? Test -ELBO of DenseVAE(latent_dim=32) after a fixed number of epochs.

Run it once per code version (e.g. `PYTHONPATH=/tmp/old python benchmarks/quality_check.py` on a
`git worktree` of an older commit, then on this one) and compare the numbers: the training path is
whatever the version's `vae_zoo.datasets.load(..., binarize="dynamic")` and
`model.compile(); model.fit(...)` do at their defaults; the test set is the same for every version
(read here from the IDX file and binarized once by NumPy with `--test-seed`), so only the
training differs. Each line records the CPU's model and flags (`benchmarks/machine.py`); one
timed `fit` per seed, so compare `fit_seconds` of two versions only seed for seed.

    python benchmarks/quality_check.py --epochs 5 --seeds 0 1 2
    python benchmarks/quality_check.py --epochs 20 --batch-size 1024 --precision bfloat16 --seeds 0 1 2 3

`--precision bfloat16` trains under Keras's `mixed_bfloat16` policy (the distribution heads stay
float32); the test -ELBO is computed by the same model, so run the float32 side with the same
seeds and compare seed for seed.
"""

import argparse
import gzip
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import vae_zoo  # noqa: E402
from vae_zoo import datasets  # noqa: E402

TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def test_images(seed):
    with gzip.open(TEST_IMAGES) as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    rng = np.random.default_rng(seed)
    return (rng.random(pixels.shape) < pixels / 255.0).astype("float32")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-seed", type=int, default=1234)
    parser.add_argument(
        "--jit-compile",
        choices=("default", "true", "false"),
        default="default",
        help="default: compile() without the argument (the version's own choice)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    args = parser.parse_args()
    from machine import machine

    if args.precision == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    host = machine()
    x_test = test_images(args.test_seed)
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        train = datasets.load(
            "fashion_mnist",
            "train",
            binarize="dynamic",
            batch_size=args.batch_size,
            shuffle=True,
            seed=seed,
            verbose=False,
        )
        model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=32, seed=seed)
        model.compile(
            **({} if args.jit_compile == "default" else {"jit_compile": args.jit_compile == "true"})
        )
        start = time.time()
        model.fit(train, epochs=args.epochs, verbose=0)
        seconds = time.time() - start
        logs = model.evaluate(x_test, batch_size=500, verbose=0, return_dict=True)
        print(
            json.dumps(
                {
                    "version": vae_zoo.__version__,
                    "path": os.path.dirname(vae_zoo.__file__),
                    "seed": seed,
                    "epochs": args.epochs,
                    "jit_compile": args.jit_compile,
                    "batch_size": args.batch_size,
                    "precision": args.precision,
                    "test_negative_elbo": round(-logs["elbo"], 3),
                    "test_kl": round(logs["kl"], 3),
                    "fit_seconds": round(seconds, 1),
                    "machine": host,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

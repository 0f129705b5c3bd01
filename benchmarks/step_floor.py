"""The compute floor of a DenseVAE training step at batch 128, without Keras's loop or tf.data.

64 steps (forward, backward, Adam) on 64 pre-loaded batches run inside one
`tf.function`, with and without XLA; the best of 5 calls is reported. The gap
between this and `train_throughput.py`'s `fit` figures is what Keras's step
loop and the input pipeline cost.

    python benchmarks/step_floor.py
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import vae_zoo  # noqa: E402
from vae_zoo import datasets  # noqa: E402

STEPS, BATCH = 64, 128


def main():
    x, _ = datasets.load_arrays("fashion_mnist", split="train", binarize="static", seed=0)
    batches = tf.constant(x[: STEPS * BATCH].reshape(STEPS, BATCH, 28, 28, 1).astype("float32"))
    model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=32, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)

    def step(batch):
        seed = model._step_seed(model.optimizer.iterations)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model._objective(batch, seed, training=True)["loss"])
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply(gradients, model.trainable_variables)
        return loss

    for jit in (False, True):

        @tf.function(jit_compile=jit)
        def many(xs):
            total = 0.0
            for i in tf.range(STEPS):
                total += step(xs[i])
            return total

        many(batches)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            many(batches).numpy()
            best = min(best, time.perf_counter() - start)
        print(f"XLA {'on ' if jit else 'off'}: {best / STEPS * 1e3:.2f} ms/step = {STEPS * BATCH / best:,.0f} examples/s")


if __name__ == "__main__":
    main()

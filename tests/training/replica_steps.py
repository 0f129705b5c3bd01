"""Run as a script (by tests/test_training.py): SGD steps on 2 logical CPUs against one device.

Prints one JSON line: for each case and number of steps, the largest weight
difference between MirroredStrategy over 2 logical CPUs and the default
strategy, and how far SGD moved the weights. SGD's step is linear in the
gradient, so a missing or doubled 1/replicas, or per-replica clipping, moves
the 2-replica weights by about the step itself, far above the tolerance.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import vae_zoo  # noqa: E402
from vae_zoo.text import TextCodec  # noqa: E402

BATCH = 8
CORPUS = ["a cat sat on the mat", "a dog ran", "the cat ran to the dog", "the mat sat", "a dog sat on a cat"]


def build(case):
    if case.startswith("sequence"):
        codec = TextCodec.from_corpus(CORPUS, max_length=8)
        model = vae_zoo.models.SequenceVAE(
            vocabulary=codec.vocabulary, max_length=8, embedding_dim=8, hidden_units=8, latent_dim=3,
            word_dropout=0.5, seed=7,
        )  # fmt: skip
        data = codec.tokenize([CORPUS[i % len(CORPUS)] for i in range(2 * BATCH)]).numpy()
    else:
        model = vae_zoo.models.DenseVAE((16,), latent_dim=3, hidden_units=(8,), seed=7)
        data = (np.random.default_rng(0).random((2 * BATCH, 16)) > 0.5).astype("float32")
    clipnorm = 0.05 if case.endswith("clipnorm") else None
    model.compile(optimizer=keras.optimizers.SGD(0.05, clipnorm=clipnorm))  # the defaults: XLA and a fused multi-step loop on one device for DenseVAE
    return model, data


def train(case, steps, strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model, data = build(case)
    start = [w.copy() for w in model.get_weights()]
    model.fit(data[: steps * BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return start, model.get_weights()


def main(cases):
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {}
    for case in cases:
        for steps in (1, 2):
            start, one = train(case, steps, tf.distribute.get_strategy())
            _, two = train(case, steps, mirrored)
            report[f"{case}/{steps}"] = {
                "difference": max(float(np.max(np.abs(a - b))) for a, b in zip(one, two)),
                "movement": max(float(np.max(np.abs(a - b))) for a, b in zip(one, start)),
            }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:] or ["dense", "dense_clipnorm", "sequence"])

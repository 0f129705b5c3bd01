"""Run as a script (by tests/training/test_distributed.py): SGD epochs on 2 logical CPUs against one device.

Each case fits one epoch on a data set whose size is not a multiple of the batch: a full batch, then a
short last one whose rows split unevenly over the 2 replicas (5 rows: 3 and 2; 1 row: 1 and none), and
(but with clipping) evaluates the model on it.
Prints one JSON line: for each case and data-set size, the largest weight difference between
MirroredStrategy over 2 logical CPUs and the default strategy, how far SGD moved the weights,
and the largest difference of the metrics (the last batch's logs, the epoch's, `evaluate`'s).
SGD's step is linear in the gradient, so a loss scaled by the replica's own rows times the replicas,
noise or word-dropout masks drawn as if every replica held the same rows, per-replica clipping, or
metrics averaged per replica instead of per example, show far above the tolerance.
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
#: (case, data-set size): a full batch, then a short last batch of 5 rows (3 + 2 over 2 replicas) or of
#: 1 row (1 + 0: a replica without rows, the sequence model's LSTMs, batch norm and masks included).
CASES = (
    ("dense", BATCH + 5),
    ("dense_clipnorm", BATCH + 5),
    ("sequence", BATCH + 5),
    ("sequence", BATCH + 1),
)
CORPUS = ["a cat sat on the mat", "a dog ran", "the cat ran to the dog", "the mat sat", "a dog sat on a cat"]


def build(case, size):
    if case.startswith("sequence"):
        codec = TextCodec.from_corpus(CORPUS, max_length=8)
        model = vae_zoo.models.SequenceVAE(
            vocabulary=codec.vocabulary,
            max_length=8,
            embedding_dim=8,
            hidden_units=8,
            latent_dim=3,
            word_dropout=0.5,
            seed=7,
        )
        data = codec.tokenize([CORPUS[(3 * i) % len(CORPUS)] for i in range(size)]).numpy()
    else:
        model = vae_zoo.models.DenseVAE((16,), latent_dim=3, hidden_units=(8,), seed=7)
        data = (np.random.default_rng(0).random((size, 16)) > 0.5).astype("float32")
    clipnorm = 0.05 if case.endswith("clipnorm") else None
    # The defaults: on one device DenseVAE runs XLA and a fused multi-step loop.
    model.compile(optimizer=keras.optimizers.SGD(0.05, clipnorm=clipnorm))
    return model, data


class LastLogs(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.logs = {name: float(value) for name, value in logs.items()}


def train(case, size, strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model, data = build(case, size)
    start = [w.copy() for w in model.get_weights()]
    last = LastLogs()
    history = model.fit(data, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[last]).history
    metrics = {f"batch_{k}": v for k, v in last.logs.items()}
    metrics.update({f"epoch_{k}": float(v[-1]) for k, v in history.items()})
    if not case.endswith("clipnorm"):  # clipping leaves evaluation as it is
        evaluated = model.evaluate(data, batch_size=BATCH, verbose=0, return_dict=True)
        metrics.update({f"evaluate_{k}": float(v) for k, v in evaluated.items()})
    return start, model.get_weights(), metrics


def main(names):
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {}
    for case, size in [(case, size) for case, size in CASES if not names or case in names]:
        start, one, one_metrics = train(case, size, tf.distribute.get_strategy())
        _, two, two_metrics = train(case, size, mirrored)
        assert sorted(one_metrics) == sorted(two_metrics), (one_metrics, two_metrics)
        gaps = {name: abs(one_metrics[name] - two_metrics[name]) for name in one_metrics}
        report[f"{case}/{size}"] = {
            "difference": max(float(np.max(np.abs(a - b))) for a, b in zip(one, two)),
            "movement": max(float(np.max(np.abs(a - b))) for a, b in zip(one, start)),
            "metrics": max(gaps.values()),
            "worst_metric": max(gaps, key=gaps.get),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])

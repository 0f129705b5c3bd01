"""Importance-weighted NLL of sentences: by-length batches over the used positions against all
`max_length` positions.

    python benchmarks/sentence_eval_time.py --sentences 400 --num-samples 10 --rounds 3

The shipped `lstm_wordnet_sentences` entry (float32) on the first `--sentences` WordNet test
sentences, `vae_zoo.evaluation.log_likelihood` at batch 100, alternating in one process:
"now" (`model.evaluation_order` groups sentences by length, the decoder reads only the
positions a batch uses) and "before" (the given order, all 32 positions, as until 5b43317).
The two give the same estimator; the per-sentence estimates differ only through the noise
(other batches, other seeds), so the mean NLL is printed beside each time. Each round times
each way once (the same N on both sides); the output starts with the CPU's model and flags.
"""

import argparse
import os
import time
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import vae_zoo  # noqa: E402
from vae_zoo import datasets, evaluation  # noqa: E402
from vae_zoo.models import sequence_bounds  # noqa: E402


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--num-samples", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keras.config.set_dtype_policy("float32")
    model = vae_zoo.load("lstm_wordnet_sentences")
    from machine import describe

    sentences = datasets.load_sentences("wordnet_sentences", split="test")[: args.sentences]
    ids = model.tokenize(sentences).numpy()
    print(describe())
    print(
        f"{len(ids)} sentences, {(ids != 0).sum(axis=1).mean():.1f} positions used "
        f"of {ids.shape[1]} on average"
    )

    def run(before):
        patches = []
        if before:
            patches = [
                mock.patch.object(model, "evaluation_order", lambda x: None),
                mock.patch.object(sequence_bounds, "used_length", lambda x, pad: tf.shape(x)[1]),
            ]
        for patch in patches:
            patch.start()
        try:
            start = time.perf_counter()
            ll = evaluation.log_likelihood(model, ids, num_samples=args.num_samples, progress=False)
            return time.perf_counter() - start, -ll.mean()
        finally:
            for patch in patches:
                patch.stop()

    run(False), run(True)  # trace both
    for round_ in range(args.rounds):
        (now, nll_now), (before, nll_before) = run(False), run(True)
        print(
            f"round {round_}: now {now:.1f} s (NLL {nll_now:.2f}), "
            f"before {before:.1f} s (NLL {nll_before:.2f}), before / now {before / now:.2f}"
        )


if __name__ == "__main__":
    main()

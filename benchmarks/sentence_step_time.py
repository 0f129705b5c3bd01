"""SequenceVAE training-step time by vocabulary size and training softmax (exact or sampled).

    # VOCABULARY:CANDIDATES (0: exact)
    python benchmarks/sentence_step_time.py 10000:0 32000:0 32000:1024

Batch 128, max length 32, the family's default sizes, WordNet training sentences,
Adam 1e-3: 8 warm-up steps, then `--steps` timed steps through `model.fit`. Each
setting also prints the share of test-split words outside its vocabulary. The output
starts with the CPU's model and flags (`benchmarks/machine.py`).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from vae_zoo import datasets  # noqa: E402
from vae_zoo.models import SequenceVAE  # noqa: E402
from vae_zoo.text import TextCodec, sentence_words  # noqa: E402


def setting(text):
    vocabulary, candidates = text.split(":")
    return int(vocabulary), int(candidates)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("settings", nargs="+", type=setting, help="VOCABULARY:CANDIDATES, e.g. 32000:1024")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    from machine import describe

    print(f"{describe()}; one timed fit of {args.steps} steps per setting, after 8 warm-up steps")
    train = datasets.load_sentences("wordnet_sentences", split="train")
    test_words = sentence_words(datasets.load_sentences("wordnet_sentences", split="test"))
    total = sum(map(len, test_words))
    for vocabulary, candidates in args.settings:
        codec = TextCodec.from_corpus(train, max_length=32, max_tokens=vocabulary)
        known = set(codec.vocabulary)
        unknown = sum(w not in known for words in test_words for w in words) / total
        ids = codec.tokenize(train[: args.batch_size * (args.steps + 8)]).numpy()
        keras.utils.set_random_seed(0)
        model = SequenceVAE(vocabulary=codec.vocabulary, max_length=32, sampled_softmax=candidates, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(ids[: args.batch_size * 8], batch_size=args.batch_size, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(ids[args.batch_size * 8 :], batch_size=args.batch_size, epochs=1, verbose=0)
        ms = (time.perf_counter() - start) / args.steps * 1000
        softmax = "exact" if candidates == 0 else f"sampled, {candidates} candidates"
        print(
            f"vocabulary {vocabulary}, {softmax}: {ms:.0f} ms/step; "
            f"{unknown:.2%} of test words outside the vocabulary"
        )


if __name__ == "__main__":
    main()

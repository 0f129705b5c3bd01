"""SequenceVAE training-step time by vocabulary, training softmax and batch order, alternated in one process.

    # VOCABULARY:CANDIDATES:BATCHES[:unpacked] (CANDIDATES 0: exact softmax; BATCHES random | length)
    python benchmarks/sentence_step_time.py 10000:1024:random 10000:1024:random:unpacked 10000:1024:length

Batch 128, max length 32, the family's default sizes, WordNet training sentences, Adam
1e-3. `random`: batches of shuffled sentences (the default before `length_pool`);
`length`: batches of like length (`vae_zoo.datasets.length_batches`, pools of 64 batches,
`vae-zoo train --length-pool 64`); `unpacked`: the step with the layers' own masked LSTM
calls (`SequenceVAE.packed_steps = False`, the step before packing). Every setting gets its
own model, trained 8 warm-up steps first; then `--rounds` rounds run `--steps` steps of every
setting in turn, each setting on the same batches every round, and the best round of each is printed (the same
number of rounds on every side of a ratio). A step reads only the positions its batch uses
(`SequenceVAE.used_positions`), so an unpacked step's cost follows the batch's longest
sentence; a packed step's (the default, `vae_zoo.models.packed_lstm`) its tokens. Each
setting also prints the share of test-split words outside its vocabulary. The output
starts with the CPU's model and flags (`benchmarks/machine.py`).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vae_zoo import datasets  # noqa: E402
from vae_zoo.datasets.length_batches import length_grouped_batches  # noqa: E402
from vae_zoo.models import SequenceVAE  # noqa: E402
from vae_zoo.text import TextCodec, sentence_words  # noqa: E402

BATCHES = ("random", "length")


def setting(text):
    fields = text.split(":")
    vocabulary, candidates = fields[:2]
    batches = fields[2] if len(fields) > 2 else "random"
    packing = fields[3] if len(fields) > 3 else "packed"
    if batches not in BATCHES:
        raise argparse.ArgumentTypeError(f"batches must be one of {', '.join(BATCHES)}, got {batches!r}")
    if packing not in ("packed", "unpacked"):
        raise argparse.ArgumentTypeError(
            f"the fourth field must be 'unpacked' (or left out), got {packing!r}"
        )
    return int(vocabulary), int(candidates), batches, packing == "packed"


def batches_of(ids, batches, batch_size, count):
    """`count` batches `[batch_size, 32]` of token ids, in random order or grouped by length."""
    if batches == "length":
        ds = length_grouped_batches(ids, batch_size, seed=0)
        return [b for _, b in zip(range(count), ds.as_numpy_iterator())]
    order = np.random.default_rng(0).permutation(len(ids))
    return [ids[order[i * batch_size : (i + 1) * batch_size]] for i in range(count)]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "settings",
        nargs="+",
        type=setting,
        help="VOCABULARY:CANDIDATES:BATCHES[:unpacked], e.g. 10000:1024:random:unpacked",
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--bf16", action="store_true", help="mixed bfloat16 (as the sentence recipe)")
    args = parser.parse_args()
    from machine import describe

    precision = "mixed bfloat16; " if args.bf16 else ""
    print(
        f"{describe()}; {precision}{args.rounds} alternating rounds of {args.steps} steps per setting "
        "(best round), after 8 warm-up steps",
        flush=True,
    )
    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    train = datasets.load_sentences("wordnet_sentences", split="train")
    test_words = sentence_words(datasets.load_sentences("wordnet_sentences", split="test"))
    total = sum(map(len, test_words))
    runs = []
    for vocabulary, candidates, batches, packed in args.settings:
        codec = TextCodec.from_corpus(train, max_length=32, max_tokens=vocabulary)
        known = set(codec.vocabulary)
        unknown = sum(w not in known for words in test_words for w in words) / total
        ids = codec.tokenize(train).numpy()
        data = batches_of(ids, batches, args.batch_size, args.steps + 8)
        used = np.mean([int((b != 0).sum(axis=1).max()) for b in data])
        keras.utils.set_random_seed(0)
        model = SequenceVAE(vocabulary=codec.vocabulary, max_length=32, sampled_softmax=candidates, seed=0)
        model.packed_steps = packed
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        for batch in data[:8]:
            model.train_on_batch(batch)
        softmax = "exact" if candidates == 0 else f"sampled, {candidates} candidates"
        tokens = np.mean([(b != 0).sum(axis=1).mean() for b in data])
        label = (
            f"vocabulary {vocabulary}, {softmax}, {batches} batches, {'packed' if packed else 'unpacked'} "
            f"({used:.1f} of 32 positions used, {tokens:.1f} tokens a sentence)"
        )
        runs.append({"label": label, "model": model, "data": data[8:], "ms": [], "unknown": unknown})
    for _ in range(args.rounds):
        for run in runs:
            start = time.perf_counter()
            for batch in run["data"]:
                run["model"].train_on_batch(batch)
            run["ms"].append((time.perf_counter() - start) / len(run["data"]) * 1000)
    for run in runs:
        rounds = " / ".join(f"{ms:.0f}" for ms in run["ms"])
        print(
            f"{run['label']}: {min(run['ms']):.0f} ms/step (rounds {rounds}); "
            f"{run['unknown']:.2%} of test words outside the vocabulary"
        )


if __name__ == "__main__":
    main()

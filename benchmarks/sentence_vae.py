"""The sentence VAE's baseline: an LSTM language model of the same size and budget, on the same data.

1. Trains `SequenceVAE` with its recipe (`training/recipes/lstm_wordnet_sentences.yaml`,
   the same as `vae-zoo train --config ...`), or reads a finished run (`--run`), or loads the
   shipped entry trained with that recipe (`--preset lstm_wordnet_sentences`, weights SHA-256
   checked; results go to `--out`).
2. Trains an LSTM language model of the same size (embedding, LSTM units and
   vocabulary of the VAE's decoder, without z) with the same budget: the
   recipe's optimizer, learning rate and schedule, batch size, number of
   steps, precision policy and training softmax (sampled with the same number
   of candidates when the recipe samples), on the same shuffled training
   stream (the training loader of `vae-zoo train`, same seed, same vocabulary).
3. Measures its exact NLL (the exact softmax) on the whole test split the
   VAE's preset entry is measured on, with its standard error, and perplexity
   per token (`[EOS]` included), with `[PAD]` and `[BOS]` masked out of its
   softmax as the VAE's decoder masks them; writes `RUN/language_model.json`,
   the per-sentence NLLs (`RUN/language_model_test_nll.npy`, for the paired
   standard error of the VAE's gap to it) and the weights
   (`RUN/language_model.weights.h5`), which `python -m
   vae_zoo.training.publish ... --baseline RUN/language_model.json` records in
   the entry beside the VAE's importance-weighted NLL on the same sentences.
4. Prints 5 of the VAE's reconstructions and a 5-step interpolation (greedy decoding).

    python benchmarks/sentence_vae.py                  # trains both (about 35 + 19 min on 2 cores)
    python benchmarks/sentence_vae.py --run runs/lstm_wordnet_sentences
    python benchmarks/sentence_vae.py --preset lstm_wordnet_sentences --out runs/lstm_baseline
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vae_zoo import text  # noqa: E402
from vae_zoo.models.sampled_softmax import log_uniform_candidates, sampled_log_softmax  # noqa: E402
from vae_zoo.models.trainer import DEFAULT_STEPS_PER_EXECUTION  # noqa: E402
from vae_zoo.presets import load_model  # noqa: E402
from vae_zoo.training import config as config_lib  # noqa: E402
from vae_zoo.training import strategies  # noqa: E402
from vae_zoo import kinds  # noqa: E402
from vae_zoo.kinds import get_kind  # noqa: E402
from vae_zoo.training.run import make_optimizer, train  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RECIPE = os.path.join(ROOT, "training", "recipes", "lstm_wordnet_sentences.yaml")
# never targets: masked in the exact softmax and left out of the sampled one, as in SequenceVAE
BANNED = (text.PAD, text.BOS)
NLL_FILE = "language_model_test_nll.npy"


class LanguageModel(keras.Model):
    """An LSTM language model: the SequenceVAE's decoder without z.

    `sampled_softmax=S > 0` trains through the sampled softmax of
    `vae_zoo.models.sampled_softmax` (S log-uniform candidates per step, drawn
    from `seed` folded with the step count); `nll` is always exact.
    """

    def __init__(self, vocab_size, embedding_dim, hidden_units, sampled_softmax=0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.sampled_softmax, self.seed = int(vocab_size), int(sampled_softmax), int(seed)
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.lstm = keras.layers.LSTM(hidden_units, return_sequences=True)
        self.head = keras.layers.Dense(vocab_size, dtype="float32")  # float32 logits under mixed precision
        self.head.build((None, None, hidden_units))  # the sampled softmax reads its kernel directly
        # -1e9 on [PAD] and [BOS], as SequenceVAE's _banned_logits: the same softmax over the other ids
        self.banned = tf.reduce_sum(tf.one_hot(list(BANNED), self.vocab_size, on_value=-1e9), axis=0)
        self.tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.tracker]

    def hidden(self, ids):
        previous = tf.concat([tf.fill([tf.shape(ids)[0], 1], text.BOS), ids[:, :-1]], axis=1)
        return self.lstm(self.embedding(previous))

    def call(self, ids):
        """Logits `[B, T, vocab]` with [PAD] and [BOS] masked (never targets), as the VAE's decoder
        masks them."""
        return self.head(self.hidden(ids)) + self.banned

    def nll(self, ids):
        """Exact -log p(x) per sentence, [PAD] left out, [EOS] included."""
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=self(ids))
        return tf.reduce_sum(tf.where(tf.equal(ids, text.PAD), 0.0, per_token), axis=1)

    def training_nll(self, ids):
        """The training loss per sentence: exact, or the sampled-softmax estimate."""
        if not self.sampled_softmax:
            return self.nll(ids)
        seed = tf.random.experimental.stateless_fold_in(
            tf.constant([self.seed, 0], tf.int64), self.optimizer.iterations
        )
        candidates, log_expected = log_uniform_candidates(self.sampled_softmax, self.vocab_size, seed, BANNED)
        log_p = sampled_log_softmax(
            self.hidden(ids),
            self.head.kernel,
            self.head.bias,
            ids,
            candidates,
            log_expected,
            banned_ids=BANNED,
        )
        return -tf.reduce_sum(tf.where(tf.equal(ids, text.PAD), 0.0, log_p), axis=1)

    def train_step(self, ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self.training_nll(ids))
            scaled = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16; identity otherwise
        self.optimizer.apply(tape.gradient(scaled, self.trainable_variables), self.trainable_variables)
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}


def train_language_model(config, vae):
    """The baseline trained with the VAE's budget, copied into float32 for evaluation (as a
    preset VAE is evaluated); returns (float32 model, facts of its training)."""
    if config["strategy"] not in ("auto", "default"):
        raise ValueError(
            f"the baseline trains on one device; the recipe's strategy {config['strategy']!r} does not apply"
        )
    policy = strategies.set_precision(config["mixed_precision"])
    keras.utils.set_random_seed(config["seed"])
    data, info = get_kind("sentences").training_data(config, verbose=False)
    if list(info["vocabulary"]) != list(vae.codec.vocabulary):
        raise ValueError("the training loader built another vocabulary than the VAE's: not the same data")
    kwargs = config["model_kwargs"]
    sizes = dict(
        vocab_size=vae.vocab_size,
        embedding_dim=kwargs.get("embedding_dim", vae.embedding_dim),
        hidden_units=kwargs.get("hidden_units", vae.hidden_units),
    )
    lm = LanguageModel(**sizes, sampled_softmax=kwargs.get("sampled_softmax", 0), seed=config["seed"])
    lm.compile(
        optimizer=make_optimizer(config, data["train"]),
        steps_per_execution=config["steps_per_execution"] or DEFAULT_STEPS_PER_EXECUTION,
    )
    start = time.time()
    lm.fit(data["train"], epochs=config["epochs"], verbose=2)
    facts = {
        "train_seconds": round(time.time() - start, 1),
        "steps": int(lm.optimizer.iterations.numpy()),
        "batch_size": config["batch_size"],
        "sampled_softmax": lm.sampled_softmax,
        "precision_policy": policy,
    }
    keras.mixed_precision.set_global_policy("float32")
    exact = LanguageModel(**sizes)
    exact(tf.zeros([1, vae.max_length], tf.int32))
    exact.set_weights(lm.get_weights())
    return exact, facts


def language_model_nll(lm, test_ids, batch_size=200):
    """Exact NLL of every test sentence (float32 logits), in the order of `test_ids`."""
    batches = range(0, len(test_ids), batch_size)
    return np.concatenate([lm.nll(tf.constant(test_ids[i : i + batch_size])).numpy() for i in batches])


def measure_language_model(nll, test_ids):
    """The mean of the per-sentence NLLs `nll`, its standard error and perplexity per token."""
    tokens = int((test_ids != text.PAD).sum())
    return {
        "test_nll": float(nll.mean()),
        "test_nll_standard_error": float(nll.std(ddof=1) / np.sqrt(len(nll))),
        "test_num_examples": int(len(nll)),
        "perplexity": float(np.exp(nll.sum() / tokens)),
        "tokens": tokens,
    }


def preset_vae(name, recipe):
    """The shipped entry `name` (weights SHA-256 checked), refused unless its registry entry names `recipe`
    (the LM gets that recipe's budget; the training loader's vocabulary is checked against the VAE's)."""
    import vae_zoo
    from vae_zoo import presets

    entry = presets.entry(name)
    if os.path.normpath(entry.get("recipe") or "") != os.path.relpath(os.path.abspath(recipe), ROOT):
        raise ValueError(
            f"--preset {name} was trained by {entry.get('recipe')!r}, "
            f"not by --recipe {os.path.relpath(recipe)}"
        )
    return vae_zoo.load(name)


def _machine():
    """benchmarks/machine.py's record (this file is also loaded by path, outside `benchmarks/`)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from machine import machine

    return machine()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", default=None, help="a finished run directory of the recipe (skips VAE training)"
    )
    parser.add_argument(
        "--preset",
        default=None,
        help="a shipped sentence entry trained by --recipe (skips VAE training; results go to --out)",
    )
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--out", default="runs/lstm_wordnet_sentences")
    args = parser.parse_args(argv)
    if args.run and args.preset:
        raise ValueError("--run and --preset both name the VAE: give one")
    run_dir = args.run or args.out
    config = config_lib.resolve(args.recipe, {"out": run_dir, "verbose": 2, "tensorboard": False})
    if args.preset:
        vae = preset_vae(args.preset, args.recipe)
        os.makedirs(run_dir, exist_ok=True)
    else:
        if args.run is None:
            train(config)
        saved = config_lib.load_file(os.path.join(run_dir, "config.yaml"))
        mismatched = sorted(
            k for k in config if k not in ("out", "verbose", "tensorboard") and saved.get(k) != config[k]
        )
        if mismatched:
            raise ValueError(f"{run_dir} was not trained by {args.recipe}: {', '.join(mismatched)} differ")
        vae = load_model(run_dir)

    lm, facts = train_language_model(config, vae)
    test_ids = kinds.preset_data(
        {"dataset": config["dataset"], "preprocessing": {"seed": config["seed"]}}, vae
    )
    nll = language_model_nll(lm, test_ids)
    np.save(os.path.join(run_dir, NLL_FILE), nll)  # per sentence: publish --baseline pairs it with the VAE's
    results = {
        "model": "LanguageModel (benchmarks/sentence_vae.py): the VAE's decoder without z",
        "parameters": int(sum(int(np.prod(w.shape)) for w in lm.trainable_weights)),
        **measure_language_model(nll, test_ids),
        "test_nll_file": NLL_FILE,
        **facts,
        "recipe": os.path.relpath(args.recipe),
        "command": (
            "python benchmarks/sentence_vae.py "
            + (f"--preset {args.preset} --out {run_dir}" if args.preset else f"--run {run_dir}")
            + f" --recipe {os.path.relpath(args.recipe)}"
        ),
        "machine": _machine(),
    }
    print(json.dumps(results, indent=2))
    with open(os.path.join(run_dir, "language_model.json"), "w") as f:
        json.dump(results, f, indent=2)
    lm.save_weights(os.path.join(run_dir, "language_model.weights.h5"))  # for later per-sentence comparisons

    sentences = kinds.preset_extras_data({"dataset": config["dataset"]}, vae)
    print("\nReconstructions (greedy, from the posterior mean):")
    for sentence, reconstruction in zip(sentences[:5], vae.reconstruct_sentences(sentences[:5])):
        print(f"- in:  {sentence}\n  out: {reconstruction}")
    a, b = sentences[5], sentences[6]
    print(f'\nInterpolation (5 steps) from "{a}" to "{b}":')
    for sentence in vae.interpolate(a, b, steps=5):
        print(f"- {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

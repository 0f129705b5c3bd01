"""The sentence VAE, measured: held-out NLL, KL, perplexity and active units against an LSTM language model.

1. Trains `SequenceVAE` with its recipe (`training/recipes/lstm_wordnet_sentences.yaml`,
   the same as `vae-zoo train --config ...`), or loads a finished run (`--run`).
2. Trains an LSTM language model of the same size (embedding, LSTM units,
   vocabulary) without z, with the same budget: optimizer, learning rate,
   batch size, number of steps, the same shuffled training stream.
3. On the first `--test-sentences` held-out test sentences reports, per
   sentence: the VAE's importance-weighted NLL (`--num-samples` samples), its
   -ELBO and KL, active units (Cov_x E_q[z_d] > 0.01), perplexity per token
   ([EOS] included), and the language model's exact NLL and perplexity.
4. Prints 5 reconstructions and a 5-step interpolation (greedy decoding).

    python benchmarks/sentence_vae.py                  # trains both (about 15 min on 2 cores)
    python benchmarks/sentence_vae.py --run runs/lstm_wordnet_sentences
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vae_zoo import datasets, evaluation, text  # noqa: E402
from vae_zoo.presets import load_model  # noqa: E402
from vae_zoo.training import config as config_lib  # noqa: E402
from vae_zoo.training.run import train  # noqa: E402

RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training", "recipes", "lstm_wordnet_sentences.yaml")


class LanguageModel(keras.Model):
    """An LSTM language model: the SequenceVAE's decoder without z."""

    def __init__(self, vocab_size, embedding_dim, hidden_units, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.lstm = keras.layers.LSTM(hidden_units, return_sequences=True)
        self.head = keras.layers.Dense(vocab_size)
        self.tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.tracker]

    def nll(self, ids):
        """-log p(x) per sentence, [PAD] left out, [EOS] included."""
        previous = tf.concat([tf.fill([tf.shape(ids)[0], 1], text.BOS), ids[:, :-1]], axis=1)
        logits = self.head(self.lstm(self.embedding(previous)))
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=logits)
        return tf.reduce_sum(tf.where(tf.equal(ids, text.PAD), 0.0, per_token), axis=1)

    def train_step(self, ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self.nll(ids))
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=None, help="a finished run directory (skips VAE training)")
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--out", default="runs/lstm_wordnet_sentences")
    parser.add_argument("--test-sentences", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args()
    config = config_lib.resolve(args.recipe, {"out": args.run or args.out, "verbose": 2, "tensorboard": False})
    start = time.time()
    if args.run is None:
        train(config)
    vae_seconds = time.time() - start
    model = load_model(config["out"])

    # The language model: same vocabulary, sizes, optimizer, steps and data stream.
    keras.utils.set_random_seed(config["seed"])
    train_ids = model.tokenize(datasets.load_sentences(config["dataset"], "train")).numpy()
    stream = (
        tf.data.Dataset.from_tensor_slices(train_ids)
        .shuffle(len(train_ids), seed=config["seed"], reshuffle_each_iteration=True)
        .batch(config["batch_size"], drop_remainder=True)
        .take(config["steps_per_epoch"])
    )
    kwargs = config["model_kwargs"]
    lm = LanguageModel(model.vocab_size, kwargs["embedding_dim"], kwargs["hidden_units"])
    lm.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]), steps_per_execution=32)
    start = time.time()
    lm.fit(stream, epochs=config["epochs"], verbose=2)
    lm_seconds = time.time() - start

    test_sentences = datasets.load_sentences(config["dataset"], "test")[: args.test_sentences]
    test_ids = model.tokenize(test_sentences).numpy()
    report = evaluation.evaluate_model(model, test_ids, num_samples=args.num_samples, batch_size=50, mi_examples=1000)
    lm_nll = np.concatenate([lm.nll(tf.constant(test_ids[i : i + 200])).numpy() for i in range(0, len(test_ids), 200)])
    tokens = report["tokens"]
    results = {
        "test_sentences": len(test_ids),
        "tokens_per_sentence": tokens / len(test_ids),
        "vae_nll": report["negative_log_likelihood"],
        "vae_negative_elbo": report["negative_elbo"],
        "vae_kl": report["kl"],
        "vae_active_units": report["active_units"],
        "vae_mutual_information": report["mutual_information"],
        "vae_perplexity": report["perplexity"],
        "lm_nll": float(lm_nll.mean()),
        "lm_perplexity": float(np.exp(lm_nll.sum() / tokens)),
        "num_samples": args.num_samples,
        "vae_train_seconds": round(vae_seconds, 1),
        "lm_train_seconds": round(lm_seconds, 1),
        "steps": config["epochs"] * config["steps_per_epoch"],
        "batch_size": config["batch_size"],
    }
    print(json.dumps(results, indent=2))
    print("\n| model | NLL (nats/sentence) | KL | active units | perplexity |\n|---|---|---|---|---|")
    print(f"| SequenceVAE (IWAE, k={args.num_samples}) | {results['vae_nll']:.2f} | {results['vae_kl']:.2f} | "
          f"{results['vae_active_units']} / {model.latent_dim} | {results['vae_perplexity']:.1f} |")
    print(f"| LSTM language model | {results['lm_nll']:.2f} | - | - | {results['lm_perplexity']:.1f} |")
    print("\nReconstructions (greedy, from the posterior mean):")
    for sentence, reconstruction in zip(test_sentences[:5], model.reconstruct_sentences(test_sentences[:5])):
        print(f"- in:  {sentence}\n  out: {reconstruction}")
    a, b = test_sentences[5], test_sentences[6]
    print(f"\nInterpolation (5 steps) from \"{a}\" to \"{b}\":")
    for sentence in model.interpolate(a, b, steps=5):
        print(f"- {sentence}")
    with open(os.path.join(config["out"], "sentence_benchmark.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

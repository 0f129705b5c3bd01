"""Two probes of a trained sentence model (a run's `model.keras`), behind the sentence defaults
(benchmarks/README.md, "Sentence training speed"):

* `softmax`: the sampled softmax's error: over N validation sentences at their posterior means,
  log p(sentence | z) by the training estimate (`sampled_log_softmax`, the model's candidate
  scheme, D candidate draws) minus the exact log-softmax: mean and standard deviation over draws.
* `batchnorm`: for a batch-normalized posterior (BN-VAE), the variance of each latent mean within
  batches of like length (as `--length-pool` makes them) over its variance across all sentences,
  and the layer's moving variance over the latter: how much a batch of one length normalizes away.

    python benchmarks/sentence_probes.py softmax RUN/model.keras [--sentences 256 --draws 8]
    python benchmarks/sentence_probes.py batchnorm RUN/model.keras [--sentences 3000]
"""

import argparse
import math

import keras
import numpy as np
import tensorflow as tf

import vae_zoo  # noqa: F401  (registers the model classes)
from vae_zoo import datasets, text
from vae_zoo.models.sampled_softmax import log_uniform_candidates, sampled_log_softmax


def softmax_error(model, sentences, draws):
    x = model.prepare_inputs(sentences)
    z = model.encode(x).mean()
    hidden, targets = model._decoder_hidden(z, x, training=False)
    kernel, bias = model.decoder_output.kernel, model.decoder_output.bias
    banned = (text.PAD, text.BOS)
    logits = tf.einsum("nth,hv->ntv", hidden, kernel) + bias
    mask = np.zeros(model.vocab_size, bool)
    mask[list(banned)] = True
    exact = tf.gather(tf.nn.log_softmax(tf.where(mask, -math.inf, logits)), targets, batch_dims=2)
    pad = tf.equal(targets, text.PAD)
    exact = tf.reduce_sum(tf.where(pad, 0.0, exact), -1).numpy()
    estimates = []
    for draw in range(draws):
        candidates, log_expected = log_uniform_candidates(
            model.sampled_softmax or 1024, model.vocab_size, tf.constant([draw, 7]), banned
        )
        per_position = sampled_log_softmax(hidden, kernel, bias, targets, candidates, log_expected, banned)
        estimates.append(tf.reduce_sum(tf.where(pad, 0.0, per_position), -1).numpy())
    estimates = np.stack(estimates)
    print(
        f"sampled minus exact log p(sentence | z): mean {np.mean(estimates - exact[None]):+.3f} nats, "
        f"standard deviation over draws {estimates.std(0).mean():.3f}; exact -log p mean {-exact.mean():.2f}"
    )


def batchnorm_statistics(model, sentences, batch_size=128):
    posterior = model.posterior
    if getattr(posterior, "batch_norm_scale", None) is None:
        raise SystemExit("this model's posterior does not batch-normalize its means")
    x = model.prepare_inputs(sentences)
    loc, _ = tf.split(posterior.projection(model.encoder_network(x, training=False)), 2, axis=-1)
    loc = loc.numpy()
    overall = loc.var(0)
    lengths = (x.numpy() != text.PAD).sum(1)
    groups = np.array_split(np.argsort(lengths, kind="stable"), max(1, len(lengths) // batch_size))
    ratio = np.mean([loc[g].var(0) for g in groups], 0) / overall
    moving = posterior.mean_norm.moving_variance.numpy() / overall
    print(
        f"within-length-batch / overall variance: min {ratio.min():.3f} q10 {np.quantile(ratio, 0.1):.3f} "
        f"median {np.median(ratio):.3f}; moving / overall, 5 lowest: {np.round(np.sort(moving)[:5], 3)}"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("probe", choices=["softmax", "batchnorm"])
    parser.add_argument("model")
    parser.add_argument("--dataset", default="wordnet_sentences")
    parser.add_argument("--sentences", type=int, default=None)
    parser.add_argument("--draws", type=int, default=8)
    args = parser.parse_args()
    model = keras.saving.load_model(args.model, compile=False)
    sentences = datasets.load_sentences(args.dataset, split="validation")
    if args.probe == "softmax":
        softmax_error(model, sentences[: args.sentences or 256], args.draws)
    else:
        batchnorm_statistics(model, sentences[: args.sentences or 3000])


if __name__ == "__main__":
    main()

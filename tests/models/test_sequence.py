"""SequenceVAE on sentences: the codec, training, the BN-VAE posterior, teacher forcing, decoding in the
graph and decode()'s distribution, the text API, bad input, the .keras round trip and the string export.

Its training options (mixed precision, word dropout) are in test_sequence_training.py, the real-valued
variant in test_sequence_series.py and the command line in test_sequence_commands.py.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import vae_zoo
from vae_zoo import datasets, text
from vae_zoo.models import SequenceVAE
from vae_zoo.text import TextCodec
from family_testing import run_family_test

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def trained(corpus):
    keras.utils.set_random_seed(0)
    codec = TextCodec.from_corpus(corpus, max_length=16, max_tokens=1500)
    model = SequenceVAE(
        vocabulary=codec.vocabulary,
        max_length=16,
        embedding_dim=32,
        hidden_units=64,
        latent_dim=8,
        word_dropout=0.3,
        free_bits=0.25,
        seed=0,
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    ids = model.tokenize(corpus).numpy()
    history = model.fit(ids, batch_size=64, epochs=4, verbose=0).history
    return model, history


def test_sequence_family(tmp_path, corpus):
    codec = TextCodec.from_corpus(corpus[:300], max_length=8, max_tokens=200)
    kwargs = dict(
        vocabulary=codec.vocabulary, max_length=8, embedding_dim=8, hidden_units=8, latent_dim=3, seed=0
    )
    run_family_test(SequenceVAE, kwargs, corpus[:6], tmp_path)


def test_codec_round_trip_and_special_tokens():
    codec = TextCodec.from_corpus(["The cat sat.", "the dog ran!"], max_length=6)
    assert codec.vocabulary == ["the", "!", ".", "cat", "dog", "ran", "sat"]  # by count, then alphabetical
    ids = codec.tokenize(["The cat ran!", "", "a b c d e f g h"]).numpy()
    assert ids.shape == (3, 6) and ids.dtype == np.int32
    assert ids[1].tolist() == [text.EOS, 0, 0, 0, 0, 0]  # empty: just [EOS]
    assert ids[2, -1] == text.EOS and (ids[2, :-1] == text.UNK).all()  # truncated to 5 tokens + [EOS]
    assert [s.decode() for s in codec.detokenize(ids).numpy()] == [
        "the cat ran !",
        "",
        "[UNK] [UNK] [UNK] [UNK] [UNK]",
    ]
    broken = codec.tokenize([b"the \xff\xfe cat"]).numpy()[0]  # invalid UTF-8: replaced, never a crash
    assert broken[0] == codec.tokenize(["the"]).numpy()[0, 0] and text.UNK in broken
    with pytest.raises(ValueError, match="must not contain the special tokens"):
        TextCodec(["[EOS]", "a"], max_length=4)


def test_training_lowers_the_loss_and_uses_the_code(trained):
    model, history = trained
    assert history["loss"][-1] < history["loss"][0] - 5
    assert history["kl"][-1] > 1.0  # free bits + word dropout keep the posterior from collapsing


def test_default_posterior_is_batch_normalized_in_training_and_fixed_after(trained, corpus):
    """The family's default (BN-VAE): fit normalizes the means with each batch's statistics (so the
    batch KL of every dimension is >= gamma^2 / 2, tests/distributions/test_posteriors.py) and moves
    the moving statistics; encode uses the moving ones, so a row's posterior does not depend on its
    batch. A plain posterior is one argument away."""
    model, _ = trained
    head = model.posterior
    norm = head.mean_norm
    assert head.batch_norm_scale == 0.6
    assert (
        np.abs(norm.moving_mean.numpy()).max() > 1e-3 and np.abs(norm.moving_variance.numpy() - 1).max() > 0.5
    )
    held_out = model.tokenize(datasets.wordnet_sentences("test")[:200])
    raw = head.projection(model.encoder_network(held_out))[:, : model.latent_dim].numpy()
    expected = (
        0.6 * (raw - norm.moving_mean.numpy()) / np.sqrt(norm.moving_variance.numpy() + 1e-12)
        + head.shift.numpy()
    )
    mean = model.encode(held_out).mean().numpy()
    np.testing.assert_allclose(mean, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.encode(held_out[:1]).mean().numpy(), mean[:1], rtol=1e-5, atol=1e-6)
    plain = SequenceVAE(
        vocab_size=50, max_length=6, embedding_dim=4, hidden_units=4, latent_dim=2, posterior="diagonal"
    )
    assert plain.posterior.batch_norm_scale is None


def test_teacher_forcing_masks_padding(trained, corpus):
    model, _ = trained
    x = model.tokenize(corpus[:4])
    terms = model.compute_terms(x, tf.constant([1, 2]), num_samples=1)
    params = model._likelihood_params(model.encode(x).mean(), targets=x)
    per_position = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=x, logits=params["logits"])
    manual = tf.reduce_sum(tf.where(x == text.PAD, 0.0, per_position), axis=1)
    assert terms["log_px_z"].shape == (1, 4)
    np.testing.assert_allclose(model.likelihood.log_prob(params, x).numpy(), manual.numpy(), rtol=1e-5)
    # changing only the padding's logits changes nothing
    shifted = dict(
        params,
        logits=params["logits"]
        + 5.0 * tf.cast(x == text.PAD, tf.float32)[..., None] * tf.one_hot(7, model.vocab_size),
    )
    np.testing.assert_allclose(model.likelihood.log_prob(shifted, x).numpy(), manual.numpy(), rtol=1e-5)


def test_decoding_in_the_graph(trained):
    model, _ = trained
    z = tf.random.stateless_normal([5, model.latent_dim], [1, 1])
    greedy = model.generate_ids(z).numpy()
    assert greedy.shape == (5, 16)
    np.testing.assert_array_equal(greedy, model.generate_ids(z).numpy())  # greedy is deterministic
    for row in greedy:
        if text.EOS in row:  # after [EOS] only [PAD]
            assert (row[list(row).index(text.EOS) + 1 :] == text.PAD).all()
        assert text.BOS not in row
    hot = model.generate_ids(z, temperature=1.5, seed=3).numpy()
    np.testing.assert_array_equal(hot, model.generate_ids(z, temperature=1.5, seed=3).numpy())
    assert not np.array_equal(hot, model.generate_ids(z, temperature=1.5, seed=4).numpy())
    # row i uses row seed 3 + i: the rows of seed 4 are those of seed 3 shifted by one
    np.testing.assert_array_equal(model.generate_ids(z[1:], temperature=1.5, seed=4).numpy(), hot[1:])
    graph = tf.function(lambda z: model.generate_ids(z, 0.0))  # a tf.while_loop, traceable
    np.testing.assert_array_equal(graph(z).numpy(), greedy)


def test_decode_is_the_likelihood_of_whole_sentences(trained, corpus):
    """decode(z): log_prob(x) is the teacher-forced likelihood of x (the ELBO's term), sample() is
    ancestral, mode() is greedy decoding."""
    model, _ = trained
    x = model.tokenize(corpus[:6])
    seed = tf.constant([5, 6])
    terms = model.compute_terms(x, seed, num_samples=2)
    q = model.encode(x)
    z = q.mean() + q.stddev() * tf.random.stateless_normal([2, 6, model.latent_dim], seed)  # the ELBO's own z
    p = model.decode(z)
    assert p.batch_shape == [2, 6] and p.event_shape == [16] and p.dtype == tf.int32
    np.testing.assert_allclose(p.log_prob(x).numpy(), terms["log_px_z"].numpy(), rtol=1e-5)
    # it scores the sentence it is given: another sentence gets another likelihood
    other = model.tokenize(corpus[6:12])
    assert np.abs(p.log_prob(other).numpy() - p.log_prob(x).numpy()).min() > 1.0
    one = model.decode(z[0])
    np.testing.assert_array_equal(one.mode().numpy(), model.generate_ids(z[0]).numpy())
    draws = one.sample(3, seed=(7, 8)).numpy()
    assert draws.shape == (3, 6, 16)
    np.testing.assert_array_equal(draws, one.sample(3, seed=(7, 8)).numpy())
    assert not np.array_equal(draws, one.sample(3, seed=(7, 9)).numpy())
    assert not (np.isin(draws, [text.BOS]).any())


def test_ancestral_samples_follow_log_prob():
    """On a 3-word vocabulary and 2 positions every sentence can be enumerated: the frequencies of
    `decode(z).sample()` match `exp(decode(z).log_prob(...))`, which sums to one over sentences."""
    codec = TextCodec.from_corpus(["a b", "b c", "c a"], max_length=3)
    model = SequenceVAE(
        vocabulary=codec.vocabulary, max_length=3, embedding_dim=4, hidden_units=8, latent_dim=2, seed=0
    )
    words = [i for i in range(model.vocab_size) if i not in (text.PAD, text.BOS, text.EOS)]
    sentences = [[text.EOS, text.PAD, text.PAD]]
    sentences += [[w, text.EOS, text.PAD] for w in words]
    sentences += [[w, v, text.EOS] for w in words for v in words]
    sentences += [[w, v, u] for w in words for v in words for u in words if u != text.EOS]  # truncated
    sentences = np.array(sentences, "int32")
    p = model.decode(tf.constant([[0.3, -0.7]]))
    probs = np.exp(p.log_prob(sentences).numpy())  # batch [1] broadcast against the sentences: [M]
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    draws = p.sample(4000, seed=(1, 2)).numpy()[:, 0]
    index = {tuple(row): i for i, row in enumerate(sentences.tolist())}
    counts = np.bincount([index[tuple(row)] for row in draws.tolist()], minlength=len(sentences))
    np.testing.assert_allclose(counts / 4000, probs, atol=0.03)


def test_token_models_refuse_the_vamp_prior():
    codec = TextCodec.from_corpus(["a b", "b c"], max_length=4)
    for prior in ("vamp", {"name": "vamp", "num_components": 5}):
        with pytest.raises(
            ValueError, match="prior='vamp' needs continuous pseudo-inputs, but a token SequenceVAE"
        ):
            SequenceVAE(
                vocabulary=codec.vocabulary,
                max_length=4,
                embedding_dim=4,
                hidden_units=4,
                latent_dim=2,
                prior=prior,
            )


def test_text_api(trained, corpus):
    model, _ = trained
    assert len(model.sample_sentences(4, seed=1, temperature=0.8)) == 4
    assert model.sample_sentences(3, seed=2) == model.sample_sentences(3, seed=2)
    path = model.interpolate(corpus[0], corpus[1], steps=5)
    assert len(path) == 5 and all(isinstance(s, str) for s in path)
    assert len(model.reconstruct_sentences(corpus[:3])) == 3
    assert model.elbo(corpus[:3], seed=1).shape == (3,)
    assert (
        model.log_likelihood(corpus[:3], num_samples=10, seed=1).numpy()
        >= model.elbo(corpus[:3], num_samples=10, seed=1).numpy() - 1.0
    ).all()


def test_bad_input_has_defined_behaviour(trained):
    model, _ = trained
    odd = ["", "word " * 100, "zzqx plorf wibble", b"\xff\xfe\xfd broken", "UPPER CASE."]
    ids = model.tokenize(odd).numpy()
    assert ids.shape == (5, 16) and (ids[:, -1] != text.PAD).sum() == 1  # only the long one fills all 16
    assert ids[0, 0] == text.EOS and ids[2, :3].tolist() == [text.UNK] * 3
    assert len(model.reconstruct_sentences(odd)) == 5
    assert np.isfinite(model.elbo(odd, seed=0).numpy()).all()
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, 16\), got \(2, 17\)"):
        model.encode(np.zeros((2, 17), "int32"))
    with pytest.raises(ValueError, match="expects integer token ids, got dtype float32"):
        model.encode(np.zeros((2, 16), "float32"))


def test_keras_round_trip(trained, tmp_path, corpus):
    model, _ = trained
    model.save(tmp_path / "seq.keras")
    restored = keras.models.load_model(tmp_path / "seq.keras")
    assert restored.codec.vocabulary == model.codec.vocabulary
    np.testing.assert_array_equal(
        restored.encode(corpus[:5]).mean().numpy(), model.encode(corpus[:5]).mean().numpy()
    )
    assert restored.sample_sentences(3, seed=7) == model.sample_sentences(3, seed=7)
    np.testing.assert_array_equal(
        restored.elbo(corpus[:5], seed=2).numpy(), model.elbo(corpus[:5], seed=2).numpy()
    )


RUNNER = r"""
import importlib.abc, json, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("vae_zoo", "tensorflow_probability"):
            raise ImportError(name + " is blocked")
sys.meta_path.insert(0, Blocker())
import tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
s = lambda v: [x.decode("utf-8") for x in v.numpy()]
sentences = tf.constant(["a general concept", "", "zzqx plorf", b"\xff\xfe broken", "word " * 100])
seeds, temperatures = tf.constant([1, 2, 3], tf.int64), tf.constant([1.0, 1.0, 1.0])
out = {
    "encode": {
        k: v.numpy().tolist() for k, v in m.signatures["encode"](sentences=sentences).items() if k != "error"
    },
    "encode_errors": s(m.signatures["encode"](sentences=sentences)["error"]),
    "decode": s(m.signatures["decode"](z=tf.zeros([2, %d]))["sentences"]),
    "sample": s(m.signatures["sample"](seed=seeds, temperature=temperatures)["sentences"]),
    "sample_again": s(m.signatures["sample"](seed=seeds, temperature=temperatures)["sentences"]),
    "reconstruct": s(m.signatures["reconstruct"](sentences=sentences)["sentences"]),
    "default": s(m.signatures["serving_default"](sentences=sentences)["sentences"]),
    "log_likelihood": m.signatures["log_likelihood"](
        sentences=sentences, seed=tf.constant([1, 2, 3, 4, 5], tf.int64)
    )["log_likelihood"].numpy().tolist(),
}
print(json.dumps(out))
"""


def test_string_signatures_without_vae_zoo(trained, tmp_path, corpus):
    model, _ = trained
    path = vae_zoo.export_saved_model(model, str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", RUNNER % model.latent_dim, path],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    sentences = ["a general concept", "", "zzqx plorf", b"\xff\xfe broken", "word " * 100]
    np.testing.assert_allclose(out["encode"]["mean"], model.encode(sentences).mean().numpy(), atol=1e-5)
    assert out["encode_errors"] == [""] * 5  # any string is a valid sentence (broken UTF-8 is replaced)
    assert out["reconstruct"] == model.reconstruct_sentences(sentences) == out["default"]
    assert (
        out["sample"] == out["sample_again"] == model.sample_sentences(3, seed=1) and len(out["sample"]) == 3
    )
    assert out["decode"] == model.generate(tf.zeros([2, model.latent_dim]))
    assert np.isfinite(out["log_likelihood"]).all() and len(out["log_likelihood"]) == 5
    meta = json.load(open(os.path.join(path, "assets.extra", "vae_zoo.json")))
    assert meta["input_dtype"] == "string" and meta["model_class"] == "SequenceVAE"
